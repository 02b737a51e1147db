"""``vcc bench directory``: from a change committed at the hub to applied at every site.

Starts real NATS JetStream and etcd, one hub process and N site processes (each site is
pointed at the hub with ``--hub``), then applies ``changes`` agent changes at the hub one
after another and, for each, polls every site's ``Node.GetInfo`` until all of them report
the new directory version. Reported: ``change_to_all_sites_p50_ms`` / ``_p99_ms`` (from
just before ApplyChange to the last site seen at the version; the polling interval of
5 ms is included), ``changes`` and ``sites``.

:class:`HubNode` and :class:`SiteNode` (process starters) are shared with the tests.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from vcc_ops.infra.ports import free_port
from vcc_ops.infra.process import ManagedProcess
from vcc_ops.infra.stack import Infrastructure
from vcc_proto.server import check_health
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import node_pb2 as n
from vcc_proto.v1 import node_pb2_grpc as ng

START_TIMEOUT_S = 120.0
BENCH_SITES = ("KM", "QJ", "DL", "YX", "HH")


def _wait_healthy(proc: ManagedProcess, target: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not asyncio.run(check_health(target, timeout_s=1.0, pid=proc.pid)):
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited: {proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not healthy after {timeout_s:.0f} s")
        time.sleep(0.2)


class HubNode:
    """A hub process on SQLite in ``workdir``."""

    def __init__(self, workdir: Path, province: Path, nats_url: str, etcd: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = workdir / "hub.log"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "hub",
            "--insecure",  # measured without TLS
            "--province",
            str(province),
            "--data-dir",
            str(workdir / "hub-data"),
            "--nats",
            nats_url,
            "--etcd",
            etcd,
            "--db",
            f"sqlite:///{workdir / 'hub.db'}",
            "--grpc-port",
            str(self.port),
            "--node-id",
            "hub-1",
            "--log-file",
            str(self.log),
        ]
        self.proc = ManagedProcess("hub-1", argv, workdir / "hub.out")

    def start(self) -> HubNode:
        self.proc.start()
        _wait_healthy(self.proc, self.target)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)


class SiteNode:
    """A site process on SQLite in ``workdir``, told where the hub is."""

    def __init__(
        self,
        workdir: Path,
        site: str,
        province: Path,
        nats_url: str,
        etcd: str,
        hub: str,
        customers: int = 20,
    ) -> None:
        self.site = site
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = workdir / f"site-{site}.log"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "site",
            "--insecure",  # measured without TLS
            "--site",
            site,
            "--province",
            str(province),
            "--data-dir",
            str(workdir / f"data-{site}"),
            "--nats",
            nats_url,
            "--etcd",
            etcd,
            "--hub",
            hub,
            "--db",
            f"sqlite:///{workdir / f'site-{site}.db'}",
            "--grpc-port",
            str(self.port),
            "--seed-customers",
            str(customers),
            "--node-id",
            f"site-{site}",
            "--log-file",
            str(self.log),
        ]
        self.proc = ManagedProcess(f"site-{site}", argv, workdir / f"site-{site}.out")

    def start(self) -> SiteNode:
        self.proc.start()
        _wait_healthy(self.proc, self.target)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)


async def directory_version(channel: grpc.aio.Channel, timeout_s: float = 2.0) -> int:
    info = await ng.NodeStub(channel).GetInfo(n.GetInfoRequest(), timeout=timeout_s)
    return int(info.directory_version)


def agent_change(
    agent_id: str, name: str, skills: dict[str, int], home_site: str = "KM"
) -> h.DirectoryChange:
    """Upsert of an explicit specialist agent (file form, as JSON)."""
    entity = {
        "id": agent_id,
        "name": name,
        "home_site": home_site,
        "role": "specialist",
        "skills": skills,
    }
    return h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=h.ENTITY_KIND_AGENT,
        entity_id=agent_id,
        entity_json=json.dumps(entity).encode(),
    )


async def _measure(hub: str, sites: list[str], changes: int) -> list[float]:
    hub_channel = grpc.aio.insecure_channel(hub)
    channels = [grpc.aio.insecure_channel(t) for t in sites]
    stub = hg.DirectoryStub(hub_channel)
    actor = c.Actor(operator="vcc-bench")
    try:
        latencies: list[float] = []
        for i in range(changes):
            change = agent_change(
                "BENCH-01", f"Bench agent {i}", {"billing": 1 + i % 5, "fault": 1 + (i + 2) % 5}
            )
            started = time.perf_counter()
            reply = await stub.ApplyChange(
                h.ApplyChangeRequest(changes=[change], actor=actor), timeout=10.0
            )
            pending = list(channels)
            deadline = time.monotonic() + 30.0
            while pending:
                versions = await asyncio.gather(*(directory_version(ch) for ch in pending))
                pending = [ch for ch, v in zip(pending, versions, strict=True) if v < reply.version]
                if pending:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"version {reply.version} not at every site in 30 s")
                    await asyncio.sleep(0.005)
            latencies.append((time.perf_counter() - started) * 1000.0)
        return latencies
    finally:
        for ch in [hub_channel, *channels]:
            await ch.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def run_directory_bench(
    sites: int = 4, changes: int = 200, workdir: Path | None = None
) -> dict[str, Any]:
    """One run: a fresh province (NATS, etcd, hub, ``sites`` sites), ``changes`` changes."""
    if not 1 <= sites <= len(BENCH_SITES):
        raise ValueError(f"sites must be 1..{len(BENCH_SITES)}")
    from vcc_ops.cli import example_province_path

    with tempfile.TemporaryDirectory(prefix="vcc-bench-dir-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        province = example_province_path()
        with Infrastructure(root / "infra") as infra:
            etcd = ",".join(infra.etcd_endpoints)
            hub = HubNode(root, province, infra.nats_url, etcd).start()
            nodes: list[SiteNode] = []
            try:
                for site in BENCH_SITES[:sites]:
                    nodes.append(
                        SiteNode(root, site, province, infra.nats_url, etcd, hub.target).start()
                    )
                # One warm-up change (connections, first subscription) is not measured.
                asyncio.run(_measure(hub.target, [s.target for s in nodes], 1))
                latencies = asyncio.run(_measure(hub.target, [s.target for s in nodes], changes))
            finally:
                for node in nodes:
                    node.stop()
                hub.stop()
    return {
        "change_to_all_sites_p50_ms": round(statistics.median(latencies), 2),
        "change_to_all_sites_p99_ms": round(_percentile(latencies, 0.99), 2),
        "changes": changes,
        "sites": sites,
    }


def median_of_runs(runs: int = 3, sites: int = 4, changes: int = 200) -> dict[str, Any]:
    results = [run_directory_bench(sites=sites, changes=changes) for _ in range(runs)]
    out: dict[str, Any] = {
        key: round(statistics.median(r[key] for r in results), 2)
        for key in ("change_to_all_sites_p50_ms", "change_to_all_sites_p99_ms")
    }
    out.update({"changes": changes, "sites": sites, "runs": runs, "per_run": results})
    return out
