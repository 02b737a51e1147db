"""One service owns a call moving between sites, on the receiving side and for questions.

The calls that other sites (through the hub's broker, or directly) ask this site about:

* ``accept_transfer``: take over a call transferred, overflowed or consulted to this site
  (``Remote.AcceptTransfer``), idempotent by request ID;
* ``conclude_consult``: end a consult leg served here for a call owned elsewhere, or make
  it the call itself (``Remote.ConcludeConsult``);
* ``leg_reported``: hear how a consult leg of a call owned here went elsewhere
  (``Remote.ReportLeg``);
* ``ownership``: say whether this site still owns a call it handed over or took over
  (``Remote.GetCallOwnership``);
* ``settle``: after a restart, ask the origins of the calls taken over before the stop
  who owns them (the takeover after a crash, :mod:`.ownership`).

It also sends calls away: ``handoff``/``handoff_of`` build what a call carries to
another site (a transfer, a consult leg, an overflow) and ``ask_hub`` asks the hub's
broker to have it taken there. The steps on the core when a call leaves or comes back
(transfer out, overflow out or back, consult legs) are :mod:`.handover`; the use cases
that start them are the desk's (:mod:`.desk_transfer`, :mod:`.desk_consult`) and the
overflow monitor's (:mod:`.overflow`). Requests about one call run under the core's
per-call lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace

from vcc_domain.errors import InvalidInput, NotFound, Unavailable, VccError
from vcc_domain.ids import id_prefix, new_id
from vcc_site.domain.call import CallLife
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service import handover
from vcc_site.service.access import NUMBER, PRIORITY_OF_TIER, caller_home
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.service.ownership import ownership_of, start_settling
from vcc_site.service.transfer import (
    ACCEPTED,
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    REFUSED,
    TIMEOUT,
    Handoff,
    Ownership,
    RemoteTransfer,
    TransferAnswer,
)
from vcc_site.store.api import CallRecord, UnitOfWork

log = logging.getLogger(__name__)

KEEP_TRANSFER_ANSWERS = 10_000  # transfer request IDs remembered for idempotency


def handoff_of(call: LiveCall, from_site: str, to_site: str, *, kind: str,
               business_id: str = "", from_agent: str = "", note: str = "",
               target_skill: str = "", target_agent: str = "", priority: str = "",
               request_id: str = "") -> Handoff:
    """What ``call`` carries to ``to_site`` (a transfer, a consult leg or an overflow)."""
    return Handoff(
        call_id=call.call_id, new_leg_id=new_id("leg"), from_site=from_site,
        from_agent=from_agent, caller_number=call.caller_number,
        dialed_code=call.dialed_code, business_id=business_id or call.business_id,
        customer=call.customer, customer_source=call.customer_source or from_site,
        customer_as_of_ms=call.customer_as_of_ms or (
            call.customer.updated_at_ms if call.customer else 0),
        tier=call.tier, ivr_path=tuple(call.ivr_path),
        notes=tuple([*call.notes, note] if note else call.notes),
        attached=dict(call.attached), legs=tuple(call.all_legs()),
        original_arrival_ms=call.arrival_at_ms, target_site=to_site,
        target_skill=target_skill, target_agent=target_agent,
        request_id=request_id or new_id("req"), kind=kind, priority=priority)


class CallMoves:
    def __init__(self, core: SiteCore, *, answer_delay_s: float = 0.0,
                 remote_transfer: RemoteTransfer | None = None) -> None:
        self.core = core
        # the hub's transfer broker (set by the composition root); None: this site cannot
        # transfer or consult to other sites
        self.remote_transfer = remote_transfer
        # transfers taken in, by request ID: a retried AcceptTransfer gets the first answer
        self._transfers_in: OrderedDict[str, asyncio.Future[TransferAnswer]] = OrderedDict()
        # fault injection for drills and tests: hold the answer to AcceptTransfer this
        # long AFTER the call was queued here (a site killed in that window must not
        # leave the call owned twice); set from the fault settings by the composition root
        self.answer_delay_s = answer_delay_s

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
        arrival = handoff.original_arrival_ms or now
        life, _ = CallLife.transferred_in(
            handoff.call_id, site, arrival, handoff.from_site, handoff.new_leg_id, now,
            prior_end_ms=max((g.ended_at_ms for g in legs), default=0),
            consult=handoff.kind == "consult")
        call = LiveCall(
            call_id=handoff.call_id, site_id=site,
            entry_site=legs[0].site_id if legs else handoff.from_site,
            caller_number=handoff.caller_number, dialed_code=handoff.dialed_code,
            business_id=business.id, customer=customer, tier=handoff.tier,
            priority=klass.name.lower(),
            arrival_at_ms=arrival,
            ivr_path=list(handoff.ivr_path), transferred=not overflow, overflowed=overflow,
            attached=dict(handoff.attached), notes=list(handoff.notes),
            next_leg_id=handoff.new_leg_id, prior_legs=legs,
            customer_source=handoff.customer_source if customer is not None else "",
            customer_as_of_ms=handoff.customer_as_of_ms,
            caller_home=caller_home(core, handoff.caller_number), taken_over=life)
        call.acd_key = f"{call.call_id}/{len(legs) + 1}"
        if handoff.kind == "consult":  # a consult leg: the call stays at its owner
            call.consult_for, call.consult_leg_id = handoff.from_site, handoff.new_leg_id
            call.consult_agent = handoff.from_agent
            call.attached["consult_for"] = handoff.from_site
        else:  # taken over: on a restart, ask this site whether it kept the call
            call.attached["transferred_from_site"] = handoff.from_site
        uow = UnitOfWork().emit(call.event(
            "call.transferred_in", now, from_site=handoff.from_site,
            from_agent=handoff.from_agent, request_id=handoff.request_id,
            leg_id=handoff.new_leg_id))
        decision = core.admit(call, business, klass, uow, skill, handoff.target_agent)
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

        async with core.call_lock(call_id):
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
            call.life.own(call.consult_for, leg_id, now)
            owner, call.consult_for, call.consult_mode = call.consult_for, "", ""
            call.attached.pop("consult_for", None)
            call.attached["transferred_from_site"] = owner
            uow.add(call.record(now))
            if call.leg is not None:
                uow.add(call.leg_row(call.leg))
            uow.emit(call.event("call.transferred_in", now, from_site=owner,
                                from_agent=call.consult_agent, leg_id=leg_id,
                                via="consultation"))
            await core.submit(uow)
            log.info("consult leg %s of call %s became the call here (from %s)", leg_id,
                     call_id, owner)
            return answer(ACCEPTED, call=call)

    # -- calls sent to other sites ------------------------------------------------------

    def handoff(self, call: LiveCall, to_site: str, *, kind: str, from_agent: str,
                business_id: str = "", skill_id: str = "", note: str = "",
                target_agent: str = "") -> Handoff:
        """What an agent's transfer or consultation of ``call`` carries to ``to_site``;
        NotFound for an unknown business or skill."""
        province = self.core.province
        business = province.business(business_id or call.business_id)  # NotFound if unknown
        if skill_id and skill_id not in {s.id for s in province.skills}:
            raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
        return handoff_of(call, self.core.site_id, to_site, kind=kind, business_id=business.id,
                          from_agent=from_agent, note=note, target_skill=skill_id,
                          target_agent=target_agent)

    async def ask_hub(self, handoff: Handoff, timeout_s: int) -> TransferAnswer:
        """Ask the hub's broker to have ``handoff`` taken at its target site. A refusal,
        a timeout or an unreachable hub is an answer; bad input is raised."""
        call_id, site_id = handoff.call_id, handoff.target_site
        remote_transfer = self.remote_transfer
        if remote_transfer is None:
            return TransferAnswer(REFUSED, call_id, site_id,
                                  reason="hub unreachable: this site has no hub client")
        try:  # the broker answers within the accept timer; allow for the trip and a retry
            return await asyncio.wait_for(remote_transfer(handoff), timeout_s + 4)
        except TimeoutError:
            return TransferAnswer(TIMEOUT, call_id, site_id,
                                  reason=f"no answer from the hub within {timeout_s + 4} s")
        except Unavailable as exc:
            return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub unreachable: {exc}")
        except (InvalidInput, NotFound):
            raise  # bad input: an error for the caller of Transfer, the call stays
        except VccError as exc:
            return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub refused: {exc}")

    # -- consult legs of calls owned here, served elsewhere ---------------------------

    def leg_reported(self, call_id: str, leg_id: str, state: str, agent_id: str,
                     site_id: str, end_reason: str) -> bool:
        """Another site reports a consult leg of a call owned here (``Remote.ReportLeg``);
        False when this site has no such open consultation."""
        return handover.leg_reported(self.core, call_id, leg_id, state, agent_id, site_id,
                                     end_reason)

    # -- ownership ----------------------------------------------------------------------

    async def ownership(self, call_id: str) -> Ownership:
        """Whether this site still owns ``call_id`` (``Remote.GetCallOwnership``)."""
        return await ownership_of(self.core, call_id)

    def settle(self, taken_over: list[CallRecord]) -> asyncio.Task[None]:
        """After a restart: ask the origin of each call taken over before the stop who
        owns it now, and close its record as the answer says (in the background)."""
        return start_settling(self.core, taken_over)
