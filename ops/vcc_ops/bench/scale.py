"""``vcc bench scale``: one hub serving N light sites, for N = 5, 16, 64 (by simulation).

This machine cannot hold 64 real sites, so for each N: real NATS JetStream and etcd, one
real ``vcc hub`` process on the example province grown to N cities
(:mod:`vcc_ops.bench.scale_province`), and N light sites (:mod:`vcc_ops.bench.scale_sites`:
the real relay, directory sync, etcd lease and figures reports of a site, no ACD) run as
asyncio tasks in ``ceil(N / sites_per_process)`` processes. Three phases per N:

1. **idle** (``idle_s``): N sites connected, no events;
2. **events**: ``calls_per_s`` answered calls per second for the whole province, spread
   evenly over the N sites (five events each: queued, agent busy, answered, ended, CDR),
   for ``seconds`` s, until the hub has applied every event. The total rate is the same
   for every N, so what changes with N is the number of sites, not the load;
3. **directory**: ``changes`` agent changes at the hub, one every 1 s + 50 ms per site
   (so that one change has reached every light site before the next, the light sites
   validating each version on this machine's two cores).

Figures per N:

* ``hub_idle_cpu_pct``: the hub's CPU (% of one core) in phase 1 (leases, routing map,
  figures reports, the relays' status questions);
* ``hub_cpu_ms_per_event``: the hub's CPU in phase 2 less its idle rate, per event;
  ``hub_cpu_pct_load`` its whole share in phase 2; ``hub_saturation_events_per_s`` the
  event rate at which the hub's one core would be busy, (100 % - idle) / CPU per event;
* ``replication_lag_p50_ms`` / ``_p99_ms``: per event, the hub inbox's apply time less
  the event's time (site commit → outbox → relay → JetStream → hub), wall clock;
* ``change_to_all_sites_p50_ms`` / ``_p99_ms``: from just before ``ApplyChange`` at the
  hub to the last light site applying that version (``change_to_first_site_p50_ms``:
  the first); ``hub_cpu_ms_per_change`` the hub's CPU per change less its idle rate;
* ``routing_map_bytes`` (keys and values of ``/vcc/routing/*``), ``routing_map_areas``,
  ``routing_refresh_ms`` (median time of one edge ``RouteCache`` refresh: the map and
  the registrations in one etcd transaction), ``routing_compute_ms`` (median time of the
  hub's pure map computation, done every 250 ms by the leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
import psutil

from vcc_ops.bench.scale_province import scaled_province, site_ids
from vcc_ops.bench.scale_sites import (
    GO_SIGNAL,
    MARK_PRODUCED,
    MARK_READY,
    STOP_SIGNAL,
    SitesConfig,
)

START_TIMEOUT_S = 300.0
Snapshot = tuple[float, dict[str, float]]  # (monotonic time, CPU seconds per kind)
Worker = tuple[Any, Path, Path]  # (process, log, result file)


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _signal(proc: Any, sig: signal.Signals) -> None:
    if proc.alive and proc.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def _wait_log(log: Path, mark: str, proc: Any, timeout_s: float) -> str:
    """The first line of ``log`` holding ``mark`` (waited for)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith(mark):
                    return line
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited: {proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not say {mark!r} in {timeout_s:.0f} s")
        time.sleep(0.05)


def _inbox(db: Path) -> list[tuple[int, int]]:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT at_ms, applied_at_ms FROM inbox").fetchall()
    except sqlite3.OperationalError:
        return []


def _wait_applied(db: Path, total: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(db, timeout=30) as conn:
            got = int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
            if got >= total or time.monotonic() > deadline:
                return got
        time.sleep(0.2)


async def _routing(etcd: list[str], province: Any, n: int, timeout_s: float) -> dict[str, Any]:
    """Once every area lists all N sites: the map's size and what reading it costs."""
    from etcd3aio import prefix_range_end

    from vcc_failover.lease import new_client
    from vcc_failover.routing_map import RouteCache, compute_routing
    from vcc_proto.names import ROUTING_PREFIX

    deadline = time.monotonic() + timeout_s
    async with new_client(etcd) as client:
        assert client.kv is not None
        while True:
            got = await client.kv.get(ROUTING_PREFIX, range_end=prefix_range_end(ROUTING_PREFIX))
            full = [kv for kv in got.kvs if len(json.loads(kv.value)["sites"]) == n]
            if len(full) == len(got.kvs) > 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    size = sum(len(kv.key) + len(kv.value) for kv in got.kvs)
    cache = RouteCache(etcd, refresh_s=0.0)  # every look-up re-reads: the refresh itself
    area = next(iter(sorted(kv.key.decode() for kv in got.kvs))).removeprefix(ROUTING_PREFIX)
    reads = []
    for _ in range(20):
        t0 = time.perf_counter()
        await cache.live_sites_for(area)
        reads.append((time.perf_counter() - t0) * 1000)
    await cache.close()
    ids = [s.id for s in province.sites]
    computes = []
    for _ in range(20):
        t0 = time.perf_counter()
        compute_routing(province, ids)
        computes.append((time.perf_counter() - t0) * 1000)
    return {
        "routing_map_areas": len(got.kvs),
        "routing_map_complete": len(full) == len(got.kvs),
        "routing_map_bytes": size,
        "routing_refresh_ms": round(statistics.median(reads), 3),
        "routing_compute_ms": round(statistics.median(computes), 3),
    }


async def _changes(hub: str, count: int, every_s: float) -> list[tuple[int, float]]:
    """``count`` agent changes at the hub, one every ``every_s``; (version, time sent)."""
    from vcc_ops.bench.directory import agent_change
    from vcc_proto.v1 import common_pb2 as c
    from vcc_proto.v1 import hub_pb2 as h
    from vcc_proto.v1 import hub_pb2_grpc as hg

    sent: list[tuple[int, float]] = []
    await asyncio.sleep(every_s)  # the last events' apply settles first
    async with grpc.aio.insecure_channel(hub) as channel:
        stub = hg.DirectoryStub(channel)
        for i in range(count):
            change = agent_change("SCALE-01", f"Scale agent {i}", {"billing": 1 + i % 5})
            t0 = time.time()
            reply = await stub.ApplyChange(
                h.ApplyChangeRequest(changes=[change], actor=c.Actor(operator="vcc-bench")),
                timeout=10.0,
            )
            sent.append((int(reply.version), t0))
            await asyncio.sleep(every_s)
    return sent


def _change_latencies(
    sent: list[tuple[int, float]], applied: dict[str, dict[str, float]]
) -> tuple[list[float], int, list[float]]:
    """Per change: ms until the last site had that version (or a later one); how many
    (change, site) pairs never got there; and ms until the first site had it."""
    last_ms, missing, first_ms = [], 0, []
    for version, t0 in sent:
        reached = []
        for versions in applied.values():
            times = [t for v, t in versions.items() if int(v) >= version]
            if times:
                reached.append(min(times) - t0)
            else:
                missing += 1
        if reached:
            last_ms.append(max(reached) * 1000)
            first_ms.append(min(reached) * 1000)
    return last_ms, missing, first_ms


def _start_workers(
    root: Path, ids: list[str], per_process: int, base: dict[str, Any]
) -> list[Worker]:
    """The light-site processes; (process, log, result file) each."""
    from vcc_ops.infra.process import ManagedProcess

    workers = []
    groups = math.ceil(len(ids) / per_process)
    for g in range(groups):
        cfg = SitesConfig(sites=ids[g::groups], **base)
        conf, out, log = root / f"sites-{g}.json", root / f"sites-{g}.out.json", root / f"w{g}.log"
        conf.write_text(json.dumps(asdict(cfg)))
        argv = [sys.executable, "-m", "vcc_ops.bench.scale_sites", str(conf), str(out)]
        proc = ManagedProcess(f"light-sites-{g}", argv, log)
        proc.start()
        workers.append((proc, log, out))
    return workers


def run_scale_one(
    n: int,
    *,
    calls_per_s: float = 20.0,
    seconds: float = 20.0,
    changes: int = 5,
    idle_s: float = 5.0,
    sites_per_process: int = 16,
) -> dict[str, Any]:
    """One hub and ``n`` light sites in a fresh temporary folder."""
    from vcc_domain.province import load_province_file
    from vcc_ops.bench.directory import HubNode
    from vcc_ops.cli import example_province_path
    from vcc_ops.infra.stack import Infrastructure

    with tempfile.TemporaryDirectory(prefix="vcc-bench-scale-") as tmp:
        root = Path(tmp)
        province_file = scaled_province(example_province_path(), n, root / "province.toml")
        province = load_province_file(province_file)
        with Infrastructure(root / "infra") as infra:
            etcd = list(infra.etcd_endpoints)
            hub = HubNode(root, province_file, infra.nats_url, ",".join(etcd)).start()
            base = {
                "province_file": str(province_file),
                "nats_url": infra.nats_url,
                "etcd": etcd,
                "data_dir": str(root),
                "calls_per_site_s": calls_per_s / n,
                "seconds": seconds,
            }
            workers = _start_workers(root, site_ids(n), sites_per_process, base)
            try:
                return _measure(n, root, hub, infra, workers, province, changes, idle_s, seconds)
            finally:
                for proc, _log, _out in workers:
                    _signal(proc, STOP_SIGNAL)
                    proc.wait(30)
                    proc.stop(timeout=10)
                hub.stop()


class _Cpu:
    """CPU seconds of the hub, NATS, etcd and the light-site processes."""

    def __init__(self, hub: Any, infra: Any, workers: list[Worker]) -> None:
        self.pids = {
            "hub": [hub.proc.pid],
            "nats": [s.pid for s in infra.nats_servers],
            "etcd": [m.pid for m in infra.etcd_members],
            "light_sites": [p.pid for p, _l, _o in workers],
        }

    def now(self) -> Snapshot:
        return time.monotonic(), {k: sum(_cpu_s(p) for p in v) for k, v in self.pids.items()}


def _share(a: Snapshot, b: Snapshot) -> dict[str, float]:
    """Cores used per kind between two snapshots."""
    return {k: (b[1][k] - a[1][k]) / (b[0] - a[0]) for k in a[1]}


def _events(workers: list[Worker], hub_db: Path, seconds: float) -> tuple[int, int]:
    """Phase 2: the light sites' events until the hub applied them; (produced, applied)."""
    for proc, _log, _out in workers:
        _signal(proc, GO_SIGNAL)
    produced = 0
    for proc, log, _out in workers:
        produced += int(_wait_log(log, MARK_PRODUCED, proc, seconds + 120).split()[-1])
    return produced, _wait_applied(hub_db, produced, timeout_s=180)


def _applied_at(workers: list[Worker]) -> dict[str, dict[str, float]]:
    """Stop the light sites; when each applied each directory version."""
    for proc, _log, _out in workers:
        _signal(proc, STOP_SIGNAL)
    at: dict[str, dict[str, float]] = {}
    for proc, _log, out in workers:
        proc.wait(60)
        with contextlib.suppress(OSError, ValueError):
            at.update(json.loads(out.read_text())["applied_at"])
    return at


def _measure(
    n: int,
    root: Path,
    hub: Any,
    infra: Any,
    workers: list[Worker],
    province: Any,
    changes: int,
    idle_s: float,
    seconds: float,
) -> dict[str, Any]:
    t_start = time.monotonic()
    for proc, log, _out in workers:
        _wait_log(log, MARK_READY, proc, START_TIMEOUT_S)
    ready_s = time.monotonic() - t_start
    routing = asyncio.run(_routing(list(infra.etcd_endpoints), province, n, timeout_s=60))
    cpu = _Cpu(hub, infra, workers)
    c0 = cpu.now()
    time.sleep(idle_s)  # phase 1, idle: sites connected, no events
    c1 = cpu.now()
    produced, applied = _events(workers, root / "hub.db", seconds)
    c2 = cpu.now()
    gap_s = 1.0 + 0.05 * n  # one change is everywhere before the next (see the module doc)
    sent = asyncio.run(_changes(hub.target, changes, gap_s))  # phase 3, the directory
    c3 = cpu.now()
    dir_ms, dir_missing, first_ms = _change_latencies(sent, _applied_at(workers))
    lags = [float(done - made) for made, done in _inbox(root / "hub.db")]
    idle, load, directory = _share(c0, c1), _share(c1, c2), _share(c2, c3)
    window = c2[0] - c1[0]
    per_event = (load["hub"] - idle["hub"]) * window * 1000 / max(1, applied)
    per_change = (directory["hub"] - idle["hub"]) * (c3[0] - c2[0]) * 1000 / max(1, len(sent))
    return {
        "sites": n,
        "events_produced": produced,
        "events_applied": applied,
        "events_per_s": round(applied / window, 1),
        "hub_idle_cpu_pct": round(idle["hub"] * 100, 2),
        "hub_cpu_pct_load": round(load["hub"] * 100, 2),
        "hub_cpu_ms_per_event": round(per_event, 4),
        "hub_saturation_events_per_s": round((1 - idle["hub"]) * 1000 / per_event)
        if per_event > 0
        else None,
        "replication_lag_p50_ms": round(_pct(lags, 0.50), 1),
        "replication_lag_p99_ms": round(_pct(lags, 0.99), 1),
        "change_to_first_site_p50_ms": round(_pct(first_ms, 0.50), 1),
        "change_to_all_sites_p50_ms": round(_pct(dir_ms, 0.50), 1),
        "change_to_all_sites_p99_ms": round(_pct(dir_ms, 0.99), 1),
        "hub_cpu_ms_per_change": round(per_change, 2),
        "changes": len(sent),
        "change_gap_s": gap_s,
        "change_site_pairs_missing": dir_missing,
        **routing,
        "idle_cpu_pct": {k: round(v * 100, 2) for k, v in idle.items()},
        "load_cpu_pct": {k: round(v * 100, 2) for k, v in load.items()},
        "window_s": round(window, 2),
        "ready_s": round(ready_s, 1),
        "light_site_processes": len(workers),
    }


def run_scale(sites: list[int], **kwargs: Any) -> dict[str, Any]:
    """Every N in turn; the rows and the growth from the smallest N to each."""
    rows = [run_scale_one(n, **kwargs) for n in sites]
    first = rows[0]
    for row in rows:
        ratio = row["sites"] / first["sites"]
        row["growth_vs_first"] = {
            key: round(row[key] / first[key], 2) if first.get(key) else None
            for key in (
                "hub_idle_cpu_pct",
                "hub_cpu_ms_per_event",
                "routing_map_bytes",
                "routing_refresh_ms",
                "routing_compute_ms",
                "change_to_all_sites_p99_ms",
            )
        }
        row["sites_ratio"] = ratio
    return {"params": {"sites": sites, **kwargs}, "rows": rows}
