"""``vcc bench province``: the whole example province taking calls end to end.

The project's launcher (:class:`~vcc_ops.launcher.ProvinceLauncher`, what ``vcc up`` and
``vcc demo`` use) starts NATS JetStream, etcd, the hub, the five sites and the access
edge, each its own process, on SQLite in a temporary folder, with province time running
``speed`` times the wall clock (``VCC_TIME_SPEED``, as in the demo). Then:

1. **Idle**: ``idle_s`` wall seconds with no agent and no call; CPU per process kind.
2. **Load**: the load generator (:mod:`vcc_ops.bench.province_load`, its own process)
   logs the demo's agent bots in and offers the demo's callers (IVR walk with digits,
   agents answering, wrap-up, 3 % transferred to another city, work orders; Poisson
   arrivals) through the edge at ``rate`` calls per wall second for ``seconds`` seconds,
   then lets the calls in progress end.
3. **Until every CDR is at the hub**: the edge's ledger (every call it placed) against
   the hub's ``cdrs`` table, waited for with a generous timeout.

The measuring window runs from the first caller to the moment every CDR is at the hub
(the bots' logins, whose password hashing is not per call, are outside it). Figures:

* ``province_calls_per_s``: calls that reached an agent per wall second, from the first
  caller to the last offer read by a bot; ``offered_calls_per_s`` beside it;
* ``offer_to_agent_p50_ms`` / ``_p99_ms``: see :mod:`vcc_ops.bench.province_load`;
* ``replication_lag_p50_ms`` / ``_p99_ms``: the hub's ``vcc_hub_replication_lag_seconds``
  histogram over the window (interpolated within its buckets), province seconds divided
  by ``speed``: wall milliseconds;
* ``cpu_ms_per_call``: CPU ms per call placed, per process kind (``site`` is the five
  sites together), ``loadgen`` apart; ``province_cpu_ms_per_call`` their sum without the
  load generator; ``province_cpu_ms_per_call_above_idle`` less what the idle province
  would have used over the window (what the calls themselves cost);
* ``rpcs_per_call`` (gRPC requests the hub, sites and edge handled, by kind in
  ``rpcs_per_call_by_kind``, the most frequent methods in ``top_rpcs_per_call``; the
  bots' ``Login``/``Logout``/``Events`` are per session, apart in ``session_rpcs``) and
  ``events_per_call`` (site events published to JetStream);
* ``idle_cpu_pct``: % of one core per process kind while idle, after ``settle_s`` seconds
  for the start-up work to end (``site`` the five sites together;
  ``idle_cpu_pct_per_process`` divides by the number of processes; ``idle_site_cpu_pct``
  is one site's);
* ``meets_targets``: offer-to-agent p99 under 50 ms and replication lag p99 under 1 s.

Capacity: an agent is busy for about (3 s ring + 120 s talk + 20 s after-call work) /
``speed`` wall seconds per call, so at ``speed`` 30 the example's 410 call-taking agents
answer at most about 85 calls/s (and fewer within the offer-to-agent target).
``capacity_scale`` K runs the example with K times its agents, seats, trunk lines and
IVR ports (K = 5: 2,046 bots, about 340 calls/s at 80 % occupancy); every bot logs in
before the window opens.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from vcc_ops.bench import province_figures as pf
from vcc_ops.bench.province_load import MARK_DRAINED, MARK_STARTED, LoadConfig
from vcc_ops.launcher import ProvinceLauncher, RunState
from vcc_site.edge.ledger import FINAL

OFFER_TARGET_MS = 50.0
LAG_TARGET_MS = 1000.0
CDR_TIMEOUT_S = 180.0
# once per agent session, not per call (the bots log in before the window and out in it)
SESSION_RPCS = frozenset({"Login", "Logout", "Events"})
# a smoke run: a few seconds of light load (``vcc bench province --quick`` and
# ``vcc bench all --quick``)
QUICK: dict[str, Any] = {
    "runs": 1,
    "rate": 6.0,
    "seconds": 4.0,
    "agents_per_site": 10,
    "idle_s": 2.0,
    "settle_s": 1.0,
    "drain_s": 45.0,
}


def _wait_mark(log: Path, mark: str, proc: Any, timeout_s: float) -> None:
    """Until the load generator has printed ``mark`` (it runs in its own process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if log.exists() and mark in log.read_text(errors="replace"):
            return
        if not proc.alive:
            raise RuntimeError(f"the load generator exited: {proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the load generator did not say {mark!r} in {timeout_s:.0f} s")
        time.sleep(0.05)


async def _cdrs_at_hub(edge: str, hub_db: Path, timeout_s: float) -> dict[str, int]:
    """Wait until the hub holds a CDR of every call the edge placed; the tally."""
    from vcc_ops.demo.report import cdr_check, hub_cdr_calls
    from vcc_site.edge.client import EdgeClient

    client = EdgeClient(edge)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            await client.refresh()
            cdrs = await asyncio.to_thread(hub_cdr_calls, hub_db, 0)
            checks = cdr_check(client.ledger, cdrs).values()
            placed = sum(c["placed"] for c in checks)
            at_hub = sum(c["cdrs_at_hub"] for c in checks)
            open_calls = sum(
                1 for x in client.ledger.values() if x.site_id and x.state not in FINAL
            )
            if (at_hub == placed and not open_calls) or time.monotonic() > deadline:
                return {"placed": placed, "cdrs_at_hub": at_hub, "open": open_calls}
            await asyncio.sleep(0.25)
    finally:
        await client.close()


def _idle(state: RunState, idle_s: float) -> dict[str, Any]:
    before = pf.cpu_by_process(state)
    time.sleep(idle_s)  # the window itself: nothing happens in it
    used, count = pf.cpu_per_kind(before, pf.cpu_by_process(state))
    pct = {k: round(v / idle_s * 100, 2) for k, v in used.items()}
    per = {k: round(pct[k] / count[k], 2) for k in pct if count.get(k)}
    return {"idle_cpu_pct": pct, "idle_cpu_pct_per_process": per, "idle_s": idle_s}


def _load(
    launcher: ProvinceLauncher, state: RunState, cfg: LoadConfig, workdir: Path
) -> dict[str, Any]:
    """Run the load generator; the figures of the window it opens."""
    from vcc_ops.infra.process import ManagedProcess

    (workdir / "load.json").write_text(json.dumps(asdict(cfg)))
    out, log = workdir / "load-result.json", workdir / "logs" / "loadgen.out"
    argv = [sys.executable, "-m", "vcc_ops.bench.province_load", str(workdir / "load.json")]
    proc = ManagedProcess("loadgen", [*argv, str(out)], log)
    proc.start()
    try:
        _wait_mark(log, MARK_STARTED, proc, timeout_s=300)
        cpu0, counters0, t0 = pf.cpu_by_process(state), pf.read_counters(state), time.monotonic()
        _wait_mark(log, MARK_DRAINED, proc, timeout_s=cfg.seconds + cfg.drain_s + 120)
        if proc.wait(60) != 0:
            raise RuntimeError(f"the load generator failed: {proc.log_tail()}")
    finally:
        proc.stop(timeout=10)
    load: dict[str, Any] = json.loads(out.read_text())
    hub_db = Path(launcher.workdir) / "data" / "hub.db"
    tally = asyncio.run(_cdrs_at_hub(launcher.edge_endpoint, hub_db, CDR_TIMEOUT_S))
    window_s = time.monotonic() - t0
    used, count = pf.cpu_per_kind(cpu0, pf.cpu_by_process(state))
    return _figures(cfg, load, tally, used, count, counters0, pf.read_counters(state), window_s)


def _figures(
    cfg: LoadConfig,
    load: dict[str, Any],
    tally: dict[str, int],
    used: dict[str, float],
    count: dict[str, int],
    c0: pf.Counters,
    c1: pf.Counters,
    window_s: float,
) -> dict[str, Any]:
    calls = max(1, tally["placed"])
    per_call = {k: round(v * 1000 / calls, 3) for k, v in used.items()}
    per_call["loadgen"] = round(load["loadgen_cpu_s"] * 1000 / calls, 3)
    rpcs = c1.rpcs - c0.rpcs
    session = {k: rpcs.pop(k) for k in list(rpcs) if k.split(" ", 1)[1] in SESSION_RPCS}
    by_kind: dict[str, float] = {k: 0.0 for k in pf.SERVED_KINDS}
    for key, n in rpcs.items():
        by_kind[key.split(" ", 1)[0]] += n
    lag = pf.delta_buckets(c0.lag_buckets, c1.lag_buckets)

    def lag_ms(q: float) -> float | None:
        v = pf.histogram_quantile(q, lag)
        return None if v is None else round(v * 1000 / cfg.speed, 3)

    offer_p99, lag_p99 = load["offer_to_agent_p99_ms"], lag_ms(0.99)
    return {
        "province_calls_per_s": round(load["reached_agent"] / load["reach_window_s"], 2),
        "offered_calls_per_s": round(load["offered"] / load["offering_s"], 2),
        "offer_to_agent_p50_ms": load["offer_to_agent_p50_ms"],
        "offer_to_agent_p99_ms": offer_p99,
        "replication_lag_p50_ms": lag_ms(0.50),
        "replication_lag_p99_ms": lag_p99,
        "meets_targets": bool(
            offer_p99 < OFFER_TARGET_MS and lag_p99 is not None and lag_p99 < LAG_TARGET_MS
        ),
        "province_cpu_ms_per_call": round(sum(used.values()) * 1000 / calls, 3),
        "cpu_ms_per_call": per_call,
        "processes": count,
        "rpcs_per_call": round(sum(rpcs.values()) / calls, 2),
        "rpcs_per_call_by_kind": {k: round(v / calls, 2) for k, v in by_kind.items()},
        "top_rpcs_per_call": {k: round(v / calls, 2) for k, v in rpcs.most_common(12)},
        "session_rpcs": dict(session),
        "events_per_call": round((c1.published - c0.published) / calls, 2),
        "hub_events_applied_per_call": round((c1.applied - c0.applied) / calls, 2),
        "calls": tally["placed"],
        "cdrs_at_hub": tally["cdrs_at_hub"],
        "cdrs_missing": tally["placed"] - tally["cdrs_at_hub"],
        "reached_agent": load["reached_agent"],
        "window_s": round(window_s, 2),
        "scrape_errors": c0.scrape_errors + c1.scrape_errors,
        "load": {k: v for k, v in load.items() if k != "config"},
    }


def _add_idle(result: dict[str, Any], idle: dict[str, Any]) -> None:
    """The idle figures, and the CPU per call above what the idle province would use."""
    result.update(idle)
    idle_cores = sum(idle["idle_cpu_pct"].values()) / 100
    idle_ms = idle_cores * result["window_s"] * 1000 / max(1, result["calls"])
    result["province_cpu_ms_per_call_above_idle"] = round(
        result["province_cpu_ms_per_call"] - idle_ms, 3
    )
    result["idle_site_cpu_pct"] = idle["idle_cpu_pct_per_process"].get("site", 0.0)


def scaled_capacity(example: Path, k: int, out: Path) -> Path:
    """The example province with ``k`` times its agents (every agent group's count),
    seats, trunk lines and IVR ports, written to ``out`` (``k`` = 1: the example itself)."""
    if k < 1:
        raise ValueError("capacity_scale must be at least 1")
    if k == 1:
        return example
    pattern = re.compile(r"(?m)^((?:count|seats|trunk_lines|ivr_ports) = )(\d+)")
    out.write_text(pattern.sub(lambda m: f"{m.group(1)}{int(m.group(2)) * k}", example.read_text()))
    return out


def run_province_bench(
    *,
    rate: float = 50.0,
    seconds: float = 30.0,
    speed: float = 30.0,
    agents_per_site: int | None = None,
    idle_s: float = 10.0,
    settle_s: float = 5.0,
    seed: int = 1,
    drain_s: float = 60.0,
    capacity_scale: int = 1,
) -> dict[str, Any]:
    """One run in a fresh temporary folder; every process is stopped at the end."""
    from vcc_ops.cli import example_province_path

    params: dict[str, Any] = {"rate": rate, "seconds": seconds, "speed": speed}
    params |= {"agents_per_site": agents_per_site, "idle_s": idle_s, "settle_s": settle_s}
    params |= {"seed": seed, "capacity_scale": capacity_scale}
    with tempfile.TemporaryDirectory(prefix="vcc-bench-province-") as tmp:
        workdir = Path(tmp)
        province = scaled_capacity(example_province_path(), capacity_scale, workdir / "p.toml")
        speed_env = {"VCC_TIME_SPEED": str(speed), "VCC_TIME_EPOCH": repr(time.time())}
        launcher = ProvinceLauncher(province, workdir, node_env=speed_env)
        try:
            t0 = time.monotonic()
            state = launcher.start()
            start_s = time.monotonic() - t0
            time.sleep(settle_s)  # let the start-up work (first snapshots, elections) end
            idle = _idle(state, idle_s)
            sites = {n.name.removeprefix("site-"): n.grpc for n in state.nodes if n.kind == "site"}
            cfg = LoadConfig(
                str(province), launcher.edge_endpoint, sites, rate, seconds, speed, seed
            )
            cfg = replace(
                cfg, agents_per_site=agents_per_site, drain_s=drain_s, workdir=str(workdir)
            )
            result = _load(launcher, state, cfg, workdir)
        finally:
            launcher.stop()
    _add_idle(result, idle)
    result["start_s"] = round(start_s, 1)
    result["params"] = params
    return result


MEDIAN_KEYS = (
    "province_calls_per_s",
    "offered_calls_per_s",
    "offer_to_agent_p50_ms",
    "offer_to_agent_p99_ms",
    "replication_lag_p50_ms",
    "replication_lag_p99_ms",
    "province_cpu_ms_per_call",
    "rpcs_per_call",
    "events_per_call",
    "idle_site_cpu_pct",
)


def median_of_runs(runs: int = 1, **kwargs: Any) -> dict[str, Any]:
    """``runs`` runs (seeds seed, seed+1, ...); the median of each headline figure (the
    nested figures are those of the first run)."""
    seed = int(kwargs.pop("seed", 1))
    results = [run_province_bench(seed=seed + i, **kwargs) for i in range(runs)]
    out = dict(results[0])
    for key in MEDIAN_KEYS:
        values = [r[key] for r in results if isinstance(r.get(key), int | float)]
        out[key] = statistics.median(values) if values else None
    out["cdrs_missing"] = sum(r["cdrs_missing"] for r in results)
    out["runs"] = runs
    out["per_run"] = results
    return out
