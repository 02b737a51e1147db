"""Outbound notice campaigns and shift handovers of a site (issue 9).

**Campaigns.** A list (CSV text, or entries given through the API) is stored as
``campaign_entries`` rows. :meth:`CampaignService.next_entry` gives the next customer to
call (key customers first, see :mod:`vcc_domain.outbound`); :meth:`record` stores an
attempt's outcome; after ``routing.outbound_max_attempts`` failures the customer is on
:meth:`returned` (back to the billing center for a written notice). Pacing: whoever
calls ``next_entry`` — an agent who is ready, or a runner that hands the call to a ready
agent — takes the next entry; an entry is not reserved (two agents asking at once may get
the same one; the second ``record`` of a finished entry is a Conflict).

**Handovers.** The outgoing shift leader writes one (unfinished orders, due callbacks,
open incidents, computed from the site's orders, and notes); the incoming leader
acknowledges it. Both must be signed in at the site (``People``), and a leader's
sign-out is refused until their handover is acknowledged by a signed-in successor
(:meth:`HandoverService.release`, the sign-out's gate; :func:`vcc_domain.handover.release`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from google.protobuf.message import Message

from vcc_domain import outbound as ob
from vcc_domain.errors import Forbidden, InvalidInput, NotFound
from vcc_domain.handover import (
    Handover,
    acknowledge,
    build_handover,
    release,
    require_signed_in,
)
from vcc_domain.ids import new_id
from vcc_domain.outbound import CampaignEntry
from vcc_domain.people import person_role
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import site_pb2 as s
from vcc_site.service.core import SiteCore
from vcc_site.store.api import Event, UnitOfWork
from vcc_site.store.wo_reads import work_order_reads


def _event(kind: str, aggregate: str, body: Message, at_ms: int) -> Event:
    return Event(new_id("evt"), kind, aggregate, body, at_ms)


class CampaignService:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.reads = work_order_reads(core.store)

    @property
    def max_attempts(self) -> int:
        return self.core.province.routing.outbound_max_attempts

    async def load(self, campaign_id: str, kind: str, csv_text: str) -> list[CampaignEntry]:
        if not campaign_id or await self.reads.entries(campaign_id):
            raise InvalidInput("give a new campaign id", field="campaign_id")
        now = self.core.now_ms()
        entries = ob.parse_campaign_csv(campaign_id, kind, csv_text, now)
        uow = (
            UnitOfWork()
            .add(*entries)
            .emit(
                _event(
                    "campaign.loaded",
                    campaign_id,
                    pb.CampaignLoaded(campaign_id=campaign_id, kind=kind, entries=len(entries)),
                    now,
                )
            )
        )
        await self.core.store.commit(uow)
        return entries

    async def entries(self, campaign_id: str) -> list[CampaignEntry]:
        found = await self.reads.entries(campaign_id)
        if not found:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return found

    async def next_entry(self, campaign_id: str) -> CampaignEntry | None:
        order = ob.call_order(await self.entries(campaign_id))
        return order[0] if order else None

    async def record(
        self, campaign_id: str, entry_no: int, outcome: str, agent_id: str = ""
    ) -> CampaignEntry:
        found = [e for e in await self.entries(campaign_id) if e.entry_no == entry_no]
        if not found:
            raise NotFound(f"no entry {entry_no} in {campaign_id}", field="entry_no")
        now = self.core.now_ms()
        entry = ob.record_attempt(found[0], outcome, now, self.max_attempts)
        sent = asdict(entry)
        del sent["updated_at_ms"]  # the event's own time
        body = pb.CampaignAttempt(entry=s.CampaignEntry(**sent), agent_id=agent_id)
        await self.core.store.commit(
            UnitOfWork().add(entry).emit(_event("campaign.attempt", campaign_id, body, now))
        )
        return entry

    async def returned(self, campaign_id: str) -> list[CampaignEntry]:
        return ob.returned_list(await self.entries(campaign_id))


LEADER = "team_leader"  # the person role of team and shift leaders
MAX_NOTES = 4000


class HandoverService:
    def __init__(self, core: SiteCore, signed_in: Callable[[], set[str]] | None = None) -> None:
        self.core = core
        self.reads = work_order_reads(core.store)
        # the people signed in at this site now (None: not checked, as in unit tests
        # of the order logic that run without the People service)
        self.signed_in = signed_in

    def _leader(self, person: str, field: str) -> None:
        """``person`` is a team or shift leader of this site and signed in."""
        agent = self.core.province.agent(person)
        if agent.home_site != self.core.site_id or person_role(agent.role) != LEADER:
            raise Forbidden(
                f"{person} is not a team leader of site {self.core.site_id}", field=field
            )
        if self.signed_in is not None:
            require_signed_in(person, self.signed_in(), field)

    async def list(self, limit: int = 100) -> list[Handover]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"must be between 1 and 1000, not {limit}", field="limit")
        return await self.reads.handovers(limit)

    async def release(self, leader: str, since_ms: int) -> Handover:
        """The sign-out gate of a leader signed in since ``since_ms`` (Conflict: stay)."""
        signed_in = self.signed_in() if self.signed_in is not None else set()
        return release(leader, since_ms, await self.reads.handovers(), signed_in)

    async def create(self, outgoing_leader: str, notes: str = "") -> Handover:
        self._leader(outgoing_leader, "outgoing_leader")
        if len(notes) > MAX_NOTES:
            raise InvalidInput(f"is longer than {MAX_NOTES} characters", field="notes")
        now = self.core.now_ms()
        handover = build_handover(
            new_id("chg"),
            self.core.site_id,
            outgoing_leader,
            await self.reads.orders(open_only=True),
            now,
            notes,
        )
        await self._save(handover, "handover.created")
        return handover

    async def acknowledge(self, handover_id: str, incoming_leader: str) -> Handover:
        held = await self.reads.handover(handover_id)
        if held is None:
            raise NotFound(f"no handover {handover_id!r}", field="handover_id")
        self._leader(incoming_leader, "incoming_leader")
        handover = acknowledge(held, incoming_leader, self.core.now_ms())
        await self._save(handover, "handover.acknowledged")
        return handover

    async def _save(self, handover: Handover, kind: str) -> None:
        await self.core.store.commit(
            UnitOfWork()
            .add(handover)
            .emit(
                _event(
                    kind,
                    handover.handover_id,
                    pb.HandoverChanged(handover=s.HandoverView(**asdict(handover))),
                    self.core.now_ms(),
                )
            )
        )
