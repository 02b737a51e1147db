"""A paced outbound campaign against a real site with agent desks answering: the runner
never has more calls in flight than ready agents with the outbound skill, calls key
customers first, hands every call a customer picks up to the site, where a ready outbound
agent's desk answers it, records every attempt at the site, returns the customers not
reached after 3 attempts to the billing center, and dials nobody while no agent is ready
(nobody logged in, logged in but not ready, or every agent on a call)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest

from tests.integration._helpers.province import Node, site_node
from tests.integration._helpers.site import Client, Desk, until
from vcc_domain.outbound import ANSWERED, CampaignEntry
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_ops.outbound import PacedCampaign
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

NEVER = "13700000002"  # this customer never answers
ROWS = [
    "customer_id,phone,tier",
    "c0,13700000000,ordinary",
    "c1,13700000001,vip",
    "c2,13700000002,middle",
    "c3,13700000003,high",
    "c4,13700000004,ordinary",
    "c5,13700000005,ordinary",
    "c6,13700000006,ordinary",
    "c7,13700000007,vip",
]


class Dialer:
    """Everyone but NEVER picks up after a short ring; records the calls ringing."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.order: list[str] = []
        self.release = asyncio.Event()

    async def dial(self, entry: CampaignEntry) -> str:
        self.order.append(entry.customer_id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.05)
        self.in_flight -= 1
        return "no_answer" if entry.phone == NEVER else ANSWERED


class Agents:
    """Outbound agents at their desks: each answers every call offered to it, keeps the
    customer on the line until ``release`` is set, then hangs up and wraps up (ready
    again)."""

    def __init__(self, desks: list[Desk]) -> None:
        self.release = asyncio.Event()
        self.answered: list[tuple[str, str]] = []  # (agent, call)
        self.tasks = [asyncio.create_task(self._work(desk)) for desk in desks]

    async def _work(self, desk: Desk) -> None:
        seen = 0
        while True:
            offers = desk.offers()
            if len(offers) == seen:
                await asyncio.sleep(0.02)
                continue
            call_id = offers[seen]
            seen += 1
            view = await desk.answer(call_id)
            self.answered.append((desk.agent_id, view.call_id))
            await self.release.wait()
            await desk.hang_up(call_id)
            await desk.wrap_up(call_id, "notified")

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def km(
    tmp_path: Path, etcd_server: EtcdServer, nats_server: NatsServer
) -> AsyncIterator[Node]:
    node = site_node(tmp_path, "KM", nats_server.url, etcd_server.endpoint).launch()
    try:
        yield await node.healthy()
    finally:
        node.stop()


async def test_paced_campaign(km: Node) -> None:
    client = Client(km.target)
    dialer = Dialer()
    agents: Agents | None = None
    async with open_channel(km.target) as channel:
        campaign = PacedCampaign(channel, "bills-2026-11", dialer)
        loaded = await campaign.load("bill_notice", "\n".join(ROWS) + "\n")
        assert len(loaded) == 7 + 1
        try:
            assert await campaign.step() == []  # nobody logged in: nobody dialed
            desks = [await client.login(agent) for agent in OUTBOUND_AGENTS]
            assert await campaign.step() == []  # logged in but not ready: still nobody
            agents = Agents(desks)
            for desk in desks:
                await desk.ready()
            first = [e.customer_id for e in await campaign.step()]
            assert len(first) == len(OUTBOUND_AGENTS)  # one call per ready agent
            assert set(first[:2]) == {"c1", "c7"} and first[2] == "c3"  # VIPs, then high

            async def all_on_calls() -> bool:
                return len(agents.answered) == 3 and not campaign.in_flight

            await until(all_on_calls, "the three customers talking to the three agents", 30)
            assert {a for a, _ in agents.answered} == set(OUTBOUND_AGENTS)
            for _, call_id in agents.answered:
                assert await client.state_of(call_id) == c.CALL_STATE_CONNECTED
            assert await campaign.step() == []  # every agent on a call: nobody dialed

            agents.release.set()  # the agents finish their calls and take the next ones
            figures = await asyncio.wait_for(campaign.run(poll_s=0.05), 60)
            returned = list(await campaign.returned())
            assert not await campaign.pending()
        finally:
            if agents is not None:
                await agents.stop()
            await client.close()
    assert dialer.max_in_flight <= len(OUTBOUND_AGENTS)
    assert figures.max_in_flight <= len(OUTBOUND_AGENTS)
    assert not campaign.errors
    assert figures.reached == 7 and figures.outcomes == {"reached": 7, "no_answer": 3}
    assert len(agents.answered) == 7  # every customer reached was answered at a desk
    assert set(figures.answered_by) <= set(OUTBOUND_AGENTS)
    assert sum(figures.answered_by.values()) == 7
    assert [(e.customer_id, e.attempts, e.state) for e in returned] == [("c2", 3, "returned")]


OUTBOUND_AGENTS = ("KM-0008", "KM-0016", "KM-0024")  # outbound skill


async def test_a_customer_no_agent_takes_is_abandoned(km: Node) -> None:
    async with open_channel(km.target) as channel:
        campaign = PacedCampaign(channel, "outage-2026-11", Dialer(), patience_s=0.3)
        [entry] = await campaign.load(
            "outage_notice", "customer_id,phone,tier\nc9,13700000009,vip\n"
        )
        assert await campaign.to_agent(entry) == ("abandoned", "")  # no agent logged in
        assert [e.state for e in await campaign.pending()] == ["pending"]  # not recorded yet
        orders = sg.WorkOrdersStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await orders.ConnectOutbound(
                s.ConnectOutboundRequest(campaign_id="outage-2026-11", entry_no=7)
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        await orders.RecordOutbound(
            s.RecordOutboundRequest(campaign_id="outage-2026-11", entry_no=0, outcome="abandoned")
        )
        done = await orders.RecordOutbound(
            s.RecordOutboundRequest(campaign_id="outage-2026-11", entry_no=0, outcome="sms_sent")
        )
        assert (done.entries[0].attempts, done.entries[0].state) == (2, "done")
        with pytest.raises(grpc.aio.AioRpcError) as finished:
            await orders.ConnectOutbound(
                s.ConnectOutboundRequest(campaign_id="outage-2026-11", entry_no=0)
            )
        assert finished.value.code() == grpc.StatusCode.FAILED_PRECONDITION
