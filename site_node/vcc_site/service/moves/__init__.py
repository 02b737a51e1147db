"""One service owns a call moving between sites: :class:`CallMoves`.

* calls taken over from other sites (:mod:`.incoming`): ``accept_transfer``
  (``Remote.AcceptTransfer``, a transfer, an overflow or a consult leg), idempotent by
  request ID;
* calls sent to other sites (:mod:`.outgoing`): an agent's transfer
  (``transfer_to_site``) and an overflow by expected wait (``overflow``), both through
  the hub's broker (``ask_hub``); ``handoff`` builds what a call carries there; a call
  for a business this site does not accept, to the nearest site that does
  (:mod:`.assigned`, ``serve_elsewhere``);
* consult legs (:mod:`.consult`), at this site or another: the serving side
  (``conclude_consult``, ``end_consult_leg``, ``report_consult_leg``) and the owning side
  (``leg_reported``, ``cancel_consult``, ``conclude_remote``, ``moved_out``);
* the takeover after a crash (:mod:`.ownership`): ``ownership``
  (``Remote.GetCallOwnership``) and ``settle`` (after a restart, ask the origins of the
  calls taken over before the stop who owns them).

The desk (``desk_transfer``, ``desk_consult``) and the overflow monitor decide what to
move and call these; a same-site transfer or consultation stays at the desk
(:mod:`vcc_site.service.local_consult`). Requests about one call run under the core's
per-call lock.
"""

from __future__ import annotations

import asyncio

from vcc_domain.errors import NotFound
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.moves import assigned, consult, outgoing
from vcc_site.service.moves.incoming import TransfersIn
from vcc_site.service.moves.ownership import ownership_of, start_settling
from vcc_site.service.moves.targets import handoff_of
from vcc_site.service.transfer import (
    ConsultLeg,
    Handoff,
    Ownership,
    RemoteTransfer,
    SitePeers,
    TransferAnswer,
)
from vcc_site.store.api import CallRecord, UnitOfWork

__all__ = ["CallMoves", "handoff_of"]


