"""The launcher starts real servers, stops them without orphans, and the wiring is real:
JetStream keeps events across a restart, an etcd lease dies with its holder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from etcd3aio import Etcd3Client
from sqlalchemy import create_engine, text

from vcc_failover.lease import LeaseKeeper, get_prefix, wait_for_key_gone
from vcc_ops.infra import EtcdServer, Infrastructure, NatsServer
from vcc_replication.jetstream import connect

pytestmark = pytest.mark.integration

HELPERS = Path(__file__).parent / "_helpers"
GENEROUS_S = 60.0


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_for(condition: object, timeout: float = GENEROUS_S, what: str = "condition") -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        time.sleep(0.1)


def run_helper(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(HELPERS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def start_helper(script: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start a helper and return it with its first output line (its READY line)."""
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        assert proc.stderr is not None
        pytest.fail(f"{script} exited early:\n{proc.stderr.read()}")
    return proc, line.strip()


async def check_nats(url: str) -> None:
    nc = await connect(url, "test-infra")
    try:
        info = await nc.jetstream().account_info()
        assert info.streams == 0
    finally:
        await nc.close()


async def check_etcd(endpoint: str) -> None:
    async with Etcd3Client([endpoint]) as client:
        assert client.kv is not None
        await client.kv.put("/vcc/test/hello", "world")
        response = await client.kv.get("/vcc/test/hello")
        assert response.kvs[0].value == b"world"


def check_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
    finally:
        engine.dispose()


def test_launcher_starts_real_servers_and_leaves_no_process(tmp_path: Path) -> None:
    with Infrastructure(tmp_path, postgres=True) as infra:
        asyncio.run(check_nats(infra.nats_url))
        asyncio.run(check_etcd(infra.etcd_endpoints[0]))
        assert infra.postgres is not None and infra.postgres_url is not None
        check_postgres(infra.postgres_url)
        check_postgres(infra.postgres.create_database("site_kunming"))
        leaders = [infra.nats.pid, infra.etcd.pid, infra.postgres.pid]
        pids = [pid for pid in leaders if pid is not None]
        pids += [c.pid for c in psutil.Process(infra.postgres.pid).children(recursive=True)]
        assert len(pids) > 3
    assert all(gone(pid) for pid in pids), [p for p in pids if not gone(p)]
    infra.stop()  # idempotent


def test_launcher_stops_what_it_started_when_the_block_fails(tmp_path: Path) -> None:
    infra = Infrastructure(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), infra:
        pids = [infra.nats.pid, infra.etcd.pid]
        raise RuntimeError("boom")
    assert all(gone(pid) for pid in pids if pid is not None)


def test_event_published_by_one_process_is_consumed_by_another_after_restart(
    nats_server: NatsServer,
) -> None:
    count = 25
    out = run_helper("js_publisher.py", nats_server.url, "EVENTS", "events.test", str(count))
    assert out.startswith(f"PUBLISHED {count} {count}")
    old_pid = nats_server.pid

    nats_server.restart()
    assert nats_server.pid != old_pid

    args = (nats_server.url, "EVENTS", "auditor", "events.test", str(count))
    out = run_helper("js_consumer.py", *args)
    ids = [line.split()[1] for line in out.splitlines() if line.startswith("MSG ")]
    assert out.rstrip().endswith("DONE")
    assert sorted(ids) == sorted(f"evt-{i}" for i in range(count))  # all, exactly once


def test_lease_of_a_sigkilled_holder_expires_and_its_key_disappears(
    etcd_server: EtcdServer,
) -> None:
    key = "/vcc/test/sites/kunming"
    holder, ready = start_helper("lease_holder.py", etcd_server.endpoint, key, "up", "2")
    try:
        assert ready.startswith("READY")
        present = asyncio.run(get_prefix([etcd_server.endpoint], key))
        assert present == {key: "up"}
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        asyncio.run(wait_for_key_gone([etcd_server.endpoint], key, within_s=30))
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_child_of_a_sigkilled_parent_does_not_outlive_it(tmp_path: Path) -> None:
    parent, line = start_helper("spawning_parent.py", str(tmp_path / "sleeper.log"))
    child_pid = int(line.split()[1])
    try:
        assert not gone(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        wait_for(lambda: gone(child_pid), what=f"child {child_pid} gone")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if not gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)


async def wait_until_async(condition: object, within_s: float = GENEROUS_S) -> None:
    assert callable(condition)
    async with asyncio.timeout(within_s):
        while not await condition():  # noqa: ASYNC110 - polls etcd
            await asyncio.sleep(0.1)


async def test_lease_keeper_keeps_its_key_across_etcd_restart_and_lease_loss(
    etcd_server: EtcdServer,
) -> None:
    endpoints = [etcd_server.endpoint]
    key = "/vcc/test/hub/leader"
    keeper = LeaseKeeper(endpoints, key, "hub-a", ttl_s=2)
    await keeper.start()

    async def key_held() -> bool:
        return keeper.healthy and (await get_prefix(endpoints, key)).get(key) == "hub-a"

    try:
        etcd_server.restart()  # blocks the loop a moment, like a pause of the holder
        await wait_until_async(key_held)

        lost_lease = keeper.lease_id
        async with Etcd3Client(endpoints) as client:  # as if etcd had expired the lease
            assert client.lease is not None and lost_lease is not None
            await client.lease.revoke(lost_lease)
        await wait_until_async(key_held)
        assert keeper.lease_id != lost_lease
        assert keeper.registrations >= 2
    finally:
        await keeper.stop()
    assert key not in await get_prefix(endpoints, key)
