"""The agent's consultation (ARCHITECTURE §3.3): hold the caller, open a consult leg to
another agent (a skill or business, or a named agent; here or at another site), then end
it as ``cancel`` (the caller is back with this agent), ``transfer`` (the consulted agent
takes the call; this agent goes to wrap-up) or ``conference`` (all three; the call stays
owned here until this agent hangs up, then it moves to the consulted agent).

At another site the leg is brokered by the hub like a transfer (a ``CallContext`` of kind
CONSULT) and concluded over ``Remote.ConcludeConsult``, both by
:class:`~vcc_site.service.moves.CallMoves`; at this site it is a shadow entry of the call
(:mod:`vcc_site.service.local_consult`). Either way the call has one owner and ends with
one final CDR.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from vcc_domain.errors import Conflict, InvalidInput, Unavailable
from vcc_domain.ids import new_id
from vcc_site.service import local_consult
from vcc_site.service.desk_transfer import TransferDesk
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.transfer import (
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    TIMEOUT,
    ConsultLeg,
    TransferAnswer,
)
from vcc_site.store.api import CallRecord, UnitOfWork

if TYPE_CHECKING:
    from vcc_site.service.desk import DeskService

log = logging.getLogger(__name__)


class ConsultDesk:
    def __init__(self, desk: DeskService, transfers: TransferDesk) -> None:
        self.core = desk.core
        self.moves = desk.moves
        self.transfers = transfers

    async def consult(
        self,
        agent: LiveAgent,
        call: LiveCall,
        *,
        site_id: str,
        business_id: str,
        skill_id: str,
        agent_id: str,
        note: str,
    ) -> TransferAnswer:
        """Hold the caller and open a consult leg. ACCEPTED: the leg is open (queued or
        ringing at the consulted agent; end it with :meth:`complete`). REFUSED/TIMEOUT:
        no leg; the caller stays held with this agent, who resumes the call."""
        core = self.core
        call_id = call.call_id
        if not call.life.talking:
            raise Conflict(
                f"call {call_id!r} is {call.state}; only a call you are on can be consulted about",
                field="call_id",
            )
        if call.consult is not None or call.consult_for:
            raise Conflict(f"call {call_id!r} already has a consultation open", field="call_id")
        remote = self.transfers.route(agent, call, site_id, agent_id)
        if remote:
            handoff = self.moves.handoff(
                call,
                remote,
                kind="consult",
                from_agent=agent.agent_id,
                business_id=business_id,
                skill_id=skill_id,
                note=note,
                target_agent=agent_id,
            )
            leg_id, request_id = handoff.new_leg_id, handoff.request_id
        else:
            business, skill = (
                (core.province.business(call.business_id), None)
                if agent_id or not (business_id or skill_id)
                else self.transfers.target(call, business_id, skill_id)
            )
            leg_id, request_id = new_id("leg"), new_id("req")
        consult = ConsultLeg(leg_id, remote or core.site_id, request_id)
        self._hold(call, consult)
        settled = asyncio.Event()
        call.transfer_settled = settled
        consult_event = self.moves.consult_event
        consult_event(agent, "requested", call, consult)
        try:
            if remote:
                answer = await self.moves.ask_hub(handoff, core.policy.transfer_accept_timeout_s)
            else:
                uow = UnitOfWork()
                answer = local_consult.open_consult(
                    core, call, business, skill, agent_id, note, leg_id, uow
                )
                await core.submit(uow)
        finally:
            call.transfer_settled = None
            settled.set()
        if core.calls.get(call_id) is not call:  # cannot happen: a hang-up waits
            log.error("consult %s: call %s ended while the leg was set up", leg_id, call_id)
            return answer
        if answer.accepted:
            consult.state = "accepted"
            consult.agent_id = answer.agent_id
            log.info(
                "consult %s: call %s leg %s accepted at %s",
                request_id,
                call_id,
                leg_id,
                consult.site_id,
            )
            return answer
        call.close_consult(core.now_ms())
        consult_event(agent, "refused", call, consult, answer.reason)
        core.desk.publish(
            agent.session_id,
            "notice",
            core.now_ms(),
            level="warning",
            code=f"consult_{answer.outcome}",
            text=f"consultation about call {call_id} with site "
            f"{consult.site_id} {answer.outcome}: {answer.reason}; the "
            "caller is on hold with you",
        )
        return answer

    def _hold(self, call: LiveCall, consult: ConsultLeg) -> None:
        now = self.core.now_ms()
        if call.open_consult(consult, now):  # the caller was connected: now held
            self.core.submit(
                UnitOfWork().add(call.record(now)).emit(call.event("call.held", now, why="consult"))
            )

    async def complete(self, agent: LiveAgent, call: LiveCall, mode: str) -> CallRecord:
        """End this agent's consultation as ``mode``. If the consulted side cannot be
        reached or refuses, the consultation is closed and the caller stays (held) with
        this agent: Unavailable/Conflict is raised."""
        core = self.core
        consult = call.consult
        if consult is None:
            raise Conflict(f"call {call.call_id!r} has no open consultation", field="call_id")
        if mode not in (CANCEL, COMPLETE_TRANSFER, CONFERENCE):
            raise InvalidInput("choose transfer, conference or cancel", field="mode")
        if mode == CONFERENCE and consult.state == CONFERENCE:
            return call.record(core.now_ms())
        if mode == CANCEL:
            self.moves.cancel_consult(call, agent.agent_id)
            self.moves.consult_event(agent, "cancelled", call, consult)
            return await self.resume(call)
        answer = await self._conclude(call, consult, mode, agent.agent_id)
        if core.calls.get(call.call_id) is not call:
            raise Conflict(f"call {call.call_id!r} ended meanwhile", field="call_id")
        if not answer.accepted:
            if mode == COMPLETE_TRANSFER:  # the leg is closed; the caller stays here
                self.moves.cancel_consult(call, agent.agent_id)
                self.moves.consult_event(agent, "refused", call, consult, answer.reason)
            err = Unavailable if answer.outcome == TIMEOUT else Conflict
            raise err(
                f"site {consult.site_id} {answer.outcome} the {mode}: {answer.reason}; "
                "the caller is still with you",
                field="mode",
            )
        if mode == CONFERENCE:
            consult.state, consult.agent_id = CONFERENCE, answer.agent_id or consult.agent_id
            self.moves.consult_event(agent, "conferenced", call, consult)
            return await self.resume(call)
        return await self._moved(agent, call, consult)

    async def _conclude(
        self, call: LiveCall, consult: ConsultLeg, mode: str, agent_id: str
    ) -> TransferAnswer:
        core = self.core
        if consult.site_id == core.site_id:
            uow = UnitOfWork()
            answer = local_consult.conclude(core, call, mode, uow)
            await core.submit(uow)
            return answer
        return await self.moves.conclude_remote(call, consult, mode, agent_id)

    async def _moved(self, agent: LiveAgent, call: LiveCall, consult: ConsultLeg) -> CallRecord:
        """The consulted agent took the call over. At another site the call ends here as
        transferred out; here it already continues with that agent."""
        core = self.core
        call.close_consult(core.now_ms())
        if consult.site_id == core.site_id:
            self.moves.consult_event(agent, "transferred", call, consult)
            return call.record(core.now_ms())
        uow = UnitOfWork()
        self.moves.moved_out(call, consult, uow)
        record = call.record(core.now_ms())
        self.moves.consult_event(agent, "transferred", call, consult)
        await core.submit(uow)
        log.info(
            "consult: call %s moved to %s (leg %s)", call.call_id, consult.site_id, consult.leg_id
        )
        return record

    async def leave_conference(self, agent: LiveAgent, call: LiveCall) -> CallRecord | None:
        """The consulting agent hangs up in a conference: the call moves to the consulted
        agent (None when that side did not take it: the call then ends here as usual)."""
        consult = call.consult
        assert consult is not None
        answer = await self._conclude(call, consult, COMPLETE_TRANSFER, agent.agent_id)
        if answer.accepted and self.core.calls.get(call.call_id) is call:
            return await self._moved(agent, call, consult)
        log.warning(
            "conference of call %s: site %s did not take the call over (%s); it ends here",
            call.call_id,
            consult.site_id,
            answer.reason,
        )
        return None

    async def resume(self, call: LiveCall) -> CallRecord:
        core = self.core
        now = core.now_ms()
        if call.life.on_hold:
            call.life.resume(now)
            await core.submit(
                UnitOfWork().add(call.record(now)).emit(call.event("call.resumed", now))
            )
        return call.record(now)
