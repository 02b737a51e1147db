"""The agent's transfer: to a business, a skill or a named agent, here or at another site.

Here: the call re-enters this site's queue at the transferred priority (ahead of VIPs)
with its original arrival, IVR path and notes, or is offered straight to a named agent
who is logged in and ready. Another site: the hub's broker asks that site to take it
(ARCHITECTURE §3.3); the agent is released only once it ACCEPTED. A named agent who is
unknown is NotFound; one who is not logged in, busy or not ready is a REFUSED answer
with the reason, and the call stays with the transferring agent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_domain.province import Business
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service import handover
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.transfer import REFUSED, TransferAnswer
from vcc_site.store.api import UnitOfWork

if TYPE_CHECKING:
    from vcc_site.service.desk import DeskService

log = logging.getLogger(__name__)


class TransferDesk:
    def __init__(self, desk: DeskService) -> None:
        self.desk = desk
        self.core = desk.core

    def route(self, agent: LiveAgent, call: LiveCall, site_id: str,
              agent_id: str) -> str:
        """The site a transfer or consultation goes to ("" = this one). A named agent's
        site is where they work (NotFound for an unknown agent; InvalidInput when
        ``site_id`` names another site)."""
        core = self.core
        if site_id and site_id != core.site_id:
            try:
                core.province.site(site_id)
            except NotFound:
                raise NotFound(f"unknown site {site_id!r}", field="target.site_id") from None
        if agent_id:
            if agent_id == agent.agent_id:
                raise InvalidInput("you cannot transfer or consult to yourself",
                                   field="target.agent_id")
            home = handover.agent_site(core, agent_id)
            if site_id and site_id != home:
                raise InvalidInput(f"agent {agent_id!r} works at site {home}, not {site_id}",
                                   field="target.site_id")
            site_id = home
        return "" if site_id == core.site_id else site_id

    async def transfer(self, agent: LiveAgent, call: LiveCall, *, site_id: str,
                       business_id: str, skill_id: str, agent_id: str,
                       note: str) -> Queued | Assignment | TransferAnswer | None:
        core = self.core
        if call.state not in ("connected", "held"):
            raise Conflict(f"call {call.call_id!r} is {call.state}; only a call you are on "
                           "can be transferred", field="call_id")
        if call.consult is not None or call.consult_for:
            raise Conflict(f"call {call.call_id!r} is under consultation; complete or cancel "
                           "the consultation instead", field="call_id")
        remote = self.route(agent, call, site_id, agent_id)
        if remote:
            return await self._transfer_remote(agent, call, remote, business_id, skill_id,
                                               agent_id, note)
        if agent_id:
            why = handover.named_agent_refusal(core, agent_id, exclude=agent.agent_id)
            if why:
                log.info("transfer of call %s to agent %s refused: %s", call.call_id,
                         agent_id, why)
                return TransferAnswer(REFUSED, call.call_id, core.site_id, reason=why)
            business, skill = core.province.business(call.business_id), None
        else:
            business, skill = self.target(call, business_id, skill_id)
        uow = UnitOfWork()
        decision = handover.transfer_local(core, call, business, skill, note, uow, agent_id)
        await core.submit(uow)
        return decision  # type: ignore[return-value]

    async def _transfer_remote(self, agent: LiveAgent, call: LiveCall, site_id: str,
                               business_id: str, skill_id: str, agent_id: str,
                               note: str) -> TransferAnswer:
        """Hand the call to another site through the hub's broker (ARCHITECTURE §3.3).

        The call stays with this agent, connected, while the hub asks the target site;
        only after it ACCEPTED does the call end here (outcome ``transferred_out``) and
        the agent go to wrap-up. A refusal, a timeout or an unreachable hub leave the
        call with the agent, who gets a desk notice with the reason; the answer is
        returned either way (not raised).
        """
        core = self.core
        moves = self.desk.moves
        handoff = moves.handoff(call, site_id, kind="transfer", from_agent=agent.agent_id,
                                business_id=business_id, skill_id=skill_id, note=note,
                                target_agent=agent_id)
        request_id = handoff.request_id
        settled = asyncio.Event()
        call.transferring, call.transfer_settled = request_id, settled
        core.desk.publish(agent.session_id, "call_state", core.now_ms(), call_id=call.call_id,
                          state="transferring")
        try:
            answer = await moves.ask_hub(handoff, core.policy.transfer_accept_timeout_s)
            if answer.accepted and core.calls.get(call.call_id) is call:
                uow = UnitOfWork()
                handover.transfer_out(core, call, site_id, note, uow)
                call.transferring = ""
                await core.submit(uow)
                log.info("transfer %s: call %s accepted at %s (%s)", request_id,
                         call.call_id, site_id, answer.leg_id)
                return answer
            if answer.accepted:  # cannot happen: a caller's hang-up waits for the outcome
                log.error("transfer %s: call %s accepted at %s but no longer here",
                          request_id, call.call_id, site_id)
            call.transferring = ""
            now = core.now_ms()
            state = "held" if call.state == "held" else "connected"
            core.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id,
                              state=state)
            core.desk.publish(agent.session_id, "notice", now, level="warning",
                              code=f"transfer_{answer.outcome}",
                              text=f"transfer of call {call.call_id} to site {site_id} "
                                   f"{answer.outcome}: {answer.reason}; the caller is still "
                                   "with you")
            log.info("transfer %s: call %s to %s %s: %s", request_id, call.call_id, site_id,
                     answer.outcome, answer.reason)
            return answer
        finally:
            call.transferring, call.transfer_settled = "", None
            settled.set()

    def target(self, call: LiveCall, business_id: str,
               skill_id: str) -> tuple[Business, str | None]:
        province = self.core.province
        if business_id:
            business = province.business(business_id)
            if not business.accepts(self.core.site_id):
                raise Conflict(f"business {business_id!r} is not served at this site",
                               field="target.business_id")
            return business, skill_id or None
        if skill_id:
            if skill_id not in {s.id for s in province.skills}:
                raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
            return province.business(call.business_id), skill_id
        raise InvalidInput("give a business, a skill or an agent to transfer to",
                           field="target")
