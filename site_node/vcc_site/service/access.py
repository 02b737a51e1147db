"""Access use cases: a call is offered, runs the IVR, queues, rings, ends.

Validation happens before anything changes, so a bad request changes nothing. Each call
has its own lock so two requests for one call (digits racing a hang-up) run one after
the other; different calls never wait for each other.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace

from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_domain.ids import id_prefix, new_id
from vcc_domain.province import Text
from vcc_site.domain import ivr as ivr_engine
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service import handover
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import RemoteCustomers, area_code_of
from vcc_site.service.live import LiveCall
from vcc_site.service.selfservice import SelfService
from vcc_site.service.transfer import (
    ACCEPTED,
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    REFUSED,
    Handoff,
    TransferAnswer,
)
from vcc_site.store.api import CallRecord, UnitOfWork

log = logging.getLogger(__name__)

KEEP_TRANSFER_ANSWERS = 10_000  # transfer request IDs remembered for idempotency

NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
CODE = re.compile(r"^[0-9]{3,8}$")

PRIORITY_OF_TIER = {
    "vip": Priority.VIP,
    "high": Priority.HIGH,
    "middle": Priority.MIDDLE,
    "ordinary": Priority.ORDINARY,
    "blacklist": Priority.BLACKLIST,
}



def caller_home(core: SiteCore, number: str) -> str:
    """The site owning the number's area code ("" for a number from outside the province)."""
    codes = sorted({code for site in core.province.sites for code in site.area_codes})
    area = area_code_of(number, codes)
    if area is None:
        return ""
    try:
        return core.province.home_site(area).id
    except NotFound:
        return ""

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


