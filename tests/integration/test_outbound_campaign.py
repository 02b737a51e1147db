"""A paced outbound campaign against a real site: the runner never has more calls in
flight than ready agents with the outbound skill, calls key customers first, records
every attempt at the site, returns the customers not reached after 3 attempts to the
billing center, and dials nobody while no agent is ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest

from tests.integration._helpers.province import Node, site_node
from tests.integration._helpers.site import Client
from vcc_domain.outbound import CampaignEntry
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_ops.outbound import PacedCampaign

NEVER = "13700000002"  # this customer never answers
ROWS = ["customer_id,phone,tier", "c0,13700000000,ordinary", "c1,13700000001,vip",
        "c2,13700000002,middle", "c3,13700000003,high", "c4,13700000004,ordinary",
        "c5,13700000005,ordinary", "c6,13700000006,ordinary", "c7,13700000007,vip"]


class Dialer:
    """Answers everyone but NEVER after a short while; records the calls in flight."""

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
        return "no_answer" if entry.phone == NEVER else "notified"


@pytest.fixture
async def km(tmp_path: Path, etcd_server: EtcdServer,
             nats_server: NatsServer) -> AsyncIterator[Node]:
    node = site_node(tmp_path, "KM", nats_server.url, etcd_server.endpoint).launch()
    try:
        yield await node.healthy()
    finally:
        node.stop()


async def test_paced_campaign(km: Node) -> None:
    client = Client(km.target)
    dialer = Dialer()
    async with grpc.aio.insecure_channel(km.target) as channel:
        campaign = PacedCampaign(channel, "bills-2026-11", dialer)
        loaded = await campaign.load("bill_notice", "\n".join(ROWS) + "\n")
        assert len(loaded) == 7 + 1
        try:
            assert await campaign.step() == []  # nobody logged in: nobody dialed
            desks = [await client.login(agent) for agent in OUTBOUND_AGENTS]
            assert await campaign.step() == []  # logged in but not ready: still nobody
            for desk in desks:
                await desk.ready()
            first = [e.customer_id for e in await campaign.step()]
            assert len(first) == len(OUTBOUND_AGENTS)  # one call per ready agent
            assert set(first[:2]) == {"c1", "c7"} and first[2] == "c3"  # VIPs, then high
            figures = await asyncio.wait_for(campaign.run(poll_s=0.05), 60)
            returned = list(await campaign.returned())
            assert not await campaign.pending()
        finally:
            await client.close()
    assert dialer.max_in_flight <= len(OUTBOUND_AGENTS)
    assert figures.max_in_flight <= len(OUTBOUND_AGENTS)
    assert not campaign.errors
    assert figures.reached == 7 and figures.outcomes["no_answer"] == 3
    assert [(e.customer_id, e.attempts, e.state) for e in returned] == [("c2", 3, "returned")]


OUTBOUND_AGENTS = ("KM-0008", "KM-0016", "KM-0024")  # outbound skill
