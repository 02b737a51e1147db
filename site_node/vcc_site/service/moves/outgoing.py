"""Calls sent to other sites: an agent's transfer and an overflow by expected wait.

The call stays here, with its agent or held out of the ACD, while the hub's broker asks
the target site (ARCHITECTURE §3.2, §3.3); only once that site ACCEPTED does the call end
here (outcome ``transferred_out`` / ``overflowed_out``; its final CDR is written there).
Anything else (refused, timeout, hub unreachable) leaves the call where it was. While
the answer is awaited, ``transfer_settled`` makes a caller's hang-up wait for it.

Like the core, the steps on it (``transfer_out``, ``overflow_hold``/``_back``/``_out``)
change memory and fill a :class:`UnitOfWork` without awaiting; the caller submits it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from vcc_domain.errors import Conflict, InvalidInput, NotFound, Unavailable, VccError
from vcc_domain.ids import new_id
from vcc_site.domain.call import CallState
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.service.core import Result, SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.moves.targets import handoff_of
from vcc_site.service.transfer import (
    REFUSED,
    TIMEOUT,
    Handoff,
    RemoteTransfer,
    TransferAnswer,
)
from vcc_site.store.api import UnitOfWork

log = logging.getLogger(__name__)

OVERFLOW_TRIP_MARGIN_S = 4.0  # on top of the broker's accept timer


async def ask_hub(
    remote_transfer: RemoteTransfer | None, handoff: Handoff, timeout_s: int
) -> TransferAnswer:
    """Ask the hub's broker to have ``handoff`` taken at its target site. A refusal,
    a timeout or an unreachable hub is an answer; bad input is raised."""
    call_id, site_id = handoff.call_id, handoff.target_site
    if remote_transfer is None:
        return TransferAnswer(
            REFUSED, call_id, site_id, reason="hub unreachable: this site has no hub client"
        )
    try:  # the broker answers within the accept timer; allow for the trip and a retry
        return await asyncio.wait_for(remote_transfer(handoff), timeout_s + 4)
    except TimeoutError:
        return TransferAnswer(
            TIMEOUT, call_id, site_id, reason=f"no answer from the hub within {timeout_s + 4} s"
        )
    except Unavailable as exc:
        return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub unreachable: {exc}")
    except (InvalidInput, NotFound):
        raise  # bad input: an error for the caller of Transfer, the call stays
    except VccError as exc:
        return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub refused: {exc}")


# -- an agent's transfer to another site -------------------------------------------------


def transfer_out(core: SiteCore, call: LiveCall, to_site: str, note: str, uow: UnitOfWork) -> None:
    """A connected call was accepted by another site: it ends here as transferred out.

    The agent's leg ends, the agent goes to wrap-up, and this site writes the CDR of its
    part (outcome ``transferred_out``, ``transferred`` set); the call lives on at
    ``to_site`` under the same call ID, where its final CDR will be written.
    """
    now = core.now_ms()
    call.transferred = True
    call.attached["transferred_to_site"] = to_site
    uow.emit(
        call.event("call.transferred", now, from_agent=call.agent_id, note=note, to_site=to_site)
    )
    core.end_in_acd(call, EndReason.TRANSFERRED_OUT, uow)


async def transfer_to_site(
    core: SiteCore,
    remote_transfer: RemoteTransfer | None,
    agent: LiveAgent,
    call: LiveCall,
    handoff: Handoff,
    note: str,
) -> TransferAnswer:
    """Hand the call to another site through the hub's broker (ARCHITECTURE §3.3).

    The call stays with this agent, connected, while the hub asks the target site;
    only after it ACCEPTED does the call end here (outcome ``transferred_out``) and
    the agent go to wrap-up. A refusal, a timeout or an unreachable hub leave the
    call with the agent, who gets a desk notice with the reason; the answer is
    returned either way (not raised).
    """
    site_id, request_id = handoff.target_site, handoff.request_id
    settled = asyncio.Event()
    call.transferring, call.transfer_settled = request_id, settled
    core.desk.publish(
        agent.session_id, "call_state", core.now_ms(), call_id=call.call_id, state="transferring"
    )
    try:
        answer = await ask_hub(remote_transfer, handoff, core.policy.transfer_accept_timeout_s)
        if answer.accepted and core.calls.get(call.call_id) is call:
            uow = UnitOfWork()
            transfer_out(core, call, site_id, note, uow)
            call.transferring = ""
            await core.submit(uow)
            log.info(
                "transfer %s: call %s accepted at %s (%s)",
                request_id,
                call.call_id,
                site_id,
                answer.leg_id,
            )
            return answer
        if answer.accepted:  # cannot happen: a caller's hang-up waits for the outcome
            log.error(
                "transfer %s: call %s accepted at %s but no longer here",
                request_id,
                call.call_id,
                site_id,
            )
        call.transferring = ""
        now = core.now_ms()
        state = CallState.HELD.stored if call.life.on_hold else CallState.CONNECTED.stored
        core.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id, state=state)
        core.desk.publish(
            agent.session_id,
            "notice",
            now,
            level="warning",
            code=f"transfer_{answer.outcome}",
            text=f"transfer of call {call.call_id} to site {site_id} "
            f"{answer.outcome}: {answer.reason}; the caller is still "
            "with you",
        )
        log.info(
            "transfer %s: call %s to %s %s: %s",
            request_id,
            call.call_id,
            site_id,
            answer.outcome,
            answer.reason,
        )
        return answer
    finally:
        call.transferring, call.transfer_settled = "", None
        settled.set()


# -- overflow by expected wait (ARCHITECTURE §3.2) ----------------------------------------


def overflow_hold(core: SiteCore, call: LiveCall) -> str | None:
    """Take a waiting call out of the ACD while another site is asked to take it, so no
    agent here is offered it meanwhile; returns its skill (for :func:`overflow_back`).
    Raises Conflict unless the call is waiting. Nothing is written: for the records it is
    still queued here."""
    skill = core.acd.call(call.acd_key).skill
    core.leave_acd(call, EndReason.OVERFLOWED)  # waiting: nothing follows
    return skill


def overflow_back(core: SiteCore, call: LiveCall, skill: str | None, uow: UnitOfWork) -> Result:
    """The other site did not take it: the call re-enters the ACD (under a new key) in its
    own class with its original arrival, so its place in line is unchanged (a call put
    back at the head of its class after a ring-no-answer loses that)."""
    call.acd_key = core.overflow_key(call)
    return core.route(
        call, core.business(call.business_id), Priority[call.priority.upper()], uow, skill
    )


def overflow_out(core: SiteCore, call: LiveCall, to_site: str, uow: UnitOfWork) -> None:
    """Another site accepted the held call: it ends here as overflowed out (CDR outcome
    ``overflowed_out``, ``overflowed`` set); its final CDR is written at ``to_site``."""
    now = core.now_ms()
    call.overflowed = True
    call.attached["overflowed_to_site"] = to_site
    uow.emit(call.event("call.overflowed", now, to_site=to_site))
    core.end_call(call, EndReason.OVERFLOWED, uow)


async def overflow(
    core: SiteCore,
    remote_transfer: RemoteTransfer | None,
    call: LiveCall,
    site_id: str,
    why: str = "",
) -> TransferAnswer | None:
    """Move one waiting call to ``site_id`` under its lock (a hang-up waits for the
    outcome): it leaves the ACD, the hub's broker asks that site (leg kind OVERFLOW, the
    caller's own class, the original arrival); ACCEPTED: it ends here as overflowed;
    otherwise it re-enters the ACD at the same place in line. None: not tried (it is no
    longer waiting here, or is being moved already). ``why``: the hub's advice, logged."""
    async with core.call_lock(call.call_id):
        if (
            core.calls.get(call.call_id) is not call
            or call.life.state is not CallState.QUEUED
            or call.transferring
        ):
            return None
        try:
            skill = overflow_hold(core, call)
        except (Conflict, NotFound):
            return None
        settled = asyncio.Event()
        request_id = new_id("req")
        call.transferring, call.transfer_settled = request_id, settled
        answer = TransferAnswer(REFUSED, call.call_id, site_id, reason="not sent")
        try:
            answer = await send_overflow(core, remote_transfer, call, site_id, request_id)
        finally:  # also when cancelled: the call is never left outside the ACD
            uow = UnitOfWork()
            if answer.accepted:
                overflow_out(core, call, site_id, uow)
            else:
                overflow_back(core, call, skill, uow)
            call.transferring, call.transfer_settled = "", None
            settled.set()
            await core.submit(uow)
    log.info(
        "overflow %s: call %s -> %s: %s%s (%s)",
        request_id,
        call.call_id,
        site_id,
        answer.outcome,
        f" ({answer.reason})" if answer.reason else "",
        why,
    )
    return answer


async def send_overflow(
    core: SiteCore,
    remote_transfer: RemoteTransfer | None,
    call: LiveCall,
    site_id: str,
    request_id: str,
    limit_s: float | None = None,
) -> TransferAnswer:
    handoff = handoff_of(
        call, core.site_id, site_id, kind="overflow", priority=call.priority, request_id=request_id
    )
    timeout_s = core.policy.transfer_accept_timeout_s + OVERFLOW_TRIP_MARGIN_S
    if limit_s is not None:  # the caller waits no longer: neither do the hub and target
        timeout_s = min(timeout_s, limit_s)
        handoff = replace(handoff, answer_within_s=timeout_s)
    if remote_transfer is None:
        return TransferAnswer(
            REFUSED, call.call_id, site_id, reason="hub: this site has no hub client"
        )
    try:
        return await asyncio.wait_for(remote_transfer(handoff), timeout_s)
    except TimeoutError:
        return TransferAnswer(
            TIMEOUT,
            call.call_id,
            site_id,
            reason=f"no answer from the hub within {timeout_s:.1f} s",
        )
    except Exception as exc:  # hub unreachable or refused: the call stays
        return TransferAnswer(REFUSED, call.call_id, site_id, reason=f"hub: {exc}")
