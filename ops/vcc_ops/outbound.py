"""A paced outbound campaign runner (bill notices, arrears reminders, outage notices).

The list is loaded at a site (``WorkOrders.LoadCampaign``: a file or the API). Then, round
after round, the runner reads how many agents with the campaign's skill are ready at the
site (``Remote.GetQueueFigures`` of the outbound business) and starts at most
:func:`vcc_domain.outbound.pace` new attempts: never more calls in flight (not yet with an
agent) than the ready agents allow (times the pacing ratio). Entries go in the site's
calling order (key customers first, fewest attempts, tier, list position;
:func:`next_batch`), each attempt's outcome is recorded at the site (``RecordOutbound``):
a success ends the entry, the third failure puts the customer on the list returned to the
billing center (``ReturnedList``).

The call itself is placed by a :class:`Dialer`, the adapter to the network's outbound
trunk. When the customer picks up (:data:`~vcc_domain.outbound.ANSWERED`), the runner
hands the call to the site (``WorkOrders.ConnectOutbound``): the site's ACD offers it to
a ready agent of the skill, whose desk answers it; the attempt is ``reached`` when an
agent answered, ``abandoned`` when the customer hung up first (after ``patience_s``,
``Access.HangUp``). A dialer may also report a final outcome itself (``notified`` by a
recorded message, ``sms_sent``, ``no_answer``, ``busy``...). No switch is attached here,
so the shipped :class:`SimulatedDialer` stands in for the network (picked up with a given
probability after a ring, seeded); a real deployment plugs its switch adapter in.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc.aio

from vcc_domain.outbound import ANSWERED, PENDING, SUCCESS, CampaignEntry, next_batch, pace
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg


class Dialer(Protocol):
    async def dial(self, entry: CampaignEntry) -> str:
        """Ring the customer; returns ``answered`` (picked up: the call goes to an agent)
        or a final outcome code (``notified``, ``sms_sent``, ``no_answer``, ``busy``,
        ``unreachable``...)."""


class SimulatedDialer:
    """The network as a dice roll: ``answer_rate`` of customers pick up after ring_s
    seconds (``answered``, or ``notified`` by a recorded message when ``recorded``); the
    others are no answer / busy."""

    def __init__(
        self, answer_rate: float = 0.7, ring_s: float = 0.05, seed: int = 1, recorded: bool = False
    ) -> None:
        self.answer_rate = answer_rate
        self.ring_s = ring_s
        self.rng = random.Random(seed)
        self.recorded = recorded

    async def dial(self, entry: CampaignEntry) -> str:
        await asyncio.sleep(self.ring_s)
        if self.rng.random() < self.answer_rate:
            return "notified" if self.recorded else ANSWERED
        return self.rng.choice(("no_answer", "busy"))


def entry_of(msg: s.CampaignEntry) -> CampaignEntry:
    return CampaignEntry(
        msg.campaign_id,
        msg.entry_no,
        msg.kind,
        msg.customer_id,
        msg.phone,
        msg.tier,
        msg.notice,
        msg.attempts,
        msg.state,
        msg.result,
        msg.last_attempt_at_ms,
    )


@dataclass
class RunFigures:
    rounds: int = 0
    attempts: int = 0
    reached: int = 0
    max_in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answered_by: dict[str, int] = field(default_factory=dict)  # agent -> calls taken


class PacedCampaign:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        campaign_id: str,
        dialer: Dialer,
        *,
        business_id: str = "outbound",
        ratio: float = 1.0,
        patience_s: float = 30.0,
        poll_s: float = 0.05,
    ) -> None:
        self.orders = sg.WorkOrdersStub(channel)
        self.remote = sg.RemoteStub(channel)
        self.access = sg.AccessStub(channel)
        self.patience_s = patience_s  # how long a customer who picked up waits for an agent
        self.poll_s = poll_s
        self.campaign_id = campaign_id
        self.dialer = dialer
        self.business_id = business_id
        self.ratio = ratio
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.figures = RunFigures()
        self.errors: list[str] = []

    async def load(self, kind: str, csv_text: str) -> list[CampaignEntry]:
        reply = await self.orders.LoadCampaign(
            s.LoadCampaignRequest(campaign_id=self.campaign_id, kind=kind, csv=csv_text), timeout=30
        )
        return [entry_of(e) for e in reply.entries]

    async def ready_agents(self) -> int:
        reply = await self.remote.GetQueueFigures(
            s.GetQueueFiguresRequest(business_id=self.business_id), timeout=10
        )
        return sum(f.agents_ready for f in reply.figures)

    async def step(self) -> list[CampaignEntry]:
        """One pacing round: start what the ready agents allow; returns the entries started."""
        self.figures.rounds += 1
        slots = pace(await self.ready_agents(), len(self.in_flight), self.ratio)
        if slots == 0:
            return []
        # an attempt that ends while the list is read may still show as pending in it:
        # leave out every entry in flight when the read began (its record commits first)
        busy = set(self.in_flight)
        batch = next_batch(await self.pending(), busy, slots)
        for entry in batch:
            self.in_flight[entry.entry_no] = asyncio.create_task(self._attempt(entry))
        self.figures.max_in_flight = max(self.figures.max_in_flight, len(self.in_flight))
        return batch

    async def pending(self) -> list[CampaignEntry]:
        """The campaign's pending entries as the site holds them."""
        reply = await self.orders.ListCampaign(
            s.CampaignRef(campaign_id=self.campaign_id), timeout=10
        )
        return [e for e in map(entry_of, reply.entries) if e.state == PENDING]

    async def _attempt(self, entry: CampaignEntry) -> None:
        try:
            outcome, agent = await self.dialer.dial(entry), ""
            if outcome == ANSWERED:
                outcome, agent = await self.to_agent(entry)
            await self.orders.RecordOutbound(
                s.RecordOutboundRequest(
                    campaign_id=self.campaign_id,
                    entry_no=entry.entry_no,
                    outcome=outcome,
                    agent_id=agent or "outbound-runner",
                ),
                timeout=10,
            )
            self.figures.attempts += 1
            self.figures.reached += outcome in SUCCESS
            self.figures.outcomes[outcome] = self.figures.outcomes.get(outcome, 0) + 1
            if agent:
                self.figures.answered_by[agent] = self.figures.answered_by.get(agent, 0) + 1
        except grpc.aio.AioRpcError as exc:
            self.errors.append(f"entry {entry.entry_no}: {exc.code().name} {exc.details()}")
        finally:
            self.in_flight.pop(entry.entry_no, None)

    async def to_agent(self, entry: CampaignEntry) -> tuple[str, str]:
        """The customer picked up: the site queues the call for a ready agent. Returns
        (``reached``, agent) once an agent answered, (``abandoned``, "") when the
        customer hung up first (after ``patience_s``) or the call ended unanswered."""
        step = await self.orders.ConnectOutbound(
            s.ConnectOutboundRequest(
                campaign_id=self.campaign_id, entry_no=entry.entry_no, business_id=self.business_id
            ),
            timeout=10,
        )
        ref = s.CallRef(call_id=step.call_id)
        deadline = asyncio.get_running_loop().time() + self.patience_s
        while True:
            view = await self.access.GetCall(ref, timeout=10)
            if view.answered_at_ms:  # an agent took it; the talk goes on at the desk
                return "reached", view.agent_id
            if view.state == c.CALL_STATE_ENDED:
                return "abandoned", ""
            if asyncio.get_running_loop().time() >= deadline:
                view = await self.access.HangUp(ref, timeout=10)  # the customer gives up
                return ("reached", view.agent_id) if view.answered_at_ms else ("abandoned", "")
            await asyncio.sleep(self.poll_s)

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
        reply = await self.orders.ReturnedList(
            s.CampaignRef(campaign_id=self.campaign_id), timeout=10
        )
        return [entry_of(e) for e in reply.entries]


