"""What ``vcc bench province`` reads from the running processes: CPU and Prometheus counters.

* CPU: user + system seconds of every process the launcher knows (psutil on its pids,
  children included), summed per process kind (site, hub, edge, nats, etcd).
* Counters, scraped from each hub, site and edge ``/metrics``: gRPC requests handled
  (``grpc_server_handled_total``, by process kind and method), site events published to
  JetStream (``vcc_site_events_published_total``), events applied at the hub
  (``vcc_hub_events_applied_total``) and the hub's replication-lag histogram
  (``vcc_hub_replication_lag_seconds``, per-site series summed).

A snapshot is taken at each end of a window; the figures are the differences.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass, field

import psutil

from vcc_ops.demo.wallboard import scrape
from vcc_ops.launcher import RunState

CPU_KINDS = ("site", "hub", "edge", "nats", "etcd")
SERVED_KINDS = ("site", "hub", "edge")  # processes with a /metrics endpoint of ours
# counter families as the text parser names them (the samples end in ``_total``)
RPCS = "grpc_server_handled"
PUBLISHED = "vcc_site_events_published"
APPLIED = "vcc_hub_events_applied"
LAG = "vcc_hub_replication_lag_seconds"


def cpu_by_process(state: RunState) -> dict[str, tuple[str, float]]:
    """name -> (kind, CPU seconds so far) of every live process of the province."""
    out: dict[str, tuple[str, float]] = {}
    for node in state.nodes:
        if not node.pid:
            continue
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(node.pid)
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
            out[node.name] = (node.kind, total)
    return out


def cpu_per_kind(
    before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]]
) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds used between two snapshots per kind, and how many processes each."""
    used: dict[str, float] = {k: 0.0 for k in CPU_KINDS}
    count: dict[str, int] = {k: 0 for k in CPU_KINDS}
    for name, (kind, end) in after.items():
        start = before.get(name, (kind, end))[1]
        used[kind] = used.get(kind, 0.0) + max(0.0, end - start)
        count[kind] = count.get(kind, 0) + 1
    return used, count


@dataclass
class Counters:
    """Cumulative counters of the province at one moment."""

    rpcs: Counter[str] = field(default_factory=Counter)  # "kind method" -> handled
    published: float = 0.0
    applied: float = 0.0
    lag_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    scrape_errors: int = 0


def read_counters(state: RunState) -> Counters:
    out = Counters()
    for node in state.nodes:
        if node.kind not in SERVED_KINDS or not node.metrics:
            continue
        try:
            got = scrape(node.metrics, [RPCS, PUBLISHED, APPLIED, LAG], timeout_s=5.0)
        except Exception:
            out.scrape_errors += 1
            continue
        for x in got[RPCS]:
            if x.name == f"{RPCS}_total":
                out.rpcs[f"{node.kind} {x.labels.get('grpc_method', '?')}"] += x.value
        out.published += sum(x.value for x in got[PUBLISHED] if x.name == f"{PUBLISHED}_total")
        out.applied += sum(x.value for x in got[APPLIED] if x.name == f"{APPLIED}_total")
        for x in got[LAG]:
            if x.name == f"{LAG}_bucket":
                le = float(x.labels["le"])
                out.lag_buckets[le] = out.lag_buckets.get(le, 0.0) + x.value
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated within its bucket as
    Prometheus's ``histogram_quantile`` does; None when it holds no observation."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower  # beyond the last finite bound: its lower edge
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def delta_buckets(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}
