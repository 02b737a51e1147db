"""Access use cases: a call is offered, runs the IVR, queues, rings, ends.

Validation happens before anything changes, so a bad request changes nothing. Each call
has its own lock so two requests for one call (digits racing a hang-up) run one after
the other; different calls never wait for each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vcc_domain.assignment import placement
from vcc_domain.errors import Conflict, InvalidInput, NotFound, ResourceExhausted
from vcc_domain.ids import id_prefix, new_id
from vcc_domain.province import Business, Text
from vcc_domain.satisfaction import PROMPT, REPROMPTED, SurveyStep
from vcc_site.domain import admission
from vcc_site.domain import ivr as ivr_engine
from vcc_site.domain.call import CallState
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service import surveys
from vcc_site.service.callers import CODE, NUMBER, PRIORITY_OF_TIER, caller_home
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import RemoteCustomers
from vcc_site.service.live import LiveCall
from vcc_site.service.moves import CallMoves
from vcc_site.service.moves.assigned import NOT_SERVED_PROMPT
from vcc_site.service.selfservice import SelfService
from vcc_site.service.surveys import Surveys
from vcc_site.store.api import CallRecord, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StepView:
    """What the access edge must do next for a call."""

    call_id: str
    prompts: tuple[Text, ...]
    node_id: str
    kind: str  # collect | queued | connected | ended
    collect: ivr_engine.Collect | None = None
    business_id: str = ""
    position: int = 0
    expected_wait_ms: int = 0
    agent_id: str = ""
    leg_id: str = ""
    end_reason: str = ""
    site_id: str = ""  # the site whose queue or agent has the call ("" = this one)


def rating_step(call_id: str, step: SurveyStep) -> StepView:
    """The edge's next step in the rating: collect again after a reprompt, else end."""
    if step.outcome == REPROMPTED:
        return StepView(call_id, (step.prompt,), "rating", "collect", collect=surveys.COLLECT)
    return StepView(call_id, (step.prompt,), "rating", "ended", end_reason="agent_hangup")


def rating_offer(call_id: str) -> StepView:
    """The rating step offered when the agent hung up (see :mod:`vcc_site.service.surveys`)."""
    return StepView(call_id, (PROMPT,), "rating", "collect", collect=surveys.COLLECT)


