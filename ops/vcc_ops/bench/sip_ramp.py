"""The pure part of ``vcc bench sip``'s ramp: one step's figures from SIPp's response
times, whether the step was sustained, and the highest sustained step.

SIPp (``-trace_rtt -rtt_freq 1``) writes one row per call and timer: ``date_ms;rtt_ms;name``
where ``date_ms`` is when the timer stopped (ms since SIPp started) and every timer
starts with the call's INVITE. The caller's scenario has three: ``pdd`` (INVITE -> 180),
``setup`` (INVITE -> 200, the site answered) and ``done`` (INVITE -> the BYE that
released the line: the caller went through the IVR, waited, was answered by an agent's
phone that talked and hung up). A call without a ``done`` row failed (a 503, a lost
message, SIPp's timeout).

A step is *sustained* when every call of it completed and the site kept up: calls were
completed as fast as they were offered (the middle 90 % of completions, so that one late
straggler on a noisy machine does not decide), and a call's life at the end of the step
was not longer than at its start by more than :data:`GROWTH_LIMIT_MS` (a backlog of
calls waiting somewhere grows it at any rate above what the parts can serve).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

KEEP_UP = 0.95  # completions per second, at least this share of the offered rate
GROWTH_LIMIT_MS = 500.0  # a call's life, last quarter against first quarter (p50)


@dataclass(frozen=True)
class Row:
    date_ms: float
    rtt_ms: float
    name: str

    @property
    def start_ms(self) -> float:
        return self.date_ms - self.rtt_ms


def parse_rtt(lines: Iterable[str]) -> list[Row]:
    """Rows of a SIPp ``_rtt.csv`` (its header and malformed lines skipped)."""
    rows: list[Row] = []
    for line in lines:
        parts = line.strip().split(";")
        if len(parts) < 3:
            continue
        with contextlib.suppress(ValueError):
            rows.append(Row(float(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rate_per_s(times_ms: Sequence[float]) -> float:
    """Events per second over the middle 90 % of ``times_ms``."""
    ordered = sorted(times_ms)
    if len(ordered) < 2:
        return 0.0
    low, high = int(0.05 * len(ordered)), max(int(0.95 * len(ordered)) - 1, 1)
    if high <= low or ordered[high] <= ordered[low]:
        return 0.0
    return (high - low) * 1000.0 / (ordered[high] - ordered[low])


def _life_growth_ms(done: Sequence[Row]) -> float:
    """p50 of a call's life (INVITE -> BYE) in the step's last quarter of calls minus in
    its first quarter, the calls in the order they were offered."""
    by_start = sorted(done, key=lambda r: r.start_ms)
    quarter = len(by_start) // 4
    if quarter == 0:
        return 0.0
    first = [r.rtt_ms for r in by_start[:quarter]]
    last = [r.rtt_ms for r in by_start[-quarter:]]
    return percentile(last, 0.5) - percentile(first, 0.5)


def step_figures(rows: Sequence[Row], calls: int, rate: float) -> dict[str, Any]:
    """One step of ``calls`` offered at ``rate`` per second: its figures and verdict."""
    named: dict[str, list[Row]] = {}
    for row in rows:
        named.setdefault(row.name, []).append(row)
    done = named.get("done", [])
    pdd = [r.rtt_ms for r in named.get("pdd", [])]
    setup = [r.rtt_ms for r in named.get("setup", [])]
    completed = min(len(done), calls)
    offered_per_s = _rate_per_s([r.start_ms for r in done])
    completed_per_s = _rate_per_s([r.date_ms for r in done])
    growth = _life_growth_ms(done)
    failed = calls - completed
    sustained = (
        failed == 0
        and completed_per_s >= KEEP_UP * rate
        and growth <= GROWTH_LIMIT_MS
    )  # fmt: skip
    return {
        "rate_per_s": rate,
        "calls": calls,
        "completed": completed,
        "failed": failed,
        "offered_per_s": round(offered_per_s, 2),
        "completed_per_s": round(completed_per_s, 2),
        "pdd_p50_ms": percentile(pdd, 0.5),
        "pdd_p99_ms": percentile(pdd, 0.99),
        "setup_p50_ms": percentile(setup, 0.5),
        "setup_p99_ms": percentile(setup, 0.99),
        "call_p50_ms": percentile([r.rtt_ms for r in done], 0.5),
        "call_p99_ms": percentile([r.rtt_ms for r in done], 0.99),
        "call_growth_p50_ms": round(growth, 1),
        "sustained": sustained,
    }


def ramp_rates(start: float, step: float, top: float) -> list[float]:
    """``start``, ``start + step`` ... up to ``top`` (inclusive)."""
    if start <= 0 or step <= 0 or top < start:
        raise ValueError("rates: need 0 < start <= top and step > 0")
    rates: list[float] = []
    rate = start
    while rate <= top + 1e-9:
        rates.append(round(rate, 3))
        rate += step
    return rates


def summary(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline: the highest sustained step's figures (zeros when none was)."""
    held = [s for s in steps if s["sustained"]]
    best = max(held, key=lambda s: s["rate_per_s"]) if held else None
    if best is None:
        return {
            "sip_calls_per_s": 0.0,
            "sustained_rate_per_s": 0.0,
            "pdd_p99_ms": 0.0,
            "setup_p99_ms": 0.0,
            "cpu_ms_per_call": {},
            "cpu_bound_calls_per_s": 0.0,
        }
    return {
        "sip_calls_per_s": best["completed_per_s"],
        "sustained_rate_per_s": best["rate_per_s"],
        "pdd_p99_ms": best["pdd_p99_ms"],
        "setup_p99_ms": best["setup_p99_ms"],
        "cpu_ms_per_call": best.get("cpu_ms_per_call", {}),
        "cpu_bound_calls_per_s": best.get("cpu_bound_calls_per_s", 0.0),
    }
