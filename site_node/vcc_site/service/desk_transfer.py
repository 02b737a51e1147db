"""The agent's transfer: to a business, a skill or a named agent, here or at another site.

Here: the call re-enters this site's queue at the transferred priority (ahead of VIPs)
with its original arrival, IVR path and notes, or is offered straight to a named agent
who is logged in and ready. Another site: :class:`~vcc_site.service.moves.CallMoves`
has the hub's broker ask that site to take it (ARCHITECTURE §3.3); the agent is released
only once it ACCEPTED. A named agent who is
unknown is NotFound; one who is not logged in, busy or not ready is a REFUSED answer
with the reason, and the call stays with the transferring agent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_domain.province import Business
from vcc_site.domain.call import LegEnded
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service.core import Result, SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.moves.targets import agent_site, named_agent_refusal
from vcc_site.service.transfer import REFUSED, TransferAnswer
from vcc_site.store.api import UnitOfWork

if TYPE_CHECKING:
    from vcc_site.service.desk import DeskService

log = logging.getLogger(__name__)


class TransferDesk:
    def __init__(self, desk: DeskService) -> None:
        self.desk = desk
        self.core = desk.core

    def route(self, agent: LiveAgent, call: LiveCall, site_id: str, agent_id: str) -> str:
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
                raise InvalidInput(
                    "you cannot transfer or consult to yourself", field="target.agent_id"
                )
            home = agent_site(core, agent_id)
            if site_id and site_id != home:
                raise InvalidInput(
                    f"agent {agent_id!r} works at site {home}, not {site_id}",
                    field="target.site_id",
                )
            site_id = home
        return "" if site_id == core.site_id else site_id

    async def transfer(
        self,
        agent: LiveAgent,
        call: LiveCall,
        *,
        site_id: str,
        business_id: str,
        skill_id: str,
        agent_id: str,
        note: str,
    ) -> Queued | Assignment | TransferAnswer | None:
        core = self.core
        if not call.life.talking:
            raise Conflict(
                f"call {call.call_id!r} is {call.state}; only a call you are on can be transferred",
                field="call_id",
            )
        if call.consult is not None or call.consult_for:
            raise Conflict(
                f"call {call.call_id!r} is under consultation; complete or cancel "
                "the consultation instead",
                field="call_id",
            )
        remote = self.route(agent, call, site_id, agent_id)
        if remote:
            return await self.desk.moves.transfer_to_site(
                agent,
                call,
                remote,
                business_id=business_id,
                skill_id=skill_id,
                agent_id=agent_id,
                note=note,
            )
        if agent_id:
            why = named_agent_refusal(core, agent_id, exclude=agent.agent_id)
            if why:
                log.info("transfer of call %s to agent %s refused: %s", call.call_id, agent_id, why)
                return TransferAnswer(REFUSED, call.call_id, core.site_id, reason=why)
            business, skill = core.province.business(call.business_id), None
        else:
            business, skill = self.target(call, business_id, skill_id)
        uow = UnitOfWork()
        decision = transfer_local(core, call, business, skill, note, uow, agent_id)
        await core.submit(uow)
        return decision  # type: ignore[return-value]

    def target(
        self, call: LiveCall, business_id: str, skill_id: str
    ) -> tuple[Business, str | None]:
        province = self.core.province
        if business_id:
            business = province.business(business_id)
            if not business.accepts(self.core.site_id):
                raise Conflict(
                    f"business {business_id!r} is not served at this site",
                    field="target.business_id",
                )
            return business, skill_id or None
        if skill_id:
            if skill_id not in {s.id for s in province.skills}:
                raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
            return province.business(call.business_id), skill_id
        raise InvalidInput("give a business, a skill or an agent to transfer to", field="target")


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
        core.desk.publish(
            agent.session_id,
            "call_state",
            now,
            call_id=call.call_id,
            state="ended",
            end_reason="transferred_out",
        )
    core.sync_agent(agent_id, uow, now)
    return agent_id


def transfer_local(
    core: SiteCore,
    call: LiveCall,
    business: Business,
    skill: str | None,
    note: str,
    uow: UnitOfWork,
    reserve: str = "",
) -> Result:
    """Move a connected call from its agent back into this site's ACD at the transferred
    priority (ahead of everyone, original arrival kept), or straight to the READY agent
    ``reserve``. The agent goes to wrap-up; the call keeps its ID and gets a new leg."""
    now = core.now_ms()
    agent_id = release_agent(core, call, "transferred", uow, now)
    call.transferred, call.priority, call.business_id = True, "transferred", business.id
    call.acd_key = f"{call.call_id}/{len(call.legs) + 1}"
    if note:
        call.notes.append(note)
    uow.emit(call.event("call.transferred", now, from_agent=agent_id, note=note, to_agent=reserve))
    return core.route(call, business, Priority.TRANSFERRED, uow, skill, reserve)
