"""`vcc directory` against a real hub process: read, change, and refuse bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._helpers import tls as test_tls
from vcc_ops.cli import example_province_path
from vcc_ops.infra import ManagedProcess, NatsServer, free_port
from vcc_proto.server import check_health

VCC = [sys.executable, "-m", "vcc_ops.cli"]


@pytest.fixture
def hub(tmp_path: Path, nats_server: NatsServer) -> Iterator[str]:
    port = free_port()
    argv = [
        *VCC,
        "hub",
        "--province",
        str(example_province_path()),
        "--data-dir",
        str(tmp_path / "hub"),
        "--nats",
        nats_server.url,
        "--etcd",
        "",
        "--grpc-port",
        str(port),
        "--node-id",
        "hub-cli",
        "--log-file",
        str(tmp_path / "hub.log"),
        *test_tls.node_args("hub", "hub-cli"),
    ]
    proc = ManagedProcess("hub", argv, tmp_path / "hub.out")
    proc.start()
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not asyncio.run(check_health(target, timeout_s=1.0, pid=proc.pid)):
        assert proc.alive, proc.log_tail()
        assert time.monotonic() < deadline, "hub not healthy in time"
        time.sleep(0.2)
    try:
        yield target
    finally:
        proc.stop()


def directory(hub: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VCC, "directory", "--hub", hub, "--operator", "test", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=test_tls.ops_env(),
    )


def _listed(hub: str, kind: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while True:  # the hub imports the province file in the background on first start
        out = directory(hub, "list", kind, "--json")
        if out.returncode == 0:
            listed = json.loads(out.stdout)["entities"]
            if listed:
                return list(listed)
        assert time.monotonic() < deadline, out.stderr
        time.sleep(0.3)


def test_directory_cli_reads_changes_and_refuses_bad_input(hub: str) -> None:
    sites = _listed(hub, "site")
    assert {"KM", "QJ", "DL", "YX"} <= {str(s["id"]) for s in sites}

    assigned = directory(hub, "assign", "complaint", "--sites", "KM,DL")
    assert assigned.returncode == 0, assigned.stderr
    shown = directory(hub, "show", "business", "complaint")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["accepting_sites"] == ["KM", "DL"]

    unknown = directory(hub, "assign", "complaint", "--sites", "KM,ZZ")
    assert unknown.returncode == 2
    assert "ZZ" in unknown.stderr
    missing = directory(hub, "remove", "site", "KM")  # agents still refer to it
    assert missing.returncode == 2 and "KM" in missing.stderr
    after = directory(hub, "show", "business", "complaint")
    assert json.loads(after.stdout)["accepting_sites"] == ["KM", "DL"], "nothing changed"
