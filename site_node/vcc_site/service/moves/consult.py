"""Consult legs: a second entry of a call, served by another agent, here or elsewhere.

At another site a consult leg is a ``LiveCall`` of the same call ID with ``consult_for``
= the owning site; at the owning site itself (a *same-site* consultation,
:mod:`vcc_site.service.local_consult`) it is a *shadow* entry beside the call in
``core.calls`` (under ``consult_slot``), which writes its leg but never a call record or a
CDR. Either way the call has one owner and ends with one final CDR.

The serving side ends a leg, reports how it goes to the owner and is concluded by it
(``Remote.ConcludeConsult``); the owning side hears the reports (``Remote.ReportLeg``),
cancels the leg when the call ends, and concludes a leg at another site directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from vcc_domain.errors import InvalidInput
from vcc_site.domain.call import CallState
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.moves.targets import consult_slot
from vcc_site.service.transfer import (
    ACCEPTED,
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    REFUSED,
    ConsultLeg,
    SitePeers,
    TransferAnswer,
)
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)


# -- a consult leg served here for a call owned elsewhere ------------------------------------


async def conclude_consult(
    core: SiteCore, call_id: str, leg_id: str, mode: str, owner_site: str
) -> TransferAnswer:
    """The owning site ends a consult leg served here (``Remote.ConcludeConsult``).

    cancel: the leg ends (no CDR here; an agent on it goes to wrap-up). transfer: the
    entry BECOMES the call, owned here from now on (exactly like an accepted
    transfer: its final CDR will be written here). conference: the leg stays, marked
    so; refused unless the consulted agent has answered. Idempotent: a repeated
    cancel of a gone leg, or a repeated transfer, gets ACCEPTED again.
    """
    site = core.site_id

    def answer(outcome: str, reason: str = "", call: LiveCall | None = None) -> TransferAnswer:
        agent = call.agent_id if call is not None else ""
        return TransferAnswer(outcome, call_id, site, leg_id, agent_id=agent, reason=reason)

    async with core.call_lock(call_id):
        call = core.calls.get(call_id)
        if (
            call is None
            or call.consult_leg_id != leg_id
            or (owner_site and call.consult_for not in ("", owner_site))
        ):
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
            end_consult_leg(core, call, uow)
            await core.submit(uow)
            return answer(ACCEPTED)
        if mode == CONFERENCE:
            if not call.life.talking:
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
        uow.emit(
            call.event(
                "call.transferred_in",
                now,
                from_site=owner,
                from_agent=call.consult_agent,
                leg_id=leg_id,
                via="consultation",
            )
        )
        await core.submit(uow)
        log.info("consult leg %s of call %s became the call here (from %s)", leg_id, call_id, owner)
        return answer(ACCEPTED, call=call)


def end_consult_leg(core: SiteCore, entry: LiveCall, uow: UnitOfWork) -> None:
    """End a consult leg served here (queued, ringing or answered): no CDR is written
    (the call's owner writes it); an agent on it goes to wrap-up, a ringing agent is
    ready again."""
    core.hang_up(entry, uow)


def report_consult_leg(
    core: SiteCore, peers: SitePeers | None, entry: LiveCall, state: str, end_reason: str = ""
) -> None:
    """Tell the owner of a consult leg served here how it went: at once when the owner
    is this site, else in the background over ``peers``."""
    owner, leg_id, agent_id = entry.consult_for, entry.consult_leg_id, entry.agent_id
    if not owner:
        return
    if owner == core.site_id:
        leg_reported(core, entry.call_id, leg_id, state, agent_id, owner, end_reason)
        return
    if peers is None:
        return

    async def report() -> None:
        known = await peers.report_leg(owner, entry.call_id, leg_id, state, agent_id, end_reason)
        live = core.calls.get(entry.slot)
        if not known and live is entry and entry.consult_for and state != CallState.ENDED:
            log.info(
                "consult leg %s of call %s: the owner %s no longer knows it; ending it",
                leg_id,
                entry.call_id,
                owner,
            )
            uow = UnitOfWork()
            end_consult_leg(core, entry, uow)
            await core.submit(uow)

    core.background(report(), f"report of consult leg {leg_id} to {owner}")


# -- consult legs: the owning side --------------------------------------------------------


def consult_event(
    core: SiteCore,
    agent: LiveAgent,
    phase: str,
    call: LiveCall,
    consult: ConsultLeg,
    reason: str = "",
) -> None:
    core.desk.publish(
        agent.session_id,
        "consult",
        core.now_ms(),
        phase=phase,
        call_id=call.call_id,
        leg_id=consult.leg_id,
        peer_agent_id=consult.agent_id,
        peer_site_id=consult.site_id,
        reason=reason,
    )


def leg_reported(
    core: SiteCore,
    call_id: str,
    leg_id: str,
    state: str,
    agent_id: str,
    site_id: str,
    end_reason: str,
) -> bool:
    """The site serving a consult leg of a call owned here reports it
    (``Remote.ReportLeg``, or directly for a same-site leg); False when this site has no
    such open consultation."""
    call = core.calls.get(call_id)
    consult = call.consult if call is not None else None
    if call is None or consult is None or consult.leg_id != leg_id:
        return False
    agent = core.agents.get(call.agent_id)
    if state == CallState.CONNECTED:
        if consult.state in ("pending", "accepted"):
            consult.state = "connected"
        consult.agent_id = agent_id or consult.agent_id
        if agent is not None:
            consult_event(core, agent, "connected", call, consult)
        return True
    if state == CallState.ENDED:
        call.close_consult(core.now_ms())
        if agent is not None:
            consult_event(
                core,
                agent,
                "cancelled",
                call,
                consult,
                f"the consulted agent left ({end_reason or 'hung up'})",
            )
    return True


def local_entry(core: SiteCore, call: LiveCall) -> LiveCall | None:
    """The shadow entry of a same-site consult leg of ``call``, if one is open."""
    consult = call.consult
    if consult is None or consult.site_id != core.site_id:
        return None
    return core.calls.get(consult_slot(call.call_id, consult.leg_id))


def cancel_consult(core: SiteCore, peers: SitePeers | None, call: LiveCall, agent_id: str) -> None:
    """The call ended (or its consultation was dropped) here at its owner: end its consult
    leg (at once when it is served here, else by asking that site in the background)."""
    entry, consult = local_entry(core, call), call.consult
    call.close_consult(core.now_ms())
    if consult is None:
        return
    if consult.site_id == core.site_id:
        if entry is not None:
            uow = UnitOfWork()
            end_consult_leg(core, entry, uow)
            core.submit(uow)
        return
    if peers is None:
        return
    core.background(
        _discard(peers.conclude(consult.site_id, call.call_id, consult.leg_id, CANCEL, agent_id)),
        f"cancel of consult leg {consult.leg_id} at {consult.site_id}",
    )


async def _discard(aw: Awaitable[object]) -> None:
    await aw


# -- a consult leg at another site, of a call owned here ---------------------------------


async def conclude_remote(
    peers: SitePeers | None, call: LiveCall, consult: ConsultLeg, mode: str, agent_id: str
) -> TransferAnswer:
    """Ask the site serving ``consult`` to end it as ``mode``; an unreachable site is an
    answer, not an error. A caller's hang-up meanwhile waits for the outcome."""
    if peers is None:
        return TransferAnswer(
            REFUSED, call.call_id, consult.site_id, reason="this site cannot reach other sites"
        )
    settled = asyncio.Event()
    call.transfer_settled = settled  # a caller's hang-up waits for the outcome
    try:
        return await peers.conclude(consult.site_id, call.call_id, consult.leg_id, mode, agent_id)
    finally:
        call.transfer_settled = None
        settled.set()
