"""`vcc up` brings up a real province as separate processes and leaves nothing behind.

The tests that leave the province running share one `vcc up`; the two that stop it (Ctrl-C,
SIGKILL of the CLI) come last, and the second gets a fresh one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vcc_ops.launch_tls import authz_refusals
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

pytestmark = pytest.mark.integration

VCC = [sys.executable, "-m", "vcc_ops.cli"]
START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 90.0


def _status(workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [*VCC, "status", "--workdir", str(workdir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout) if out.stdout.strip() else {"running": False, "nodes": []}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def _all_healthy(workdir: Path, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"vcc up exited early with {proc.returncode}")
    if not (workdir / "state.json").exists():
        return False  # written once every process is started: no `vcc status` before
    report = _status(workdir)
    nodes = report.get("nodes", [])
    services = [n for n in nodes if n["kind"] in ("hub", "site")]
    return bool(
        report.get("running")
        and len(services) >= 5
        and all(n["health"] == "healthy" for n in nodes)
    )


class _Province:
    """The module's `vcc up`: started on first use, shared by the tests that leave it
    running, and started again (in a fresh work directory) after a test stopped it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = tmp

    def running(self) -> tuple[subprocess.Popen[bytes], Path]:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        assert self.proc is not None
        return self.proc, self.workdir

    def start(self) -> None:
        self.starts += 1
        self.workdir = self.tmp / f"run-{self.starts}"
        with (self.tmp / f"vcc-up-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [*VCC, "up", "--workdir", str(self.workdir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc, workdir = self.proc, self.workdir
        try:
            _wait_until(lambda: _all_healthy(workdir, proc), START_TIMEOUT_S, "a healthy province")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None


@pytest.fixture(scope="module")
def _province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Province]:
    province = _Province(tmp_path_factory.mktemp("vcc-up"))
    try:
        yield province
    finally:
        province.stop()


@pytest.fixture
def province_up(_province: _Province) -> tuple[subprocess.Popen[bytes], Path]:
    """A running `vcc up`: the module's, unless a previous test stopped it (the tests that
    stop it come last)."""
    return _province.running()


def _pids(workdir: Path) -> dict[str, int]:
    return {n["name"]: n["pid"] for n in _status(workdir)["nodes"]}


def _gateways(workdir: Path) -> dict[str, int]:
    """Each site's web gateway process (a child of the site serving its pages)."""
    sites = [n for n in _status(workdir)["nodes"] if n["kind"] == "site"]
    found = {
        f"gateway-{n['name']}": child.pid
        for n in sites
        for child in psutil.Process(n["pid"]).children()
        if "vcc_site.web.gateway" in child.cmdline()
    }
    assert len(found) == len(sites), f"one web gateway per site: {found}"
    return found


