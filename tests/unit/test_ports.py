"""Ports handed out to one vcc process are not handed to another, and a health check
that names a pid refuses an answer from a different process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcc_proto import ports
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.server import GrpcHost, ServedByAnother, check_health

CHILD = (
    "import json; from vcc_proto.ports import free_port; "
    "print(json.dumps([free_port() for _ in range(20)]))"
)


@pytest.fixture
def shared_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "reservations"
    monkeypatch.setenv("VCC_PORT_RESERVATIONS", str(directory))
    monkeypatch.setattr(ports, "_handed_out", set())
    return directory


def test_a_port_another_process_was_handed_is_skipped(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "VCC_PORT_RESERVATIONS": str(shared_dir)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    theirs: list[int] = json.loads(out.stdout)
    # The kernel offers this process exactly the other process's ports first.
    offered: Iterator[int] = iter(theirs)
    real = ports._kernel_port
    monkeypatch.setattr(ports, "_kernel_port", lambda host: next(offered, None) or real(host))
    mine = {ports.free_port() for _ in range(5)}
    assert not mine & set(theirs)
    assert all((shared_dir / str(p)).exists() for p in mine)


def test_an_old_reservation_is_taken_over(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_dir.mkdir()
    old, recent = shared_dir / "40001", shared_dir / "40002"
    for path in (old, recent):
        path.write_text("1\n")
    long_ago = time.time() - ports.RESERVATION_S - 60
    os.utime(old, (long_ago, long_ago))
    offered = iter([40002, 40001])
    monkeypatch.setattr(ports, "_kernel_port", lambda host: next(offered))
    assert ports.free_port() == 40001
    assert time.time() - old.stat().st_mtime < ports.RESERVATION_S


async def test_health_with_a_pid_refuses_another_process() -> None:
    state = NodeState(kind="hub", site_id="", node_id="hub-1")
    host = GrpcHost("127.0.0.1", 0, [node_service(NodeInfoServicer(state))])
    port = await host.start()
    try:
        await host.set_serving(True)
        target = f"127.0.0.1:{port}"
        assert await check_health(target, timeout_s=5.0, pid=os.getpid())
        assert await check_health(target, timeout_s=5.0)
        with pytest.raises(ServedByAnother, match=str(os.getpid())):
            await check_health(target, timeout_s=5.0, pid=os.getpid() + 100_000)
    finally:
        await host.stop()
