"""Site events up to the hub exactly once: real NATS, etcd, hub and site processes.

(a) every event delivered twice and out of order across subjects leaves the hub's tables
    identical to a single clean delivery;
(b) events deleted from the stream after the site saw them acknowledged are detected as a
    gap by the hub, re-published by the site on request, and end at the hub exactly once;
(c) the hub is down for 30 s while calls are answered at a real site: afterwards every
    CDR of the site is at the hub exactly once.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.site import Client, SiteProcess, fast_province, until
from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, free_port
from vcc_proto.channels import open_channel
from vcc_proto.server import check_health
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_replication.events import SiteEvent, encode, event, headers
from vcc_replication.jetstream import connect
from vcc_replication.streams import SITE_EVENTS_STREAM, ensure_province_streams

START_TIMEOUT_S = 90.0
GENERAL_A, GENERAL_B = "KM-0131", "KM-0133"


class HubProcess:
    def __init__(
        self,
        tmp: Path,
        nats_url: str,
        etcd: str,
        name: str = "hub",
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_path = tmp / f"{name}.db"
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "hub",
            "--province",
            str(fast_province(tmp)),
            "--data-dir",
            str(tmp / f"{name}-data"),
            "--nats",
            nats_url,
            "--etcd",
            etcd,
            "--db",
            f"sqlite:///{self.db_path}",
            "--grpc-port",
            str(self.port),
            "--node-id",
            name,
            "--log-file",
            str(tmp / f"{name}.log"),
            *test_tls.node_args("hub", name),
        ]
        self.proc = ManagedProcess(
            name,
            argv,
            tmp / f"{name}.out",
            env={**_env(), "VCC_EVENT_GAP_GRACE_S": "1.0", **(env or {})},
        )

    def start(self) -> HubProcess:
        self.proc.start()
        _wait_healthy(self.target, self.proc)
        return self

    async def astart(self) -> HubProcess:
        """``start`` from inside a running event loop."""
        self.proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await check_health(
            self.target, timeout_s=1.0, tls=test_tls.client(), pid=self.proc.pid
        ):
            if not self.proc.alive:
                raise AssertionError(
                    f"hub exited with {self.proc.returncode}: {self.proc.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("hub not healthy in time")
            await asyncio.sleep(0.2)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    async def status(self, site: str) -> h.ReplicationStatus:
        async with open_channel(self.target, tls=test_tls.client()) as channel:
            reply: h.ReplicationStatus = await hg.ReplicationStub(channel).GetReplicationStatus(
                h.ReplicationStatusRequest(site_id=site), timeout=5
            )
            return reply


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _wait_healthy(target: str, proc: ManagedProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not asyncio.run(check_health(target, timeout_s=1.0, tls=test_tls.client(), pid=proc.pid)):
        if not proc.alive:
            raise AssertionError(f"{proc.name} exited: {proc.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} not healthy in time")
        time.sleep(0.2)


class ReplicatingSite(SiteProcess):
    """A real KM site connected to NATS, etcd and a fixed hub endpoint."""

    def __init__(self, tmp: Path, nats_url: str, etcd: str, hub: str) -> None:
        super().__init__(tmp)
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "site",
            "--site",
            self.site,
            "--province",
            str(self.province),
            "--data-dir",
            str(tmp / "data"),
            "--nats",
            nats_url,
            "--etcd",
            etcd,
            "--hub",
            hub,
            "--db",
            self.db_url,
            "--grpc-port",
            str(self.port),
            "--seed-customers",
            "40",
            "--log-file",
            str(tmp / "site.log"),
            *test_tls.node_args("site", "site-KM", self.site),
        ]
        self.proc = ManagedProcess("site-KM", argv, tmp / "site.out")
        self.db_path = tmp / "site.db"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    def last_seq(self) -> int:
        return int(self.rows("SELECT value FROM site_meta WHERE key = 'outbox.last_seq'")[0][0])

    def unsent(self) -> int:
        return int(self.rows("SELECT count(*) FROM outbox WHERE sent_at_ms = 0")[0][0])


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> str:
    return etcd_server.endpoint


@pytest.fixture
def hub(tmp_path: Path, nats_server: NatsServer, etcd: str) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path, nats_server.url, etcd).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def site(
    tmp_path: Path, nats_server: NatsServer, etcd: str, hub: HubProcess
) -> Iterator[ReplicatingSite]:
    proc = ReplicatingSite(tmp_path, nats_server.url, etcd, hub.target)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


# -- (a) duplicates and disorder ----------------------------------------------------------


def synthetic_events(site: str, calls: int) -> list[SiteEvent]:
    """Per call: arrived, queued, answered, ended and its CDR; agent states in between."""
    events: list[SiteEvent] = []
    seq = 0
    t0 = 1_700_000_000_000

    def emit(kind: str, aggregate: str, body: Message) -> None:
        nonlocal seq
        seq += 1
        events.append(event(site, seq, f"evt_{site}_{seq:06d}", kind, aggregate, t0 + seq, body))

    for i in range(calls):
        call_id = f"call_{site}_{i:05d}"
        agent = f"{site}-{i % 7:04d}"

        def info(state: str, agent_id: str = "") -> pb.CallInfo:
            return pb.CallInfo(
                call_id=call_id,  # noqa: B023
                site_id=site,
                business_id="general",
                tier="ordinary",
                priority="ordinary",
                state=state,
                agent_id=agent_id,
            )

        emit("call.arrived", call_id, pb.CallArrived(call=info("ivr")))
        emit("call.queued", call_id, pb.CallQueued(call=info("queued")))
        emit(
            "agent.state",
            agent,
            pb.AgentStateChanged(
                agent_id=agent, session_id=f"ses_{agent}", state="busy", reason="", call_id=call_id
            ),
        )
        emit("call.answered", call_id, pb.CallAnswered(call=info("connected", agent)))
        cdr = pb.Cdr(
            cdr_id=f"cdr_{site}_{i:05d}",
            call_id=call_id,
            site_id=site,
            home_site=site,
            entry_site=site,
            business_id="general",
            tier="ordinary",
            caller_masked="137****0000",
            outcome="answered",
            arrival_at_ms=t0 + i,
            answered_at_ms=t0 + i + 5,
            ended_at_ms=t0 + i + 90,
            wait_ms=5 + i % 11,
            ring_ms=3,
            talk_ms=60 + i % 13,
            hold_ms=0,
            agent_id=agent,
            transferred=False,
            overflowed=i % 5 == 0,
            ivr_path=["main", "0"],
        )
        emit("call.ended", call_id, pb.CallEnded(call=info("ended", agent)))
        emit("cdr.created", call_id, pb.CdrCreated(call=info("ended", agent), cdr=cdr))
    return events


async def _publish_all(url: str, batch: list[tuple[SiteEvent, str]]) -> None:
    nc = await connect(url, "test-publisher")
    js = nc.jetstream()
    await ensure_province_streams(js)
    for e, msg_id in batch:
        await js.publish(
            f"vcc.site.{e.site}.events", encode(e), headers=headers(e, msg_id), timeout=10
        )
    await nc.drain()


async def _reset_stream(url: str) -> None:
    nc = await connect(url, "test-reset")
    js = nc.jetstream()
    await js.purge_stream(SITE_EVENTS_STREAM)
    await js.delete_consumer(SITE_EVENTS_STREAM, "vcc-hub-events")
    await nc.drain()


def snapshot(hub: HubProcess) -> dict[str, Any]:
    return {
        "inbox": hub.rows("SELECT event_id, site, seq, kind, at_ms FROM inbox ORDER BY event_id"),
        "progress": hub.rows("SELECT site, contiguous_seq FROM site_progress ORDER BY site"),
        "cdrs": hub.rows("SELECT * FROM cdrs ORDER BY cdr_id"),
        "calls": hub.rows("SELECT * FROM calls ORDER BY site_id, call_id"),
        "agent_states": hub.rows("SELECT * FROM agent_states ORDER BY site, seq"),
        "sums": hub.rows("SELECT count(*), sum(talk_ms), sum(wait_ms), sum(overflowed) FROM cdrs"),
    }


async def _applied(hub: HubProcess, expected: dict[str, int]) -> bool:
    for site, last in expected.items():
        status = await hub.status(site)
        if status.contiguous_seq < last:
            return False
    return True


async def test_duplicates_and_disorder_leave_identical_tables(
    tmp_path: Path, nats_server: NatsServer, etcd: str
) -> None:
    events = synthetic_events("KM", 60) + synthetic_events("DL", 40)
    expected = {"KM": 360, "DL": 240}
    clean = HubProcess(tmp_path, nats_server.url, etcd, name="hub-clean")
    await clean.astart()
    try:
        await _publish_all(nats_server.url, [(e, e.event_id) for e in events])
        await until(lambda: _applied(clean, expected), "the clean delivery", timeout_s=60)
        reference = snapshot(clean)
    finally:
        clean.stop()
    assert reference["sums"][0][0] == 100 and len(reference["inbox"]) == 600
    await _reset_stream(nats_server.url)

    messy = HubProcess(tmp_path, nats_server.url, etcd, name="hub-messy")
    await messy.astart()
    try:
        # each event twice (the second under another message ID, so the broker keeps it),
        # shuffled across both subjects
        doubled = [(e, e.event_id) for e in events] + [(e, e.event_id + "~dup") for e in events]
        random.Random(7).shuffle(doubled)
        await _publish_all(nats_server.url, doubled)
        await until(lambda: _applied(messy, expected), "the messy delivery", timeout_s=60)
        await asyncio.sleep(1.0)  # let any trailing duplicate be consumed too
        assert snapshot(messy) == reference
        status = await messy.status("KM")
        assert (status.contiguous_seq, status.highest_seq, status.open_gaps) == (360, 360, 0)
    finally:
        messy.stop()


# -- helpers driving calls at the real site ----------------------------------------------


async def serve_calls(client: Client, desks: list[Any], count: int, start: int) -> list[str]:
    """Offer ``count`` calls one after another; the ready agents answer each one."""
    served: list[str] = []
    for n in range(start, start + count):
        step = await client.offer(f"1370000{n:04d}", "1000", "0")
        assert step.WhichOneof("next") == "connected", step
        desk = next(d for d in desks if d.agent_id == step.connected.agent_id)
        await desk.answer(step.call_id)
        await desk.hang_up(step.call_id)
        await desk.wrap_up(step.call_id)
        served.append(step.call_id)
    return served


async def _hub_caught_up(hub: HubProcess, site: ReplicatingSite) -> bool:
    try:
        status = await hub.status("KM")
    except grpc.aio.AioRpcError:
        return False
    return site.unsent() == 0 and status.contiguous_seq == site.last_seq()


def assert_exactly_once(hub: HubProcess, site: ReplicatingSite) -> None:
    last = site.last_seq()
    seqs = hub.rows(
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM inbox WHERE site = 'KM'"
    )[0]
    assert seqs == (last, last, 1, last)
    site_cdrs = sorted(site.rows("SELECT cdr_id, call_id, talk_ms, outcome FROM cdrs"))
    hub_cdrs = sorted(
        hub.rows("SELECT cdr_id, call_id, talk_ms, outcome FROM cdrs WHERE site_id = 'KM'")
    )
    assert site_cdrs and hub_cdrs == site_cdrs


# -- (b) events lost by the broker are re-published ---------------------------------------


async def test_events_lost_by_the_broker_are_detected_and_republished(
    nats_server: NatsServer, hub: HubProcess, site: ReplicatingSite
) -> None:
    client = Client(site.target)
    try:
        desks = [await client.login(GENERAL_A)]
        await desks[0].ready()
        await serve_calls(client, desks, 3, 0)
        await until(lambda: _hub_caught_up(hub, site), "the hub to catch up", timeout_s=60)
        before = site.last_seq()

        hub.stop()
        await serve_calls(client, desks, 8, 100)
        last = site.last_seq()
        await until(lambda: _true(site.unsent() == 0), "the relay to publish", timeout_s=30)

        nc = await connect(nats_server.url, "test-loser")
        js = nc.jetstream()
        info = await js.stream_info(SITE_EVENTS_STREAM)
        by_seq: dict[int, int] = {}  # event seq -> stream seq
        for stream_seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(SITE_EVENTS_STREAM, stream_seq)
            by_seq[int((msg.headers or {})["Vcc-Seq"])] = stream_seq
        lost = [before + 3, before + 4, before + (last - before) // 2, last - 2]
        for seq in lost:
            assert await js.delete_msg(SITE_EVENTS_STREAM, by_seq[seq])
        await nc.drain()

        await hub.astart()
        await until(lambda: _hub_caught_up(hub, site), "the gap to be repaired", timeout_s=60)
        assert_exactly_once(hub, site)
        log = (hub.db_path.parent / "hub.log").read_text()
        assert "asked KM to re-publish" in log
    finally:
        await client.close()


async def _true(value: bool) -> bool:
    return value


# -- (c) the hub gone while calls flow ----------------------------------------------------


HUB_DOWN_S = 30.0


async def test_calls_flow_with_the_hub_down_and_every_cdr_arrives_once(
    hub: HubProcess, site: ReplicatingSite
) -> None:
    client = Client(site.target)
    try:
        desks = [await client.login(GENERAL_A), await client.login(GENERAL_B)]
        for desk in desks:
            await desk.ready()
        served = await serve_calls(client, desks, 5, 0)
        await until(lambda: _hub_caught_up(hub, site), "the hub to catch up", timeout_s=60)

        hub.stop()
        down_until = time.monotonic() + HUB_DOWN_S
        n = 100
        while time.monotonic() < down_until:  # calls keep being answered, no error
            served += await serve_calls(client, desks, 1, n)
            n += 1
        await hub.astart()
        served += await serve_calls(client, desks, 5, n + 1)
        await until(lambda: _hub_caught_up(hub, site), "the outbox to drain", timeout_s=60)
        assert len(site.rows("SELECT cdr_id FROM cdrs")) == len(served)
        assert_exactly_once(hub, site)
    finally:
        await client.close()
