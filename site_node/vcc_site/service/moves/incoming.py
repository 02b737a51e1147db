"""Calls taken over from other sites: transferred, overflowed or consulted to this site.

The receiving side of ``Remote.AcceptTransfer`` (the hub's broker asks it), idempotent by
request ID: the call gets a LiveCall with the SAME call ID, skips the IVR and enters the
ACD with its original arrival, or is refused with a reason (an answer, not an error).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace

from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.ids import id_prefix
from vcc_site.domain.call import CallLife, CallState
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service.callers import NUMBER, PRIORITY_OF_TIER, caller_home
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.service.moves.targets import named_agent_refusal
from vcc_site.service.transfer import ACCEPTED, REFUSED, Handoff, TransferAnswer
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)

KEEP_TRANSFER_ANSWERS = 10_000  # transfer request IDs remembered for idempotency


class TransfersIn:
    def __init__(self, core: SiteCore, answer_delay_s: float = 0.0) -> None:
        self.core = core
        # transfers taken in, by request ID: a retried AcceptTransfer gets the first answer
        self._transfers_in: OrderedDict[str, asyncio.Future[TransferAnswer]] = OrderedDict()
        # fault injection for drills and tests: hold the answer to AcceptTransfer this
        # long AFTER the call was queued here (a site killed in that window must not
        # leave the call owned twice); set from the fault settings by the composition root
        self.answer_delay_s = answer_delay_s

    async def accept_transfer(self, handoff: Handoff, deadline_ms: int = 0) -> TransferAnswer:
        """Take over a call from another site (``Remote.AcceptTransfer``).

        Refused (an answer, not an error) when the business is unknown or not served
        here, no logged-in agent here can serve the skill, the call is already known
        here, or the broker's deadline has passed. Otherwise the call gets a LiveCall
        with the SAME call ID, skips the IVR and enters the ACD at the transferred
        priority with its original arrival time, carrying its notes, IVR path, attached
        data and previous legs into the screen pop. Idempotent by request ID.
        """
        for field_name, value, prefix in (
            ("context.call_id", handoff.call_id, "call"),
            ("context.new_leg_id", handoff.new_leg_id, "leg"),
        ):
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
            log.info(
                "transfer in of call %s from %s refused: %s",
                handoff.call_id,
                handoff.from_site,
                reason,
            )
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
        if (
            not handoff.target_agent
            and staff.agents_ready
            + staff.agents_busy
            + staff.agents_ringing
            + staff.agents_not_ready
            + staff.agents_wrap_up
            == 0
        ):
            return refuse(f"no agent who can serve skill {skill!r} is logged in at site {site}")
        known = await core.store.call(handoff.call_id)
        if (
            known is not None
            and known.state == CallState.ENDED.stored
            and known.attached.get("consult_for")
        ):
            known = None  # only an earlier consult leg served here: no CDR, may come again
        if handoff.call_id in core.calls or known is not None:
            return refuse(f"call {handoff.call_id} is already known at site {site}")
        if handoff.target_agent:  # a named agent: reserved if ready, else refused
            why = named_agent_refusal(core, handoff.target_agent)
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
        klass = (
            PRIORITY_OF_TIER.get(handoff.priority, Priority.ORDINARY)
            if overflow
            else Priority.TRANSFERRED
        )
        arrival = handoff.original_arrival_ms or now
        life, _ = CallLife.transferred_in(
            handoff.call_id,
            site,
            arrival,
            handoff.from_site,
            handoff.new_leg_id,
            now,
            prior_end_ms=max((g.ended_at_ms for g in legs), default=0),
            consult=handoff.kind == "consult",
        )
        call = LiveCall(
            call_id=handoff.call_id,
            site_id=site,
            entry_site=legs[0].site_id if legs else handoff.from_site,
            caller_number=handoff.caller_number,
            dialed_code=handoff.dialed_code,
            business_id=business.id,
            customer=customer,
            tier=handoff.tier,
            priority=klass.name.lower(),
            arrival_at_ms=arrival,
            ivr_path=list(handoff.ivr_path),
            transferred=not overflow,
            overflowed=overflow,
            attached=dict(handoff.attached),
            notes=list(handoff.notes),
            next_leg_id=handoff.new_leg_id,
            prior_legs=legs,
            customer_source=handoff.customer_source if customer is not None else "",
            customer_as_of_ms=handoff.customer_as_of_ms,
            caller_home=caller_home(core, handoff.caller_number),
            taken_over=life,
        )
        call.acd_key = f"{call.call_id}/{len(legs) + 1}"
        if handoff.kind == "consult":  # a consult leg: the call stays at its owner
            call.consult_for, call.consult_leg_id = handoff.from_site, handoff.new_leg_id
            call.consult_agent = handoff.from_agent
            call.attached["consult_for"] = handoff.from_site
        else:  # taken over: on a restart, ask this site whether it kept the call
            call.attached["transferred_from_site"] = handoff.from_site
        uow = UnitOfWork().emit(
            call.event(
                "call.transferred_in",
                now,
                from_site=handoff.from_site,
                from_agent=handoff.from_agent,
                request_id=handoff.request_id,
                leg_id=handoff.new_leg_id,
            )
        )
        decision = core.admit(call, business, klass, uow, skill, handoff.target_agent)
        await core.submit(uow)
        if self.answer_delay_s:  # fault injection (drills and tests): answer late
            await asyncio.sleep(self.answer_delay_s)
        log.info(
            "transfer in of call %s from %s accepted (%s)",
            call.call_id,
            handoff.from_site,
            type(decision).__name__,
        )
        if isinstance(decision, Assignment):
            return TransferAnswer(
                ACCEPTED, call.call_id, site, handoff.new_leg_id, agent_id=decision.agent_id
            )
        position = decision.waiting if isinstance(decision, Queued) else 0
        return TransferAnswer(
            ACCEPTED, call.call_id, site, handoff.new_leg_id, queue_position=position
        )
