"""Moving a call between agents and sites (transfers, consult legs, overflow), on the core.

The state changes behind the desk's transfer and consultation use cases (``desk_transfer``,
``desk_consult``) and the receiving side of a consultation (``moves``). Like the core,
every function here changes memory and fills a :class:`UnitOfWork` without awaiting, so
nothing interleaves; the caller submits the unit.

A consult leg is a second entry for the call: at another site it is a ``LiveCall`` of the
same call ID with ``consult_for`` = the owning site; at the owning site itself (a
*same-site* consultation) it is a *shadow* entry beside the call in ``core.calls`` (under
``consult_slot``), which writes its leg but never a call record or a CDR.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from vcc_domain.errors import NotFound
from vcc_domain.province import Business
from vcc_site.domain.call import LegEnded
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.service.core import Result, SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.transfer import CANCEL, ConsultLeg
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)


def consult_slot(call_id: str, leg_id: str) -> str:
    """Key (and ACD key) of a same-site consult leg's entry in ``core.calls``."""
    return f"{call_id}/{leg_id}"


# -- named agents -------------------------------------------------------------------------

def named_agent_refusal(core: SiteCore, agent_id: str, *, exclude: str = "") -> str:
    """Why ``agent_id`` (a directory agent homed at this site) cannot be reserved for a
    call now; "" when they are logged in here and ready."""
    if agent_id == exclude:
        return "you cannot transfer or consult to yourself"
    if agent_id not in core.agents:
        return f"agent {agent_id} is not logged in at site {core.site_id}"
    state = core.acd.agent(agent_id).state.value
    if state != "ready":
        what = {"busy": "busy on a call", "ringing": "busy (a call is ringing)",
                "wrap_up": "in after-call work", "not_ready": "not ready"}.get(state, state)
        return f"agent {agent_id} at site {core.site_id} is {what}"
    return ""


def agent_site(core: SiteCore, agent_id: str) -> str:
    """The site a named agent works at; NotFound for an agent not in the directory."""
    try:
        profile = core.province.agent(agent_id)
    except NotFound:
        raise NotFound(f"unknown agent {agent_id!r}", field="target.agent_id") from None
    if not profile.takes_calls:
        raise NotFound(f"agent {agent_id!r} does not take calls", field="target.agent_id")
    return profile.home_site


# -- transfers ----------------------------------------------------------------------------

def release_agent(core: SiteCore, call: LiveCall, why: str, uow: UnitOfWork, now: int) -> str:
    """End the current agent's part of a connected call (ACD, leg, desk): the agent goes
    to wrap-up and the call leaves the ACD under its current key. Returns the agent."""
    agent_id = call.agent_id
    core.leave_acd(call, EndReason.TRANSFERRED_OUT)
    for e in call.life.release(now, why).events:
        if isinstance(e, LegEnded):
            uow.add(call.leg_row(e.leg))
    agent = core.agents.get(agent_id)
    if agent is not None:
        agent.call_id, agent.wrap_call_id, agent.wrap_record = "", call.call_id, None
        core.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id,
                          state="ended", end_reason="transferred_out")
    core.sync_agent(agent_id, uow, now)
    return agent_id


def transfer_local(core: SiteCore, call: LiveCall, business: Business, skill: str | None,
                   note: str, uow: UnitOfWork, reserve: str = "") -> Result:
    """Move a connected call from its agent back into this site's ACD at the transferred
    priority (ahead of everyone, original arrival kept), or straight to the READY agent
    ``reserve``. The agent goes to wrap-up; the call keeps its ID and gets a new leg."""
    now = core.now_ms()
    agent_id = release_agent(core, call, "transferred", uow, now)
    call.transferred, call.priority, call.business_id = True, "transferred", business.id
    call.acd_key = f"{call.call_id}/{len(call.legs) + 1}"
    if note:
        call.notes.append(note)
    uow.emit(call.event("call.transferred", now, from_agent=agent_id, note=note,
                        to_agent=reserve))
    return core.route(call, business, Priority.TRANSFERRED, uow, skill, reserve)


def transfer_out(core: SiteCore, call: LiveCall, to_site: str, note: str,
                 uow: UnitOfWork) -> None:
    """A connected call was accepted by another site: it ends here as transferred out.

    The agent's leg ends, the agent goes to wrap-up, and this site writes the CDR of its
    part (outcome ``transferred_out``, ``transferred`` set); the call lives on at
    ``to_site`` under the same call ID, where its final CDR will be written.
    """
    now = core.now_ms()
    decision = core.acd.remove_call(call.acd_key, EndReason.TRANSFERRED_OUT)
    call.transferred = True
    call.attached["transferred_to_site"] = to_site
    uow.emit(call.event("call.transferred", now, from_agent=call.agent_id, note=note,
                        to_site=to_site))
    core.apply(decision, uow)


# -- overflow by expected wait (ARCHITECTURE §3.2) ----------------------------------------

