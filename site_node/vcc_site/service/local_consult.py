"""Same-site consultation: the consult leg served by another agent of the owning site.

The caller is held with agent A; a *shadow* entry of the call (``moves.targets.consult_slot``)
enters this site's ACD at the transferred priority, for a skill or business, or reserved
for a named READY agent B, and is offered to B with the screen pop (kind CONSULT). It
writes its own leg (kind ``consult``) and ``consult.*`` events, but no call record and no
CDR: the call has one owner, its entry under the call ID. The endings:

cancel      the shadow leg ends (B to wrap-up, or ready again if still ringing);
conference  both agents and the caller (B must have answered); A leaving hands over;
transfer    A's leg ends (A to wrap-up) and the call's entry takes over the shadow's ACD
            key, agent and leg: B now has the call, which still ends with ONE CDR.
"""

from __future__ import annotations

import logging

from vcc_domain.province import Business
from vcc_site.domain.call import CallLife, CallState
from vcc_site.domain.queue import Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service.core import SiteCore
from vcc_site.service.desk_transfer import release_agent
from vcc_site.service.live import LiveCall
from vcc_site.service.moves.consult import local_entry
from vcc_site.service.moves.targets import consult_slot, named_agent_refusal
from vcc_site.service.transfer import (
    ACCEPTED,
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    REFUSED,
    TransferAnswer,
)
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)


def _other_staff(core: SiteCore, skill: str, exclude: str) -> bool:
    """Whether an agent logged in here, other than ``exclude``, can serve ``skill``."""
    for agent_id in core.agents:
        if agent_id == exclude:
            continue
        profile = core.province.agent(agent_id)
        if skill in profile.skills or (profile.general_level or 0) > 0:
            return True
    return False


def open_consult(
    core: SiteCore,
    call: LiveCall,
    business: Business,
    skill: str | None,
    reserve: str,
    note: str,
    leg_id: str,
    uow: UnitOfWork,
) -> TransferAnswer:
    """Open a consult leg of ``call`` (held by its agent) at this site; REFUSED (nothing
    changed) when the named agent is not ready or nobody else can serve the skill."""
    site, owner_agent = core.site_id, call.agent_id

    def refused(reason: str) -> TransferAnswer:
        return TransferAnswer(REFUSED, call.call_id, site, reason=reason)

    if reserve:
        why = named_agent_refusal(core, reserve, exclude=owner_agent)
        if why:
            return refused(why)
    elif not _other_staff(core, skill or business.skill, owner_agent):
        return refused(
            f"no other agent who can serve skill {skill or business.skill!r} "
            f"is logged in at site {site}"
        )
    slot = consult_slot(call.call_id, leg_id)
    now = core.now_ms()
    life, _ = CallLife.transferred_in(
        call.call_id,
        site,
        call.arrival_at_ms,
        site,
        leg_id,
        now,
        prior_end_ms=call.life.last_ms,
        consult=True,
    )
    entry = LiveCall(
        call_id=call.call_id,
        site_id=site,
        entry_site=call.entry_site,
        caller_number=call.caller_number,
        dialed_code=call.dialed_code,
        business_id=business.id,
        customer=call.customer,
        tier=call.tier,
        priority="transferred",
        arrival_at_ms=call.arrival_at_ms,
        ivr_path=list(call.ivr_path),
        transferred=True,
        attached={**call.attached, "consult_for": site},
        notes=[*call.notes, note] if note else list(call.notes),
        next_leg_id=leg_id,
        prior_legs=call.all_legs(),
        customer_source=call.customer_source,
        customer_as_of_ms=call.customer_as_of_ms,
        caller_home=call.caller_home,
        consult_for=site,
        consult_leg_id=leg_id,
        consult_agent=owner_agent,
        acd_key=slot,
        slot=slot,
        taken_over=life,
    )
    uow.emit(
        entry.event("call.requested", now, from_agent=owner_agent, leg_id=leg_id, to_agent=reserve)
    )
    decision = core.admit(entry, business, Priority.TRANSFERRED, uow, skill, reserve)
    if isinstance(decision, Assignment):
        return TransferAnswer(ACCEPTED, call.call_id, site, leg_id, agent_id=decision.agent_id)
    position = decision.waiting if isinstance(decision, Queued) else 0
    return TransferAnswer(ACCEPTED, call.call_id, site, leg_id, queue_position=position)


def conclude(core: SiteCore, call: LiveCall, mode: str, uow: UnitOfWork) -> TransferAnswer:
    """End the same-site consultation of ``call`` as ``mode`` (conference or transfer;
    cancel is :func:`vcc_site.service.moves.consult.cancel_consult`)."""
    site = core.site_id
    consult = call.consult
    leg_id = consult.leg_id if consult is not None else ""
    entry = local_entry(core, call)
    if entry is None:
        if mode == CANCEL:
            return TransferAnswer(ACCEPTED, call.call_id, site, leg_id)
        return TransferAnswer(
            REFUSED, call.call_id, site, leg_id, reason="the consult leg has already ended"
        )
    if mode == CONFERENCE:
        if not entry.life.talking:
            return TransferAnswer(
                REFUSED,
                call.call_id,
                site,
                leg_id,
                agent_id=entry.agent_id,
                reason="the consulted agent has not answered yet",
            )
        entry.consult_mode = CONFERENCE
        uow.emit(entry.event("call.conferenced", core.now_ms()))
        return TransferAnswer(ACCEPTED, call.call_id, site, leg_id, agent_id=entry.agent_id)
    if mode != COMPLETE_TRANSFER:
        raise ValueError(mode)
    adopt(core, call, entry, uow)
    return TransferAnswer(ACCEPTED, call.call_id, site, leg_id, agent_id=call.agent_id)


def adopt(core: SiteCore, call: LiveCall, entry: LiveCall, uow: UnitOfWork) -> None:
    """The call takes over its shadow consult leg: the consulting agent's leg ends (to
    wrap-up) and the call continues under the shadow's ACD key, agent and leg."""
    now = core.now_ms()
    from_agent = release_agent(core, call, "transferred", uow, now)
    core.drop_call(entry)
    core.cancel_ring(entry.slot)
    core.take_key(call, entry.acd_key)
    call.consult = None
    call.life.adopt(entry.life, now)
    call.transferred, call.priority, call.notes = True, entry.priority, entry.notes
    call.business_id = entry.business_id
    uow.add(call.record(now))
    if call.leg is not None:
        uow.add(call.leg_row(call.leg))
    uow.emit(
        call.event(
            "call.transferred",
            now,
            from_agent=from_agent,
            to_agent=call.agent_id,
            via="consultation",
        )
    )
    if call.life.state is CallState.OFFERED:  # still ringing: the ring limit now runs for the call
        core.start_ring_timer(call.agent_id, call.slot)
    log.info(
        "consult leg %s of call %s: the call moved to agent %s",
        entry.consult_leg_id,
        call.call_id,
        call.agent_id or "(queued)",
    )
