"""A paced outbound campaign runner (bill notices, arrears reminders, outage notices).

The list is loaded at a site (``WorkOrders.LoadCampaign``: a file or the API). Then, round
after round, the runner reads how many agents with the campaign's skill are ready at the
site (``Remote.GetQueueFigures`` of the outbound business) and starts at most
:func:`vcc_domain.outbound.pace` new attempts: never more calls in flight than the ready
agents allow (times the pacing ratio). Entries go in the site's calling order (key
customers first, fewest attempts, tier, list position; :func:`next_batch`), each attempt's
outcome is recorded at the site (``RecordOutbound``): a success ends the entry, the third
failure puts the customer on the list returned to the billing center
(``ReturnedList``).

The call itself is placed by a :class:`Dialer`, the adapter to the network's outbound
trunk. No switch is attached here, so the shipped :class:`SimulatedDialer` stands in for
the network (answered with a given probability after a ring and a short message, seeded);
a real deployment plugs its switch adapter in.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc.aio

from vcc_domain.outbound import PENDING, SUCCESS, CampaignEntry, next_batch, pace
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg


class Dialer(Protocol):
    async def dial(self, entry: CampaignEntry) -> str:
        """Call the customer and deliver the notice; returns the outcome code
        (``reached``, ``notified``, ``no_answer``, ``busy``, ``unreachable``...)."""


class SimulatedDialer:
    """The network as a dice roll: ``answer_rate`` of calls reach the customer after
    ``call_s`` seconds; the others are no answer / busy."""

    def __init__(self, answer_rate: float = 0.7, call_s: float = 0.05, seed: int = 1) -> None:
        self.answer_rate = answer_rate
        self.call_s = call_s
        self.rng = random.Random(seed)

    async def dial(self, entry: CampaignEntry) -> str:
        await asyncio.sleep(self.call_s)
        if self.rng.random() < self.answer_rate:
            return "notified"
        return self.rng.choice(("no_answer", "busy"))


def entry_of(msg: s.CampaignEntry) -> CampaignEntry:
    return CampaignEntry(msg.campaign_id, msg.entry_no, msg.kind, msg.customer_id, msg.phone,
                         msg.tier, msg.notice, msg.attempts, msg.state, msg.result,
                         msg.last_attempt_at_ms)


@dataclass
class RunFigures:
    rounds: int = 0
    attempts: int = 0
    reached: int = 0
    max_in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class PacedCampaign:
    def __init__(self, channel: grpc.aio.Channel, campaign_id: str, dialer: Dialer, *,
                 business_id: str = "outbound", ratio: float = 1.0) -> None:
        self.orders = sg.WorkOrdersStub(channel)
        self.remote = sg.RemoteStub(channel)
        self.campaign_id = campaign_id
        self.dialer = dialer
        self.business_id = business_id
        self.ratio = ratio
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.figures = RunFigures()
        self.errors: list[str] = []

    async def load(self, kind: str, csv_text: str) -> list[CampaignEntry]:
        reply = await self.orders.LoadCampaign(s.LoadCampaignRequest(
            campaign_id=self.campaign_id, kind=kind, csv=csv_text), timeout=30)
        return [entry_of(e) for e in reply.entries]

    async def ready_agents(self) -> int:
        reply = await self.remote.GetQueueFigures(
            s.GetQueueFiguresRequest(business_id=self.business_id), timeout=10)
        return sum(f.agents_ready for f in reply.figures)

    async def step(self) -> list[CampaignEntry]:
        """One pacing round: start what the ready agents allow; returns the entries started."""
        self.figures.rounds += 1
        slots = pace(await self.ready_agents(), len(self.in_flight), self.ratio)
        if slots == 0:
            return []
        batch = next_batch(await self.pending(), self.in_flight, slots)
        for entry in batch:
            self.in_flight[entry.entry_no] = asyncio.create_task(self._attempt(entry))
        self.figures.max_in_flight = max(self.figures.max_in_flight, len(self.in_flight))
        return batch

    async def pending(self) -> list[CampaignEntry]:
        """The campaign's pending entries as the site holds them."""
        reply = await self.orders.ListCampaign(s.CampaignRef(campaign_id=self.campaign_id),
                                               timeout=10)
        return [e for e in map(entry_of, reply.entries) if e.state == PENDING]

    async def _attempt(self, entry: CampaignEntry) -> None:
        try:
            outcome = await self.dialer.dial(entry)
            await self.orders.RecordOutbound(s.RecordOutboundRequest(
                campaign_id=self.campaign_id, entry_no=entry.entry_no, outcome=outcome,
                agent_id="outbound-runner"), timeout=10)
            self.figures.attempts += 1
            self.figures.reached += outcome in SUCCESS
            self.figures.outcomes[outcome] = self.figures.outcomes.get(outcome, 0) + 1
        except grpc.aio.AioRpcError as exc:
            self.errors.append(f"entry {entry.entry_no}: {exc.code().name} {exc.details()}")
        finally:
            self.in_flight.pop(entry.entry_no, None)

    async def run(self, poll_s: float = 0.2, idle_rounds: int | None = None) -> RunFigures:
        """Rounds until no entry is pending and no call is in flight (or, with
        ``idle_rounds``, until that many rounds in a row started nothing)."""
        idle = 0
        while True:
            started = await self.step()
            if not self.in_flight and not await self.pending():
                return self.figures
            idle = 0 if started or self.in_flight else idle + 1
            if idle_rounds is not None and idle >= idle_rounds:
                return self.figures
            await asyncio.sleep(poll_s)

    async def returned(self) -> Sequence[CampaignEntry]:
        reply = await self.orders.ReturnedList(s.CampaignRef(campaign_id=self.campaign_id),
                                               timeout=10)
        return [entry_of(e) for e in reply.entries]


async def run_campaign(site: str, campaign_id: str, kind: str, csv_text: str, *,
                       ratio: float, dialer: Dialer) -> dict[str, object]:
    """Load a list at ``site`` (host:port), run it to the end, report the figures."""
    async with grpc.aio.insecure_channel(site) as channel:
        campaign = PacedCampaign(channel, campaign_id, dialer, ratio=ratio)
        loaded = await campaign.load(kind, csv_text)
        figures = await campaign.run()
        returned = await campaign.returned()
    return {"campaign": campaign_id, "entries": len(loaded), "attempts": figures.attempts,
            "reached": figures.reached, "outcomes": figures.outcomes,
            "max_in_flight": figures.max_in_flight, "rounds": figures.rounds,
            "returned_to_billing": [e.customer_id for e in returned],
            "errors": campaign.errors}