def overflow_hold(core: SiteCore, call: LiveCall) -> str | None:
    """Take a waiting call out of the ACD while another site is asked to take it, so no
    agent here is offered it meanwhile; returns its skill (for :func:`overflow_back`).
    Raises Conflict unless the call is waiting. Nothing is written: for the records it is
    still queued here."""
    skill = core.acd.call(call.acd_key).skill
    core.leave_acd(call, EndReason.OVERFLOWED)  # waiting: nothing follows
    return skill


def overflow_back(core: SiteCore, call: LiveCall, skill: str | None,
                  uow: UnitOfWork) -> Result:
    """The other site did not take it: the call re-enters the ACD (under a new key) in its
    own class with its original arrival, so its place in line is unchanged (a call put
    back at the head of its class after a ring-no-answer loses that)."""
    call.acd_key = core.overflow_key(call)
    return core.route(call, core.business(call.business_id), Priority[call.priority.upper()],
                      uow, skill)


def overflow_out(core: SiteCore, call: LiveCall, to_site: str, uow: UnitOfWork) -> None:
    """Another site accepted the held call: it ends here as overflowed out (CDR outcome
    ``overflowed_out``, ``overflowed`` set); its final CDR is written at ``to_site``."""
    now = core.now_ms()
    call.overflowed = True
    call.attached["overflowed_to_site"] = to_site
    uow.emit(call.event("call.overflowed", now, to_site=to_site))
    core.end_call(call, EndReason.OVERFLOWED, uow)


# -- consult legs: the serving side ---------------------------------------------------

def end_consult_leg(core: SiteCore, entry: LiveCall, uow: UnitOfWork) -> None:
    """End a consult leg served here (queued, ringing or answered): no CDR is written
    (the call's owner writes it); an agent on it goes to wrap-up, a ringing agent is
    ready again."""
    core.hang_up(entry, uow)


def report_consult_leg(core: SiteCore, entry: LiveCall, state: str,
                       end_reason: str = "") -> None:
    """Tell the owner of a consult leg served here how it went: at once when the owner
    is this site, else in the background over ``core.peers``."""
    owner, leg_id, agent_id = entry.consult_for, entry.consult_leg_id, entry.agent_id
    if not owner:
        return
    if owner == core.site_id:
        leg_reported(core, entry.call_id, leg_id, state, agent_id, owner, end_reason)
        return
    peers = core.peers
    if peers is None:
        return

    async def report() -> None:
        known = await peers.report_leg(owner, entry.call_id, leg_id, state, agent_id,
                                       end_reason)
        live = core.calls.get(entry.slot)
        if not known and live is entry and entry.consult_for and state != "ended":
            log.info("consult leg %s of call %s: the owner %s no longer knows it; "
                     "ending it", leg_id, entry.call_id, owner)
            uow = UnitOfWork()
            end_consult_leg(core, entry, uow)
            await core.submit(uow)

    core.background(report(), f"report of consult leg {leg_id} to {owner}")


# -- consult legs: the owning side --------------------------------------------------------

def consult_event(core: SiteCore, agent: LiveAgent, phase: str, call: LiveCall,
                  consult: ConsultLeg, reason: str = "") -> None:
    core.desk.publish(agent.session_id, "consult", core.now_ms(), phase=phase,
                      call_id=call.call_id, leg_id=consult.leg_id,
                      peer_agent_id=consult.agent_id, peer_site_id=consult.site_id,
                      reason=reason)


def leg_reported(core: SiteCore, call_id: str, leg_id: str, state: str, agent_id: str,
                 site_id: str, end_reason: str) -> bool:
    """The site serving a consult leg of a call owned here reports it
    (``Remote.ReportLeg``, or directly for a same-site leg); False when this site has no
    such open consultation."""
    call = core.calls.get(call_id)
    consult = call.consult if call is not None else None
    if call is None or consult is None or consult.leg_id != leg_id:
        return False
    agent = core.agents.get(call.agent_id)
    if state == "connected":
        if consult.state in ("pending", "accepted"):
            consult.state = "connected"
        consult.agent_id = agent_id or consult.agent_id
        if agent is not None:
            consult_event(core, agent, "connected", call, consult)
        return True
    if state == "ended":
        call.close_consult(core.now_ms())
        if agent is not None:
            consult_event(core, agent, "cancelled", call, consult,
                          f"the consulted agent left ({end_reason or 'hung up'})")
    return True


def local_entry(core: SiteCore, call: LiveCall) -> LiveCall | None:
    """The shadow entry of a same-site consult leg of ``call``, if one is open."""
    consult = call.consult
    if consult is None or consult.site_id != core.site_id:
        return None
    return core.calls.get(consult_slot(call.call_id, consult.leg_id))


def cancel_consult(core: SiteCore, call: LiveCall, agent_id: str) -> None:
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
    peers = core.peers
    if peers is None:
        return
    core.background(_discard(peers.conclude(consult.site_id, call.call_id, consult.leg_id,
                                            CANCEL, agent_id)),
                    f"cancel of consult leg {consult.leg_id} at {consult.site_id}")


async def _discard(aw: Awaitable[object]) -> None:
    await aw