class CallMoves:
    def __init__(
        self,
        core: SiteCore,
        *,
        answer_delay_s: float = 0.0,
        remote_transfer: RemoteTransfer | None = None,
    ) -> None:
        self.core = core
        # the hub's transfer broker (set by the composition root); None: this site cannot
        # transfer, consult or overflow to other sites
        self.remote_transfer = remote_transfer
        # direct calls to other sites about consult legs and who owns a call (set by the
        # composition root); None: this site cannot consult across sites
        self.peers: SitePeers | None = None
        # answer_delay_s: fault injection (drills and tests), see TransfersIn
        self._in = TransfersIn(core, answer_delay_s)

    # -- calls taken over from other sites ----------------------------------------------

    async def accept_transfer(self, handoff: Handoff, deadline_ms: int = 0) -> TransferAnswer:
        """Take over a call from another site (``Remote.AcceptTransfer``); see
        :meth:`.incoming.TransfersIn.accept_transfer`."""
        return await self._in.accept_transfer(handoff, deadline_ms)

    # -- calls sent to other sites ------------------------------------------------------

    def handoff(
        self,
        call: LiveCall,
        to_site: str,
        *,
        kind: str,
        from_agent: str,
        business_id: str = "",
        skill_id: str = "",
        note: str = "",
        target_agent: str = "",
    ) -> Handoff:
        """What an agent's transfer or consultation of ``call`` carries to ``to_site``;
        NotFound for an unknown business or skill."""
        province = self.core.province
        business = province.business(business_id or call.business_id)  # NotFound if unknown
        if skill_id and skill_id not in {s.id for s in province.skills}:
            raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
        return handoff_of(
            call,
            self.core.site_id,
            to_site,
            kind=kind,
            business_id=business.id,
            from_agent=from_agent,
            note=note,
            target_skill=skill_id,
            target_agent=target_agent,
        )

    async def ask_hub(self, handoff: Handoff, timeout_s: int) -> TransferAnswer:
        """Ask the hub's broker to have ``handoff`` taken at its target site. A refusal,
        a timeout or an unreachable hub is an answer; bad input is raised."""
        return await outgoing.ask_hub(self.remote_transfer, handoff, timeout_s)

    async def transfer_to_site(
        self,
        agent: LiveAgent,
        call: LiveCall,
        site_id: str,
        *,
        business_id: str,
        skill_id: str,
        agent_id: str,
        note: str,
    ) -> TransferAnswer:
        """An agent's transfer of ``call`` to another site: ended here only once that
        site accepted it (:func:`.outgoing.transfer_to_site`)."""
        handoff = self.handoff(
            call,
            site_id,
            kind="transfer",
            from_agent=agent.agent_id,
            business_id=business_id,
            skill_id=skill_id,
            note=note,
            target_agent=agent_id,
        )
        return await outgoing.transfer_to_site(
            self.core, self.remote_transfer, agent, call, handoff, note
        )

    async def overflow(self, call: LiveCall, site_id: str, why: str = "") -> TransferAnswer | None:
        """Move a waiting call to ``site_id`` as the hub advised (``why``), under its lock
        (:func:`.outgoing.overflow`); None: not tried."""
        return await outgoing.overflow(self.core, self.remote_transfer, call, site_id, why)

    async def serve_elsewhere(
        self, call: LiveCall, candidates: tuple[str, ...], uow: UnitOfWork
    ) -> assigned.Assigned:
        """A call for a business this site does not accept goes to the first of
        ``candidates`` (nearest first) that takes it, or is refused; it ends here either
        way (:func:`.assigned.serve_elsewhere`)."""
        return await assigned.serve_elsewhere(
            self.core, self.remote_transfer, call, candidates, uow
        )

    # -- consult legs -------------------------------------------------------------------

    async def conclude_consult(
        self, call_id: str, leg_id: str, mode: str, owner_site: str
    ) -> TransferAnswer:
        """The owning site ends a consult leg served here (``Remote.ConcludeConsult``)."""
        return await consult.conclude_consult(self.core, call_id, leg_id, mode, owner_site)

    def leg_reported(
        self, call_id: str, leg_id: str, state: str, agent_id: str, site_id: str, end_reason: str
    ) -> bool:
        """Another site reports a consult leg of a call owned here (``Remote.ReportLeg``);
        False when this site has no such open consultation."""
        return consult.leg_reported(
            self.core, call_id, leg_id, state, agent_id, site_id, end_reason
        )

    def report_consult_leg(self, entry: LiveCall, state: str, end_reason: str = "") -> None:
        """Tell the owner of a consult leg served here how it went."""
        consult.report_consult_leg(self.core, self.peers, entry, state, end_reason)

    def end_consult_leg(self, entry: LiveCall, uow: UnitOfWork) -> None:
        """End a consult leg served here (no CDR: the call's owner writes it)."""
        consult.end_consult_leg(self.core, entry, uow)

    def local_entry(self, call: LiveCall) -> LiveCall | None:
        """The shadow entry of a same-site consult leg of ``call``, if one is open."""
        return consult.local_entry(self.core, call)

    def cancel_consult(self, call: LiveCall, agent_id: str) -> None:
        """The call ended (or its consultation was dropped) here at its owner: end its
        consult leg, wherever it is served."""
        consult.cancel_consult(self.core, self.peers, call, agent_id)

    def consult_event(
        self, agent: LiveAgent, phase: str, call: LiveCall, leg: ConsultLeg, reason: str = ""
    ) -> None:
        """Tell the consulting agent's desk how their consultation goes."""
        consult.consult_event(self.core, agent, phase, call, leg, reason)

    async def conclude_remote(
        self, call: LiveCall, leg: ConsultLeg, mode: str, agent_id: str
    ) -> TransferAnswer:
        """Ask the site serving ``leg`` to end it as ``mode``."""
        return await consult.conclude_remote(self.peers, call, leg, mode, agent_id)

    def moved_out(self, call: LiveCall, leg: ConsultLeg, uow: UnitOfWork) -> None:
        """The consulted agent at another site took the call over: it ends here as
        transferred out."""
        outgoing.transfer_out(self.core, call, leg.site_id, "consultation completed", uow)

    # -- ownership after a crash ----------------------------------------------------------

    async def ownership(self, call_id: str) -> Ownership:
        """Whether this site still owns ``call_id`` (``Remote.GetCallOwnership``)."""
        return await ownership_of(self.core, call_id)

    def settle(self, taken_over: list[CallRecord]) -> asyncio.Task[None]:
        """After a restart: ask the origin of each call taken over before the stop who
        owns it now, and close its record as the answer says (in the background)."""
        return start_settling(self.core, self.peers, taken_over)