def _client(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VCC_HUB", "VCC_ETCD", "VCC_NATS")}
    return subprocess.run(
        [*VCC, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def test_client_commands_find_the_province_from_its_state_file(
    province_up: tuple[subprocess.Popen[bytes], Path],
    tmp_path: Path,
) -> None:
    """No --hub/--etcd/--nats: the running province's etcd (random port) and NATS come from
    the state file, by --workdir or from the default `.vcc` of the current folder."""
    _proc, workdir = province_up
    here = tmp_path / "operator"
    here.mkdir()
    (here / ".vcc").symlink_to(workdir)
    board = _client("board", "--json", cwd=here)
    assert board.returncode == 0, board.stderr
    assert {row["site"] for row in json.loads(board.stdout)["live"]} >= {"KM", "DL"}
    sites = _client("directory", "--workdir", str(workdir), "list", "site", "--json", cwd=tmp_path)
    assert sites.returncode == 0, sites.stderr
    assert "KM" in sites.stdout
    balanced = _client("report", "reconcile", "2026-11", "--json", cwd=here)
    assert balanced.returncode == 0, balanced.stdout + balanced.stderr
    assert json.loads(balanced.stdout)["balanced"] is True
    letters = _client("events", "dead-letters", "--json", cwd=here)
    assert letters.returncode == 0, letters.stderr
    assert json.loads(letters.stdout) == []
    figures = _client("workorders", "figures", "--json", cwd=here)
    assert figures.returncode == 0, figures.stderr
    # a folder without a state file falls back to the default ports, where nothing runs
    elsewhere = _client(
        "report",
        "reconcile",
        "2026-11",
        "--json",
        "--workdir",
        str(tmp_path / "empty"),
        cwd=tmp_path,
    )
    assert elsewhere.returncode == 3, elsewhere.stdout + elsewhere.stderr


def _plaintext_health(target: str) -> grpc.StatusCode | None:
    """None when a plaintext gRPC health check is answered, else the failure's code."""

    async def ask() -> grpc.StatusCode | None:
        async with grpc.aio.insecure_channel(target) as channel:
            try:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            except grpc.aio.AioRpcError as err:
                return err.code()
        return None

    return asyncio.run(ask())


def _republish_as_operator(target: str, workdir: Path) -> grpc.StatusCode | None:
    """Ask a site to re-publish events (a hub's request) with the operator certificate."""

    async def ask() -> grpc.StatusCode | None:
        tls = ClientTls(workdir / "pki" / "ops-vcc-ops")
        async with tls.channel(target) as channel:
            try:
                await sg.RemoteStub(channel).RepublishEvents(
                    s.RepublishEventsRequest(from_seq=1, to_seq=1), timeout=10
                )
            except grpc.aio.AioRpcError as err:
                return err.code()
        return None

    return asyncio.run(ask())


def test_only_mutual_tls_is_served_and_the_health_check_presents_the_node_certificate(
    province_up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """Without --insecure every hub, site and edge refuses a plaintext client and checks
    each caller against the authorization table (the operator may not ask a site to
    re-publish its events: PERMISSION_DENIED, counted); the image's HEALTHCHECK (`python -m vcc_ops.healthcheck`) passes with the process's own
    certificate directory (VCC_TLS_DIR) and fails without it or where nothing serves."""
    _proc, workdir = province_up
    report = _status(workdir)
    assert report["grpc_security"] == "mutual TLS"
    services = [n for n in report["nodes"] if n["kind"] in ("hub", "site", "edge")]
    for node in services:
        assert _plaintext_health(node["grpc"]) == grpc.StatusCode.UNAVAILABLE, node["name"]
    site = next(n for n in services if n["kind"] == "site")
    assert _republish_as_operator(site["grpc"], workdir) == grpc.StatusCode.PERMISSION_DENIED
    refused = authz_refusals({site["name"]: site["metrics"]})
    assert refused == {f"{site['name']} /vcc_proto.v1.Remote/RepublishEvents PERMISSION_DENIED": 1}
    hub = next(n for n in services if n["kind"] == "hub")
    hub_dir = workdir / "pki" / "hub-hub-1"

    def check(port: str, tls_dir: Path | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "VCC_TLS_DIR"}
        env["VCC_GRPC_PORT"] = port
        if tls_dir is not None:
            env["VCC_TLS_DIR"] = str(tls_dir)
        return subprocess.run(
            [sys.executable, "-m", "vcc_ops.healthcheck"], env=env, capture_output=True, timeout=60
        ).returncode

    port = hub["grpc"].rsplit(":", 1)[1]
    assert check(port, hub_dir) == 0
    assert check(port, None) == 1
    from vcc_ops.infra import free_port

    assert check(str(free_port()), hub_dir) == 1


def test_up_runs_hub_sites_nats_etcd_and_ctrl_c_stops_all(
    province_up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, workdir = province_up
    report = _status(workdir)
    kinds = [n["kind"] for n in report["nodes"]]
    assert kinds.count("hub") == 1 and kinds.count("site") >= 4
    assert "nats" in kinds and "etcd" in kinds
    assert kinds.count("edge") == 1, "the access edge is a process of its own"
    pids = _pids(workdir)
    assert len(set(pids.values())) == len(pids), "every node is its own OS process"
    pids |= _gateways(workdir)  # stopped by their sites

    site = next(n for n in report["nodes"] if n["kind"] == "site")
    with urllib.request.urlopen(f"http://{site['metrics']}/metrics", timeout=10) as resp:
        assert b"vcc_site_up" in resp.read()
    edge = next(n for n in report["nodes"] if n["kind"] == "edge")
    assert edge["health"] == "healthy"
    with urllib.request.urlopen(f"http://{edge['metrics']}/metrics", timeout=10) as resp:
        assert b"vcc_edge_calls_placed_total" in resp.read()

    proc.send_signal(signal.SIGINT)
    proc.wait(STOP_TIMEOUT_S)
    _wait_until(
        lambda: all(_gone(p) for p in pids.values()), STOP_TIMEOUT_S, "all processes to stop"
    )
    assert not (workdir / "state.json").exists()


def test_sigkill_of_vcc_up_leaves_no_orphan(
    province_up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, workdir = province_up
    pids = _pids(workdir)
    assert len(pids) >= 7
    pids |= _gateways(workdir)  # killed with their sites
    proc.send_signal(signal.SIGKILL)  # only the CLI itself, not its process group
    proc.wait(30)
    _wait_until(
        lambda: all(_gone(p) for p in pids.values()),
        STOP_TIMEOUT_S,
        "every child to die with the CLI",
    )


def test_insecure_up_serves_plaintext_and_warns(tmp_path: Path) -> None:
    """`vcc up --insecure` (one site) serves plaintext gRPC, says so at start, and every
    process logs the warning."""
    workdir, log_path = tmp_path / "run", tmp_path / "vcc-up.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*VCC, "up", "--insecure", "--sites", "KM", "--workdir", str(workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until(lambda: _running(workdir, proc), START_TIMEOUT_S, "a healthy province")
        assert "PLAINTEXT" in log_path.read_text()
        report = _status(workdir)
        assert report["grpc_security"] == "PLAINTEXT (--insecure)"
        services = [n for n in report["nodes"] if n["kind"] in ("hub", "site", "edge")]
        assert len(services) == 3
        for node in services:
            assert _plaintext_health(node["grpc"]) is None, node["name"]
            assert "PLAINTEXT (--insecure)" in Path(node["log"]).read_text(), node["name"]
        assert not (workdir / "pki").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(STOP_TIMEOUT_S)


def _running(workdir: Path, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"vcc up exited early with {proc.returncode}")
    report = _status(workdir)
    nodes = report.get("nodes", [])
    return bool(report.get("running") and nodes and all(n["health"] == "healthy" for n in nodes))