class AccessService:
    def __init__(self, core: SiteCore, selfservice: SelfService,
                 remote: RemoteCustomers | None = None) -> None:
        self.core = core
        self.selfservice = selfservice
        self.remote = remote  # reads callers homed at other sites (None: local only)
        # one lock per live call; a lock nobody holds or waits on is dropped by itself
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())
        # transfers taken in, by request ID: a retried AcceptTransfer gets the first answer
        self._transfers_in: OrderedDict[str, asyncio.Future[TransferAnswer]] = OrderedDict()
        # fault injection for drills and tests: hold the answer to AcceptTransfer this
        # long AFTER the call was queued here (a site killed in that window must not
        # leave the call owned twice); set from FaultSettings by the composition root
        self.answer_delay_s = 0.0

    def _lock(self, call_id: str) -> asyncio.Lock:
        lock = self._locks.get(call_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[call_id] = lock
        return lock

    # -- use cases ----------------------------------------------------------------------

    async def offer_call(
        self,
        caller_number: str,
        dialed_code: str,
        entry_site: str = "",
        call_id: str = "",
        original_arrival_ms: int = 0,
    ) -> StepView:
        core = self.core
        caller = caller_number.strip()
        if not NUMBER.match(caller):
            raise InvalidInput("must be 3-20 digits, optionally with a leading +",
                               field="caller_number")
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
        if original_arrival_ms and not 0 < original_arrival_ms <= now + 60_000:
            raise InvalidInput("must be in the past", field="original_arrival_at_ms")
        business = core.province.business_for_code(dialed_code)
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
            call_id=call_id, site_id=core.site_id, entry_site=entry,
            caller_number=caller, dialed_code=dialed_code, business_id=business.id,
            customer=customer, tier=tier, priority=PRIORITY_OF_TIER[tier].name.lower(),
            arrival_at_ms=original_arrival_ms or now,
            customer_source=source, customer_as_of_ms=as_of,
            caller_home=caller_home(core, caller),
        )
        session, step = ivr_engine.start_ivr(
            business, caller_identified=customer is not None,
            caller_account=customer.account_no if customer else None)
        call.ivr = session
        core.calls[call.call_id] = call
        core.metrics.offered(business.id)
        async with self._lock(call.call_id):
            uow.emit(call.event("call.arrived", now, dialed_code=dialed_code))
            return await self._advance(call, step, uow)

    async def _require_live(self, call_id: str) -> None:
        if call_id in self.core.calls:
            return
        record = await self.core.store.call(call_id)
        if record is None:
            raise NotFound(f"unknown call {call_id!r}", field="call_id")
        raise Conflict(f"call {call_id!r} has already ended ({record.end_reason})",
                       field="call_id")

    async def send_digits(self, call_id: str, digits: str) -> StepView:
        async with self._lock(call_id):
            await self._require_live(call_id)  # it may have ended while we waited
            call = self.core.live_call(call_id)
            if call.state != "ivr" or call.ivr is None:
                raise Conflict(f"call {call_id!r} is not in the IVR (it is {call.state})",
                               field="call_id")
            step = ivr_engine.on_digits(call.ivr, digits)
            return await self._advance(call, step, UnitOfWork())

    async def hang_up(self, call_id: str) -> CallRecord:
        core = self.core
        async with self._lock(call_id):
            live = core.calls.get(call_id)
            settled = live.transfer_settled if live is not None else None
            if settled is not None:  # a transfer to another site decides who ends the call
                await settled.wait()
            await self._require_live(call_id)
            call = core.live_call(call_id)
            uow = UnitOfWork()
            if call.state == "ivr":
                core.end_in_ivr(call, "caller_hangup", "ivr_hangup", uow)
            else:
                core.apply(core.acd.hang_up(call.acd_key), uow)
            record = call.record(core.now_ms())
            handover.cancel_consult(core, call, "")  # a consult leg elsewhere ends with the call
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

    # -- calls transferred in from other sites ----------------------------------------

    async def accept_transfer(self, handoff: Handoff, deadline_ms: int = 0) -> TransferAnswer:
        """Take over a call from another site (``Remote.AcceptTransfer``).

        Refused (an answer, not an error) when the business is unknown or not served
        here, no logged-in agent here can serve the skill, the call is already known
        here, or the broker's deadline has passed. Otherwise the call gets a LiveCall
        with the SAME call ID, skips the IVR and enters the ACD at the transferred
        priority with its original arrival time, carrying its notes, IVR path, attached
        data and previous legs into the screen pop. Idempotent by request ID.
        """
        for field_name, value, prefix in (("context.call_id", handoff.call_id, "call"),
                                          ("context.new_leg_id", handoff.new_leg_id, "leg")):
            try:
                if id_prefix(value) != prefix:
                    raise ValueError(value)
            except ValueError as exc:
                raise InvalidInput(f"not a {prefix} id", field=field_name) from exc
        if not NUMBER.match(handoff.caller_number):
            raise InvalidInput("must be 3-20 digits", field="context.caller_number")
        key = handoff.request_id or f"{handoff.call_id}/{handoff.new_leg_id}"
        found = self._transfers_in.get(key)
        if found is None:
            found = asyncio.ensure_future(self._take_over(handoff, deadline_ms))
            self._transfers_in[key] = found
            while len(self._transfers_in) > KEEP_TRANSFER_ANSWERS:
                self._transfers_in.popitem(last=False)
        try:
            return await asyncio.shield(found)
        except BaseException:
            if found.done():  # a failure is not remembered: a retry may succeed
                self._transfers_in.pop(key, None)
            raise

    async def _take_over(self, handoff: Handoff, deadline_ms: int) -> TransferAnswer:
        core = self.core
        site = core.site_id

        def refuse(reason: str) -> TransferAnswer:
            log.info("transfer in of call %s from %s refused: %s", handoff.call_id,
                     handoff.from_site, reason)
            return TransferAnswer(REFUSED, handoff.call_id, site, reason=reason)

        try:
            business = core.province.business(handoff.business_id)
        except NotFound:
            return refuse(f"business {handoff.business_id!r} is not known at site {site}")
        if not business.accepts(site) and not handoff.target_agent:  # a named agent serves it
            return refuse(f"business {business.id!r} is not served at site {site}")
        skill = handoff.target_skill or business.skill
        if skill not in {s.id for s in core.province.skills}:
            return refuse(f"skill {skill!r} is not known at site {site}")
        staff = core.acd.queue_figures(skill)
        if not handoff.target_agent and staff.agents_ready + staff.agents_busy \
                + staff.agents_ringing + staff.agents_not_ready + staff.agents_wrap_up == 0:
            return refuse(f"no agent who can serve skill {skill!r} is logged in at site {site}")
        known = await core.store.call(handoff.call_id)
        if known is not None and known.state == "ended" and known.attached.get("consult_for"):
            known = None  # only an earlier consult leg served here: no CDR, may come again
        if handoff.call_id in core.calls or known is not None:
            return refuse(f"call {handoff.call_id} is already known at site {site}")
        if handoff.target_agent:  # a named agent: reserved if ready, else refused
            why = handover.named_agent_refusal(core, handoff.target_agent)
            if why:
                return refuse(why)
        now = core.now_ms()
        if deadline_ms and now > deadline_ms:
            return refuse("the broker's deadline passed before the call could be queued")
        customer = handoff.customer
        if customer is not None and not customer.phone:
            customer = replace(customer, phone=handoff.caller_number)
        legs = list(handoff.legs)
        # an overflow keeps the caller's own class (and, like a transfer, the original
        # arrival): it is ranked among this site's callers by when it first arrived
        overflow = handoff.kind == "overflow"
        klass = PRIORITY_OF_TIER.get(handoff.priority, Priority.ORDINARY) if overflow \
            else Priority.TRANSFERRED
        call = LiveCall(
            call_id=handoff.call_id, site_id=site,
            entry_site=legs[0].site_id if legs else handoff.from_site,
            caller_number=handoff.caller_number, dialed_code=handoff.dialed_code,
            business_id=business.id, customer=customer, tier=handoff.tier,
            priority=klass.name.lower(),
            arrival_at_ms=handoff.original_arrival_ms or now, state="queued",
            ivr_path=list(handoff.ivr_path), transferred=not overflow, overflowed=overflow,
            attached=dict(handoff.attached), notes=list(handoff.notes),
            next_leg_id=handoff.new_leg_id, prior_legs=legs,
            customer_source=handoff.customer_source if customer is not None else "",
            customer_as_of_ms=handoff.customer_as_of_ms,
            caller_home=caller_home(core, handoff.caller_number))
        call.acd_key = f"{call.call_id}/{len(legs) + 1}"
        if handoff.kind == "consult":  # a consult leg: the call stays at its owner
            call.consult_for, call.consult_leg_id = handoff.from_site, handoff.new_leg_id
            call.consult_agent = handoff.from_agent
            call.attached["consult_for"] = handoff.from_site
        else:  # taken over: on a restart, ask this site whether it kept the call
            call.attached["transferred_from_site"] = handoff.from_site
        core.calls[call.call_id] = call
        uow = UnitOfWork().emit(call.event(
            "call.transferred_in", now, from_site=handoff.from_site,
            from_agent=handoff.from_agent, request_id=handoff.request_id,
            leg_id=handoff.new_leg_id))
        try:
            decision = core.enter_acd(call, business, klass, skill, handoff.target_agent)
        except Exception:
            del core.calls[call.call_id]
            raise
        core.apply(decision, uow)
        await core.submit(uow)
        if self.answer_delay_s:  # fault injection (drills and tests): answer late
            await asyncio.sleep(self.answer_delay_s)
        log.info("transfer in of call %s from %s accepted (%s)", call.call_id,
                 handoff.from_site, type(decision).__name__)
        if isinstance(decision, Assignment):
            return TransferAnswer(ACCEPTED, call.call_id, site, handoff.new_leg_id,
                                  agent_id=decision.agent_id)
        position = decision.waiting if isinstance(decision, Queued) else 0
        return TransferAnswer(ACCEPTED, call.call_id, site, handoff.new_leg_id,
                              queue_position=position)

    # -- consult legs served here for calls owned elsewhere ---------------------------

    async def conclude_consult(self, call_id: str, leg_id: str, mode: str,
                               owner_site: str) -> TransferAnswer:
        """The owning site ends a consult leg served here (``Remote.ConcludeConsult``).

        cancel: the leg ends (no CDR here; an agent on it goes to wrap-up). transfer: the
        entry BECOMES the call, owned here from now on (exactly like an accepted
        transfer: its final CDR will be written here). conference: the leg stays, marked
        so; refused unless the consulted agent has answered. Idempotent: a repeated
        cancel of a gone leg, or a repeated transfer, gets ACCEPTED again.
        """
        core = self.core
        site = core.site_id

        def answer(outcome: str, reason: str = "", call: LiveCall | None = None) -> TransferAnswer:
            agent = call.agent_id if call is not None else ""
            return TransferAnswer(outcome, call_id, site, leg_id, agent_id=agent, reason=reason)

        async with self._lock(call_id):
            call = core.calls.get(call_id)
            if call is None or call.consult_leg_id != leg_id or (
                    owner_site and call.consult_for not in ("", owner_site)):
                if mode == CANCEL:
                    return answer(ACCEPTED, "the consult leg has already ended")
                return answer(REFUSED, f"no consult leg {leg_id} of call {call_id} at site {site}")
            if not call.consult_for:  # already transferred here
                if mode == COMPLETE_TRANSFER:
                    return answer(ACCEPTED, call=call)
                return answer(REFUSED, f"call {call_id} is owned by site {site} now")
            uow = UnitOfWork()
            now = core.now_ms()
            if mode == CANCEL:
                handover.end_consult_leg(core, call, uow)
                await core.submit(uow)
                return answer(ACCEPTED)
            if mode == CONFERENCE:
                if call.state not in ("connected", "held"):
                    return answer(REFUSED, "the consulted agent has not answered yet", call)
                call.consult_mode = CONFERENCE
                uow.add(call.record(now)).emit(call.event("call.conferenced", now))
                await core.submit(uow)
                return answer(ACCEPTED, call=call)
            if mode != COMPLETE_TRANSFER:
                raise InvalidInput("choose transfer, conference or cancel", field="mode")
            owner, call.consult_for, call.consult_mode = call.consult_for, "", ""
            call.attached.pop("consult_for", None)
            call.attached["transferred_from_site"] = owner
            uow.add(call.record(now))
            if call.leg is not None:
                uow.add(call.leg)
            uow.emit(call.event("call.transferred_in", now, from_site=owner,
                                from_agent=call.consult_agent, leg_id=leg_id,
                                via="consultation"))
            await core.submit(uow)
            log.info("consult leg %s of call %s became the call here (from %s)", leg_id,
                     call_id, owner)
            return answer(ACCEPTED, call=call)

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
            return StepView(call.call_id, tuple(prompts), call.ivr.node_id if call.ivr else "",
                            "collect", collect=action)
        if isinstance(action, ivr_engine.End):
            core.end_in_ivr(call, action.reason, "self_service", uow)
            await core.submit(uow)
            return StepView(call.call_id, tuple(prompts), "", "ended", end_reason=action.reason)
        return await self._queue(call, action.business_id or call.business_id, prompts, uow)

    async def _queue(self, call: LiveCall, business_id: str, prompts: list[Text],
                     uow: UnitOfWork) -> StepView:
        core = self.core
        business = core.business(business_id)
        call.business_id = business.id
        call.ivr = None
        decision = core.enter_acd(call, business, Priority[call.priority.upper()])
        core.apply(decision, uow)
        await core.submit(uow)
        if isinstance(decision, Assignment):
            leg = call.leg.leg_id if call.leg else ""
            return StepView(call.call_id, tuple(prompts), "", "connected", business_id=business.id,
                            agent_id=decision.agent_id, leg_id=leg)
        assert isinstance(decision, Queued)
        return StepView(call.call_id, tuple(prompts), "", "queued", business_id=business.id,
                        position=decision.waiting, expected_wait_ms=int(decision.ewt_s * 1000))

    def _record_path(self, call: LiveCall) -> None:
        if call.ivr is None:
            return
        known = len(call.ivr_path)
        for label in call.ivr.path[known:]:
            node, _, digits = label.partition(":")
            call.ivr_path.append((node, digits, self.core.now_ms()))