async def run_campaign(
    site: str,
    campaign_id: str,
    kind: str,
    csv_text: str,
    *,
    ratio: float,
    dialer: Dialer,
    patience_s: float = 30.0,
    give_up_s: float | None = None,
) -> dict[str, object]:
    """Load a list at ``site`` (host:port), run it to the end (or until ``give_up_s``
    seconds passed with nothing to start: no agent ready), report the figures."""
    poll_s = 0.2
    idle_rounds = None if give_up_s is None else max(1, int(give_up_s / poll_s))
    async with open_channel(site) as channel:
        campaign = PacedCampaign(channel, campaign_id, dialer, ratio=ratio, patience_s=patience_s)
        loaded = await campaign.load(kind, csv_text)
        figures = await campaign.run(poll_s, idle_rounds)
        pending = await campaign.pending()
        returned = await campaign.returned()
    return {
        "campaign": campaign_id,
        "entries": len(loaded),
        "attempts": figures.attempts,
        "reached": figures.reached,
        "outcomes": figures.outcomes,
        "answered_by": figures.answered_by,
        "max_in_flight": figures.max_in_flight,
        "rounds": figures.rounds,
        "still_pending": [e.customer_id for e in pending],
        "returned_to_billing": [e.customer_id for e in returned],
        "errors": campaign.errors,
    }
