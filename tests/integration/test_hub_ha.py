"""Hub high availability with real processes: election, failover, fencing, routing map.

Two ``vcc hub`` processes share one PostgreSQL database, one etcd and one NATS. Exactly
one leads; the follower refuses writes naming the leader; the leader is killed with
SIGKILL during a stream of directory changes sent through ``call_leader``; the standby
takes over (the time is measured and printed, asserted only against a generous bound);
no change is lost or applied twice; a write with the old leader's token is refused.
The routing map follows site registrations as their leases come and go.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from sqlalchemy import text

from tests.integration._helpers import tls as test_tls
from vcc_domain.errors import Fenced
from vcc_domain.province import load_province_file
from vcc_failover.hub_client import LeaderClient
from vcc_failover.lease import ETCD_ERRORS, get_prefix, new_client
from vcc_failover.locator import LEADER_KEY, EtcdHubLocator
from vcc_failover.routing_map import SITE_PREFIX, live_sites_for, read_routing_map
from vcc_ops.cli import example_province_path
from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, PostgresServer, free_port
from vcc_proto.channels import open_channel
from vcc_proto.status import leader_of
from vcc_proto.v1 import common_pb2, hub_pb2, hub_pb2_grpc, node_pb2, node_pb2_grpc
from vcc_replication.db import make_engine
from vcc_replication.fencing import advance_fence, current_fence

HELPERS = Path(__file__).parent / "_helpers"
TAKEOVER_BOUND_S = 15.0  # generous: the target is lease TTL (2 s) + 1 s on a quiet machine
CHANGES = 40
KILL_AFTER = 12


class HubProc:
    def __init__(self, name: str, workdir: Path, etcd: str, nats: str, db: str) -> None:
        self.name = name
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        log = workdir / f"{name}.log"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "hub",
            "--data-dir",
            str(workdir / name),
            "--nats",
            nats,
            "--etcd",
            etcd,
            "--db",
            db,
            "--grpc-port",
            str(self.port),
            "--node-id",
            name,
            "--log-file",
            str(log),
            *test_tls.node_args("hub", name),
        ]
        self.proc = ManagedProcess(name, argv, log.with_suffix(".out"))

    def start(self) -> None:
        self.proc.start()


async def get_info(endpoint: str) -> node_pb2.NodeInfo | None:
    try:
        async with open_channel(endpoint) as ch:
            reply: node_pb2.NodeInfo = await node_pb2_grpc.NodeStub(ch).GetInfo(
                node_pb2.GetInfoRequest(), timeout=1.0
            )
            return reply
    except grpc.RpcError:
        return None


async def wait_for(
    what: str, check: Callable[[], Awaitable[bool]], within_s: float, every_s: float = 0.05
) -> float:
    """Poll an async predicate; return the time it took."""
    start = time.monotonic()
    deadline = start + within_s
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(every_s)


def entry_change(i: int) -> hub_pb2.DirectoryChange:
    number = f"0871-9{i:05d}"
    entity = {
        "name": f"HA test entry {i}",
        "number": number,
        "area_code": "0871",
        "category": "test",
        "keywords": [],
    }
    return hub_pb2.DirectoryChange(
        op=hub_pb2.DirectoryChange.OP_UPSERT,
        kind=hub_pb2.ENTITY_KIND_DIRECTORY_ENTRY,
        entity_id=number,
        entity_json=json.dumps(entity).encode(),
    )


def apply_request(i: int) -> hub_pb2.ApplyChangeRequest:
    return hub_pb2.ApplyChangeRequest(
        changes=[entry_change(i)],
        request_id=f"req-ha-{i:04d}",
        actor=common_pb2.Actor(operator="ha-test"),
    )


async def leader_record(etcd: str) -> dict[str, Any]:
    raw = (await get_prefix([etcd], LEADER_KEY)).get(LEADER_KEY)
    return json.loads(raw) if raw else {}


@pytest.fixture
def hub_pair(
    tmp_path: Path,
    etcd_server: EtcdServer,
    nats_server: NatsServer,
    postgres_server: PostgresServer,
) -> Iterator[tuple[HubProc, HubProc, str]]:
    db = postgres_server.create_database(f"hub_ha_{int(time.time() * 1000) % 10**9}")
    hubs = [
        HubProc(n, tmp_path, etcd_server.endpoint, nats_server.url, db) for n in ("hub-a", "hub-b")
    ]
    try:
        yield hubs[0], hubs[1], db
    finally:
        for h in hubs:
            h.proc.stop()


async def test_leader_killed_during_a_stream_of_changes(
    hub_pair: tuple[HubProc, HubProc, str], etcd_server: EtcdServer
) -> None:
    a, b, db = hub_pair
    a.start()
    await wait_for("hub-a to lead", lambda: _leads(a), 30)
    await wait_for("hub-a to import the province", lambda: _has_directory(a), 30)
    b.start()
    await wait_for("hub-b to serve", lambda: _serves(b), 30)

    # (a) exactly one leads; the follower names the leader and refuses a write.
    info_a, info_b = await get_info(a.endpoint), await get_info(b.endpoint)
    assert info_a is not None and info_b is not None
    assert info_a.is_leader and not info_b.is_leader
    await wait_for("hub-b to know the leader", lambda: _names_leader(b, a.endpoint), 10)
    async with open_channel(b.endpoint) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await hub_pb2_grpc.DirectoryStub(ch).ApplyChange(apply_request(99999), timeout=5)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert leader_of(refused.value) == a.endpoint
    old_token = int((await leader_record(etcd_server.endpoint))["token"])
    assert old_token > 0

    # (b) SIGKILL the leader in the middle of a stream of changes sent via call_leader.
    client = LeaderClient(EtcdHubLocator([etcd_server.endpoint]), attempts=40, deadline_s=40)
    versions: dict[int, int] = {}
    takeover_s: float | None = None

    async def stream() -> None:
        for i in range(CHANGES):

            async def send(ch: grpc.aio.Channel, i: int = i) -> hub_pb2.ApplyChangeReply:
                reply: hub_pb2.ApplyChangeReply = await hub_pb2_grpc.DirectoryStub(ch).ApplyChange(
                    apply_request(i), timeout=3
                )
                return reply

            reply = await client.call(send)
            versions[i] = reply.version
            await asyncio.sleep(0.02)

    writer = asyncio.create_task(stream())
    try:
        await wait_for(
            "some changes before the kill", _count_at_least(versions, KILL_AFTER, writer), 60
        )
        a.proc.kill()
        takeover_s = await wait_for("hub-b to lead", lambda: _leads(b), TAKEOVER_BOUND_S, 0.02)
        await asyncio.wait_for(writer, 90)
    finally:
        writer.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await writer
        await client.close()
    print(f"\nhub takeover after SIGKILL: {takeover_s:.2f} s; client retries: {client.retries}")
    new_token = int((await leader_record(etcd_server.endpoint))["token"])
    assert new_token > old_token

    # No change lost or applied twice; versions contiguous.
    engine = make_engine(db)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT version, change_id, token FROM directory_versions ORDER BY version"
                    )
                )
            ).all()
            state_version = (
                await conn.execute(text("SELECT version FROM directory_state WHERE id = 1"))
            ).scalar_one()
        all_versions = [int(r.version) for r in rows]
        assert all_versions == list(range(all_versions[0], all_versions[-1] + 1))
        assert all_versions[-1] == state_version
        ours = [r for r in rows if str(r.change_id).startswith("req-ha-")]
        ids = [r.change_id for r in ours]
        assert sorted(ids) == [f"req-ha-{i:04d}" for i in range(CHANGES)]  # each exactly once
        assert {r.change_id: int(r.version) for r in ours} == {
            f"req-ha-{i:04d}": v for i, v in versions.items()
        }
        assert {int(r.token) for r in ours} <= {old_token, new_token}
        assert any(int(r.token) == new_token for r in ours)

        # (c) the old leader's late write is refused; the new leader's is accepted.
        with pytest.raises(Fenced):
            async with engine.begin() as conn:
                await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                await advance_fence(conn, old_token)
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            await advance_fence(conn, new_token)
            assert await current_fence(conn) == new_token
    finally:
        await engine.dispose()


async def test_paused_leader_cannot_write_after_takeover(
    hub_pair: tuple[HubProc, HubProc, str], etcd_server: EtcdServer
) -> None:
    """SIGSTOP the leader past its lease, let the standby lead and write, SIGCONT it."""
    a, b, db = hub_pair
    a.start()
    await wait_for("hub-a to lead", lambda: _leads(a), 30)
    await wait_for("hub-a to import the province", lambda: _has_directory(a), 30)
    b.start()
    await wait_for("hub-b to serve", lambda: _serves(b), 30)
    old_token = int((await leader_record(etcd_server.endpoint))["token"])
    pid = a.proc.pid
    assert pid is not None
    os.killpg(pid, signal.SIGSTOP)
    try:
        took = await wait_for("hub-b to lead", lambda: _leads(b), TAKEOVER_BOUND_S, 0.02)
        print(f"\nhub takeover after SIGSTOP: {took:.2f} s")
        async with open_channel(b.endpoint) as ch:
            await hub_pb2_grpc.DirectoryStub(ch).ApplyChange(apply_request(1), timeout=10)
    finally:
        os.killpg(pid, signal.SIGCONT)
    # The old leader wakes up believing nothing new: its write must be refused at once.
    async with open_channel(a.endpoint) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await hub_pb2_grpc.DirectoryStub(ch).ApplyChange(apply_request(2), timeout=10)
    assert refused.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED), (
        refused.value
    )
    await wait_for("hub-a to know it follows", lambda: _names_leader(a, b.endpoint), 10)
    engine = make_engine(db)
    try:
        async with engine.connect() as conn:
            late = (
                await conn.execute(
                    text("SELECT count(*) FROM directory_versions WHERE change_id = 'req-ha-0002'")
                )
            ).scalar_one()
            fence = await current_fence(conn)
        assert late == 0
        assert fence > old_token
    finally:
        await engine.dispose()


async def test_routing_map_follows_site_leases(
    tmp_path: Path, etcd_server: EtcdServer, nats_server: NatsServer
) -> None:
    ep = etcd_server.endpoint
    province = load_province_file(example_province_path())
    ids = [s.id for s in province.sites]
    assert len(ids) >= 3
    doomed = ids[1]
    holder = ManagedProcess(
        "doomed-site",
        [sys.executable, str(HELPERS / "lease_holder.py"), ep, SITE_PREFIX + doomed, "{}", "2"],
        tmp_path / "holder.log",
    )
    hub = HubProc("hub-r", tmp_path, ep, nats_server.url, f"sqlite:///{tmp_path / 'hub-r.db'}")
    async with _registered(ep, [s for s in ids if s != doomed]):
        holder.start()
        try:
            hub.start()
            area = province.sites[0].area_codes[0]
            expected = [s.id for s in province.nearest_sites(area)]

            async def lists_all() -> bool:
                return (await read_routing_map([ep])).get(area) == expected

            await wait_for(f"routing map of {area} to list every site", lists_all, 40, 0.1)
            for code in {c for s in province.sites for c in s.area_codes}:
                want = [s.id for s in province.nearest_sites(code)]
                assert (await read_routing_map([ep]))[code] == want
            assert (await live_sites_for([ep], area)) == expected

            holder.kill()  # the site dies: its lease lapses within the TTL

            async def dropped() -> bool:
                return doomed not in (await read_routing_map([ep])).get(area, [doomed])

            took = await wait_for(f"{doomed} to leave the routing map", dropped, 20, 0.1)
            print(f"\nsite {doomed} left the routing map {took:.2f} s after SIGKILL")
            after = (await read_routing_map([ep]))[area]
            assert after == [s for s in expected if s != doomed]
        finally:
            holder.stop()
            hub.proc.stop()


# -- helpers ------------------------------------------------------------------------------


@asynccontextmanager
async def _registered(endpoint: str, site_ids: list[str]) -> AsyncIterator[None]:
    """Site registrations under one long lease, revoked at the end (no background task)."""
    async with new_client([endpoint]) as client:
        assert client.lease is not None and client.kv is not None
        lease = await client.lease.grant(60, timeout=5)
        try:
            for site_id in site_ids:
                await client.kv.put(
                    SITE_PREFIX + site_id, json.dumps({"site": site_id}), lease=lease.ID, timeout=5
                )
            yield
        finally:
            with suppress(*ETCD_ERRORS):
                await client.lease.revoke(lease.ID, timeout=5)


async def _leads(h: HubProc) -> bool:
    info = await get_info(h.endpoint)
    return info is not None and info.is_leader


async def _has_directory(h: HubProc) -> bool:
    info = await get_info(h.endpoint)
    return info is not None and info.directory_version >= 1


async def _serves(h: HubProc) -> bool:
    return await get_info(h.endpoint) is not None


async def _names_leader(h: HubProc, leader: str) -> bool:
    info = await get_info(h.endpoint)
    return info is not None and info.leader_endpoint == leader


def _count_at_least(
    d: dict[int, int], n: int, writer: asyncio.Task[None]
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        if writer.done():
            writer.result()  # raises the writer's error, if any
        return len(d) >= n

    return check
