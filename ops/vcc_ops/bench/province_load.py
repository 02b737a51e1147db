"""The load generator of ``vcc bench province``, run as its own process.

``python -m vcc_ops.bench.province_load CONFIG.json OUT.json``: the demo's callers and
agent bots (:class:`~vcc_ops.traffic.run.ProvinceTraffic`, unchanged) against a running
province. It logs the bots in, prints ``MARK_STARTED`` when the callers start (the
parent's measuring window opens there, after the logins' password hashing), offers
callers for ``seconds`` wall seconds, lets the calls in progress end, prints
``MARK_DRAINED`` and writes what it saw to OUT.json: calls offered and reached, the
offer-to-agent latencies and its own CPU seconds over the window.

Offer-to-agent is measured as in ``vcc bench site``: from just before the caller's request
that puts the call in the queue (the last ``SendDigits`` of the IVR walk, or the
``PlaceCall`` of a code that queues at once) to the moment a bot reads the ``offer`` event
of that call from its stream (the first offer, when a call is offered more than once).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from vcc_domain.province import load_province_file
from vcc_ops.people_secrets import read_sheet
from vcc_ops.target import ops_tls, trunk_tls_of
from vcc_ops.traffic.plan import TrafficConfig
from vcc_ops.traffic.run import ProvinceTraffic
from vcc_proto.channels import use_client_tls, use_trunk_tls

MARK_AGENTS = "PROVINCE-LOAD agents"
MARK_STARTED = "PROVINCE-LOAD started"
MARK_DRAINED = "PROVINCE-LOAD drained"


@dataclass(frozen=True)
class LoadConfig:
    province_file: str
    edge: str
    sites: dict[str, str]  # site id -> gRPC endpoint
    rate: float  # offered calls per wall second
    seconds: float  # wall seconds of offering
    speed: float  # province seconds per wall second (the processes' VCC_TIME_SPEED)
    seed: int = 1
    agents_per_site: int | None = None
    drain_s: float = 60.0
    workdir: str = ""  # the launcher's: the bots sign in with the people's initial secrets


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _say(mark: str, detail: Any = None) -> None:
    print(mark if detail is None else f"{mark} {json.dumps(detail)}", flush=True)


def latencies(traffic: ProvinceTraffic) -> list[float]:
    """Offer-to-agent seconds of every call a bot was offered, sorted."""
    shared = traffic.shared
    return sorted(
        seen - shared.queued_at[call_id]
        for call_id, seen in shared.offer_seen_at.items()
        if call_id in shared.queued_at
    )


async def run_load(cfg: LoadConfig) -> dict[str, Any]:
    province = load_province_file(Path(cfg.province_file))
    if cfg.workdir:  # the province's operator certificate (none when it runs --insecure)
        use_client_tls(ops_tls(Path(cfg.workdir)))
        use_trunk_tls(trunk_tls_of(Path(cfg.workdir)))
    config = TrafficConfig(calls_per_s=cfg.rate, speed=cfg.speed, seed=cfg.seed)
    traffic = ProvinceTraffic(
        province,
        cfg.edge,
        cfg.sites.__getitem__,
        config,
        agents_per_site=cfg.agents_per_site,
        passwords=read_sheet(Path(cfg.workdir)) if cfg.workdir else None,
    )
    counts = await traffic.start_agents()
    _say(MARK_AGENTS, counts)
    cpu0, t0 = _cpu_s(), time.monotonic()
    traffic.start_callers()
    _say(MARK_STARTED)
    await asyncio.sleep(cfg.seconds)
    await traffic.stop_callers()
    offering_s = time.monotonic() - t0
    summary = await traffic.stop(drain_s=cfg.drain_s)
    cpu1 = _cpu_s()
    _say(MARK_DRAINED)
    waits = latencies(traffic)
    seen = traffic.shared.offer_seen_at.values()
    reach_window = (max(seen) - t0) if seen else offering_s
    return {
        "agents_logged_in": counts,
        "offered": summary.offered,
        "offering_s": round(offering_s, 3),
        "reached_agent": len(waits),
        "reach_window_s": round(reach_window, 3),
        "offer_to_agent_p50_ms": round(_percentile(waits, 0.50) * 1000, 3),
        "offer_to_agent_p99_ms": round(_percentile(waits, 0.99) * 1000, 3),
        "offer_to_agent_max_ms": round(waits[-1] * 1000, 3) if waits else 0.0,
        "edge_states": summary.states,
        "counters": summary.counters,
        "error_samples": summary.errors[:5],
        "undrained": summary.undrained,
        "loadgen_cpu_s": round(cpu1 - cpu0, 3),
        "wall_s": round(summary.wall_s, 3),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m vcc_ops.bench.province_load CONFIG.json OUT.json", file=sys.stderr)
        return 2
    cfg = LoadConfig(**json.loads(Path(argv[0]).read_text()))
    result = asyncio.run(run_load(cfg))
    result["config"] = asdict(cfg)
    Path(argv[1]).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