class AccessService:
    def __init__(
        self,
        core: SiteCore,
        selfservice: SelfService,
        remote: RemoteCustomers | None = None,
        *,
        moves: CallMoves | None = None,
    ) -> None:
        self.core = core
        self.selfservice = selfservice
        self.remote = remote  # reads callers homed at other sites (None: local only)
        # a call's consult leg (here or at another site) ends with the call through it
        self.moves = moves or CallMoves(core)
        self.surveys: Surveys | None = None  # the caller's rating after the agent hangs up

    # -- use cases ----------------------------------------------------------------------

    async def offer_call(
        self,
        caller_number: str,
        dialed_code: str,
        entry_site: str = "",
        call_id: str = "",
        original_arrival_ms: int = 0,
        *,
        number_trusted: bool = True,
    ) -> StepView:
        """A new call. ``number_trusted``: the caller number comes from the access edge
        (a checked edge identity, or an unchecked port); otherwise it still finds the
        customer (tier, screen pop) but identifies nobody for self-service."""
        core = self.core
        caller = caller_number.strip()
        if not NUMBER.match(caller):
            raise InvalidInput(
                "must be 3-20 digits, optionally with a leading +", field="caller_number"
            )
        if not CODE.match(dialed_code):
            raise InvalidInput("must be 3-8 digits", field="dialed_code")
        entry = entry_site or core.site_id
        core.province.site(entry)  # NotFound for an unknown site
        if call_id:
            try:
                if id_prefix(call_id) != "call":
                    raise ValueError(call_id)
            except ValueError as exc:
                raise InvalidInput("not a call id", field="call_id") from exc
            if call_id in core.calls or await core.store.call(call_id) is not None:
                raise Conflict(f"call {call_id!r} is already known here", field="call_id")
        now = core.now_ms()
        self._check_arrival(original_arrival_ms, now)
        business = core.province.business_for_code(dialed_code)
        self._admit(business)
        call_id = call_id or new_id("call")
        customer = await core.store.customer_by_phone(caller)
        source, as_of, uow = "", 0, UnitOfWork()
        if customer is None and self.remote is not None:  # homed at another site?
            found = await self.remote.lookup(caller, call_id=call_id, uow=uow)
            if found is not None:
                customer, source, as_of = found.record, found.source, found.as_of_ms
            if call_id in core.calls:  # the same call offered twice while we looked
                raise Conflict(f"call {call_id!r} is already known here", field="call_id")
        tier = customer.tier if customer else "ordinary"
        call = LiveCall(
            call_id=call_id,
            site_id=core.site_id,
            entry_site=entry,
            caller_number=caller,
            dialed_code=dialed_code,
            business_id=business.id,
            customer=customer,
            tier=tier,
            priority=PRIORITY_OF_TIER[tier].name.lower(),
            arrival_at_ms=original_arrival_ms or now,
            customer_source=source,
            customer_as_of_ms=as_of,
            caller_home=caller_home(core, caller),
            entered_at_ms=now,
            number_trusted=number_trusted,
        )
        line = customer if number_trusted else None
        session, step = ivr_engine.start_ivr(
            business,
            caller_identified=line is not None,
            caller_account=line.account_no if line else None,
            pin_set=line is not None and line.pin_hash is not None,
        )
        call.ivr = session
        core.add_call(call)
        core.metrics.offered(business.id)
        async with self.core.call_lock(call.call_id):
            uow.emit(call.event("call.arrived", now, dialed_code=dialed_code))
            return await self._advance(call, step, uow)

    def _check_arrival(self, original_arrival_ms: int, now: int) -> None:
        """An original arrival before now claims the call waited elsewhere (it jumps the
        queue by it). Until requests carry who sent them, it is at least bounded by how
        long a call may wait before it moves; only a hub's move should bring one."""
        if not original_arrival_ms:
            return
        if not 0 < original_arrival_ms <= now + admission.CLOCK_SLACK_MS:
            raise InvalidInput("must be in the past", field="original_arrival_at_ms")
        if original_arrival_ms < admission.earliest_arrival_ms(now, self.core.province.routing):
            raise InvalidInput(
                "is earlier than a call can wait before it moves", field="original_arrival_at_ms"
            )

    def _admit(self, business: Business) -> None:
        """RESOURCE_EXHAUSTED when all trunks (or, for a call starting in the IVR, all
        IVR ports) of this site are in use; counted in ``vcc_site_calls_refused_total``."""
        core = self.core
        capacity = admission.Capacity.of(core.province.site(core.site_id))
        live = len(core.calls)
        enters_ivr = bool(business.ivr.root and business.ivr.nodes)
        in_ivr = 0
        if enters_ivr and capacity.ivr_ports is not None and live >= capacity.ivr_ports:
            in_ivr = sum(1 for c in core.calls.values() if c.life.state is CallState.IVR)
        refused = admission.refusal(capacity, live, in_ivr, enters_ivr)
        if refused is not None:
            core.metrics.refused(refused)
            limit = capacity.trunk_lines if refused == admission.TRUNKS else capacity.ivr_ports
            raise ResourceExhausted(
                f"all {limit} {refused.replace('_', ' ')} of site "
                f"{core.site_id} are in use; try again later",
                resource=refused,
            )

    async def enforce_limits(self) -> int:
        """End calls past the IVR or queue time limit (each with a reason and a CDR);
        returns how many ended."""
        core = self.core
        policy, now = core.province.routing, core.now_ms()
        overdue = [
            c.call_id
            for c in core.calls.values()
            if not c.consult_for
            and (
                (
                    c.life.state is CallState.IVR
                    and admission.ivr_overdue(c.entered_at_ms or c.arrival_at_ms, now, policy)
                )
                or (
                    c.life.state is CallState.QUEUED
                    and admission.queue_overdue(c.queued_at_ms, now, policy)
                )
            )
        ]
        ended = 0
        for call_id in overdue:
            async with core.call_lock(call_id):
                call = core.calls.get(call_id)
                if call is None:
                    continue
                uow, state = UnitOfWork(), call.life.state
                if state is CallState.IVR:
                    # the CDR's outcome is one the reports know: ended in the IVR
                    core.end_in_ivr(call, admission.IVR_TIMEOUT, "ivr_hangup", uow)
                elif state is CallState.QUEUED:
                    core.apply(core.acd.remove_call(call.acd_key, EndReason.QUEUE_TIMEOUT), uow)
                else:
                    continue
                core.metrics.timed_out(state.value)
                await core.submit(uow)
                ended += 1
        return ended

    async def _require_live(self, call_id: str) -> None:
        if call_id in self.core.calls:
            return
        record = await self.core.store.call(call_id)
        if record is None:
            raise NotFound(f"unknown call {call_id!r}", field="call_id")
        raise Conflict(f"call {call_id!r} has already ended ({record.end_reason})", field="call_id")

    async def send_digits(self, call_id: str, digits: str) -> StepView:
        if self.surveys is not None and self.surveys.pending(call_id) is not None:
            return rating_step(call_id, await self.surveys.press(call_id, digits))
        async with self.core.call_lock(call_id):
            await self._require_live(call_id)  # it may have ended while we waited
            call = self.core.live_call(call_id)
            if call.life.state is not CallState.IVR or call.ivr is None:
                raise Conflict(
                    f"call {call_id!r} is not in the IVR (it is {call.state})", field="call_id"
                )
            step = ivr_engine.on_digits(call.ivr, digits)
            return await self._advance(call, step, UnitOfWork())

    async def hang_up(self, call_id: str) -> CallRecord:
        core = self.core
        if self.surveys is not None and self.surveys.pending(call_id) is not None:
            self.surveys.drop(call_id)  # hung up on the rating: no rating
            return await self.get_call(call_id)
        async with self.core.call_lock(call_id):
            live = core.calls.get(call_id)
            settled = live.transfer_settled if live is not None else None
            if settled is not None:  # a transfer to another site decides who ends the call
                await settled.wait()
            await self._require_live(call_id)
            call = core.live_call(call_id)
            uow = UnitOfWork()
            core.hang_up(call, uow)
            record = call.record(core.now_ms())
            self.moves.cancel_consult(call, "")  # a consult leg elsewhere ends with the call
            await core.submit(uow)
        return record

    async def get_call(self, call_id: str) -> CallRecord:
        call = self.core.calls.get(call_id)
        if call is not None:
            return call.record(self.core.now_ms())
        record = await self.core.store.call(call_id)
        if record is None:
            raise NotFound(f"unknown call {call_id!r}", field="call_id")
        return record

    # -- driving the IVR ------------------------------------------------------------------

    async def _advance(self, call: LiveCall, step: ivr_engine.IvrStep, uow: UnitOfWork) -> StepView:
        """Run self-service steps, then hand the call to the ACD or end it."""
        prompts: list[Text] = list(step.prompts)
        while isinstance(step.action, ivr_engine.RunService):
            assert call.ivr is not None
            result = await self.selfservice.run(call, step.action)
            step = ivr_engine.on_service_result(call.ivr, result)
            prompts.extend(step.prompts)
        self._record_path(call)
        action = step.action
        core = self.core
        now = core.now_ms()
        if isinstance(action, ivr_engine.Collect):
            uow.add(call.record(now))
            await core.submit(uow)
            return StepView(
                call.call_id,
                tuple(prompts),
                call.ivr.node_id if call.ivr else "",
                "collect",
                collect=action,
            )
        if isinstance(action, ivr_engine.End):
            core.end_in_ivr(call, action.reason, "self_service", uow)
            await core.submit(uow)
            return StepView(call.call_id, tuple(prompts), "", "ended", end_reason=action.reason)
        return await self._queue(call, action.business_id or call.business_id, prompts, uow)

    async def _queue(
        self, call: LiveCall, business_id: str, prompts: list[Text], uow: UnitOfWork
    ) -> StepView:
        core = self.core
        business = core.business(business_id)
        call.business_id = business.id
        call.ivr = None
        where = placement(core.province, business.id, core.site_id)
        if not where.here:
            return await self._elsewhere(call, where.candidates, prompts, uow)
        decision = core.route(call, business, Priority[call.priority.upper()], uow)
        await core.submit(uow)
        if isinstance(decision, Assignment):
            leg = call.leg.leg_id if call.leg else ""
            return StepView(
                call.call_id,
                tuple(prompts),
                "",
                "connected",
                business_id=business.id,
                agent_id=decision.agent_id,
                leg_id=leg,
            )
        assert isinstance(decision, Queued)
        return StepView(
            call.call_id,
            tuple(prompts),
            "",
            "queued",
            business_id=business.id,
            position=decision.waiting,
            expected_wait_ms=int(decision.ewt_s * 1000),
        )

    async def _elsewhere(
        self, call: LiveCall, candidates: tuple[str, ...], prompts: list[Text], uow: UnitOfWork
    ) -> StepView:
        """This site does not accept the call's business: the nearest site that does and
        takes it serves it (same call ID, own class, original arrival); none: the caller
        is told and the call ends as ``not_accepted``."""
        core = self.core
        await core.submit(uow)  # the call's IVR steps so far, before it leaves
        uow = UnitOfWork()
        moved = await self.moves.serve_elsewhere(call, candidates, uow)
        await core.submit(uow)
        answer = moved.answer
        if answer is None:
            log.info(
                "call %s: no site accepting business %s took it (%s)",
                call.call_id,
                call.business_id,
                "; ".join(moved.refusals) or "no site accepts it",
            )
            return StepView(
                call.call_id,
                (*prompts, NOT_SERVED_PROMPT),
                "",
                "ended",
                business_id=call.business_id,
                end_reason=call.end_reason,
            )
        if answer.agent_id:
            return StepView(
                call.call_id,
                tuple(prompts),
                "",
                "connected",
                business_id=call.business_id,
                agent_id=answer.agent_id,
                leg_id=answer.leg_id,
                site_id=answer.site_id,
            )
        return StepView(
            call.call_id,
            tuple(prompts),
            "",
            "queued",
            business_id=call.business_id,
            position=answer.queue_position,
            site_id=answer.site_id,
        )

    def _record_path(self, call: LiveCall) -> None:
        if call.ivr is None:
            return
        known = len(call.ivr_path)
        for label in call.ivr.path[known:]:
            node, _, digits = label.partition(":")
            call.ivr_path.append((node, digits, self.core.now_ms()))
