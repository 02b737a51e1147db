"""``vcc bench report``: CDR ingestion into the interval aggregates, and a month's province
report over the stored aggregates.

One month (default ``2026-10``) of deterministic, generated CDRs (``random.Random(seed)``,
produced in chunks so 10 million never sit in memory at once) over the example province's
sites (agents per site = its seats), businesses and tiers; arrivals spread over the month.

* **Ingestion** (``ingest_cdrs_per_s``): per chunk, exactly the in-memory work of the
  hub's aggregation step — :func:`vcc_domain.stats.aggregate_cdrs` (figures per site ×
  business × tier × 15-min interval, and per agent), :func:`merge_into` the running
  aggregates, and :func:`vcc_domain.rating.rate_cdr` + :func:`settle_into` per CDR.
  Generating the CDRs and writing the charges to the database are *not* timed; nor is the
  hub's per-step upsert of aggregate rows (see the figures ``aggregate_rows``).
* **Report** (``report_s``): the aggregates (``report_intervals``, ``report_agents``) and
  one ``call_charges`` row per CDR — the hub's own tables — are written to a real SQLite
  file; then the hub's path of ``Reports.GetReport`` is timed: :func:`store.load` over the
  month (SQLAlchemy + aiosqlite), :func:`views.build` of the province view and
  :func:`render.render` as JSON. ``report_load_s`` and ``report_build_render_s`` split it.
  ``report_without_charges_s`` is the same path over a second database holding the
  aggregates only (no per-call charges: the settlement chart then is empty), to show
  what the per-call charges cost the report. Runs of the report: the median is reported.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from vcc_domain.province import Province, load_province_file
from vcc_domain.rating import Charge, period_bounds_ms, rate_cdr, settle_into
from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import (
    AGENT_FIELDS,
    FIGURE_FIELDS,
    AgentFigures,
    AgentKey,
    Cdr,
    Figures,
    StatKey,
    StatsConfig,
    aggregate_cdrs,
    merge_into,
)
from vcc_hub.reports import store
from vcc_hub.reports import tables as t
from vcc_hub.reports.aggregator import target_of, tariff_of
from vcc_hub.reports.render import render
from vcc_hub.reports.views import build

CHUNK = 100_000
OUTCOMES = (("answered", 80), ("abandoned", 12), ("lost", 2), ("ivr_hangup", 3),
            ("overflowed_out", 2), ("transferred_out", 1))


def example_province() -> Province:
    return load_province_file(Path(__file__).resolve().parents[1] / "examples" / "yunnan.toml")


def generate(province: Province, period: str, count: int, seed: int,
             chunk: int = CHUNK) -> Iterator[list[Cdr]]:
    """``count`` CDRs arriving in ``period``, in chunks (deterministic for a seed)."""
    rnd = random.Random(seed)
    lo, hi = period_bounds_ms(period)
    span = hi - lo - 3_600_000  # every call ends inside the month
    sites = [s.id for s in province.sites]
    seats = {s.id: max(1, s.seats) for s in province.sites}
    site_weights = [seats[s] for s in sites]
    businesses = [b.id for b in province.businesses]
    tiers = list(province.tiers.order)
    tier_weights = [1 if tr == "vip" else 4 for tr in tiers]
    outcomes = [o for o, _ in OUTCOMES]
    outcome_weights = [w for _, w in OUTCOMES]
    made = 0
    while made < count:
        n = min(chunk, count - made)
        site_of = rnd.choices(sites, site_weights, k=n)
        business_of = rnd.choices(businesses, k=n)
        tier_of = rnd.choices(tiers, tier_weights, k=n)
        outcome_of = rnd.choices(outcomes, outcome_weights, k=n)
        out: list[Cdr] = []
        for i in range(n):
            num = made + i
            site = site_of[i]
            outcome = outcome_of[i]
            home = site if rnd.random() < 0.9 else sites[rnd.randrange(len(sites))]
            at = lo + rnd.randrange(span)
            wait = rnd.randrange(0, 60_000)
            answered = outcome == "answered"
            talk = rnd.randrange(10_000, 600_000) if answered else 0
            ring = rnd.randrange(1_000, 8_000) if answered else 0
            agent = f"{site}-{rnd.randrange(seats[site]) + 1:04d}" if answered else ""
            out.append(Cdr(
                call_id=f"call_{num:08d}", site_id=site, home_site=home, entry_site=home,
                business_id=business_of[i], tier=tier_of[i], outcome=outcome,
                arrival_at_ms=at, answered_at_ms=at + wait if answered else 0,
                ended_at_ms=at + wait + talk, wait_ms=wait, ring_ms=ring, talk_ms=talk,
                hold_ms=0, agent_id=agent, transferred=answered and num % 20 == 0,
                overflowed=site != home, cdr_id=f"cdr_{num:08d}"))
        made += n
        yield out


def _charge_row(ch: Charge, now_ms: int) -> tuple[Any, ...]:
    return (*astuple(ch), now_ms)


CHARGE_COLUMNS = [*(f.name for f in fields(Charge)), "rated_at_ms"]


def _create(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine)
    engine.dispose()


def _insert_aggregates(path: Path, stats: dict[StatKey, Figures],
                       agents: dict[AgentKey, AgentFigures], now_ms: int) -> None:
    db = sqlite3.connect(path)
    with db:
        cols = ["site_id", "business_id", "tier", "interval_start_ms", *FIGURE_FIELDS]
        db.executemany(f"INSERT INTO report_intervals ({','.join(cols)}) VALUES "
                       f"({','.join('?' * len(cols))})",
                       [(*k, *astuple(f)) for k, f in stats.items()])
        acols = ["site_id", "agent_id", "interval_start_ms", *AGENT_FIELDS]
        db.executemany(f"INSERT INTO report_agents ({','.join(acols)}) VALUES "
                       f"({','.join('?' * len(acols))})",
                       [(*k, *astuple(a)) for k, a in agents.items()])
        db.execute("INSERT INTO report_cursor (site, seq, updated_at_ms) VALUES (?, ?, ?)",
                   ("KM", 1, now_ms))
    db.close()


async def _report_once(path: Path, province: Province, lo: int, hi: int,
                       config: StatsConfig) -> tuple[float, float, bytes]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            loaded = await store.load(conn, lo, hi, [])
        t1 = time.perf_counter()
        data = build("province", loaded, target_of(province), SqiConfig(),
                     config.interval_ms, lo, hi)
        content = render(data, "json")
        t2 = time.perf_counter()
    finally:
        await engine.dispose()
    return t1 - t0, t2 - t1, content


def run(cdrs: int, seed: int = 1, runs: int = 3, period: str = "2026-10",
        charges: bool = True, workdir: Path | None = None) -> dict[str, Any]:
    province = example_province()
    config = StatsConfig()
    target = target_of(province)
    tariff = tariff_of(province)
    lo, hi = period_bounds_ms(period)
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory(prefix="vcc-bench-report-",
                                     dir=workdir) as tmp:
        full, bare = Path(tmp) / "full.db", Path(tmp) / "aggregates.db"
        _create(full)
        _create(bare)
        stats: dict[StatKey, Figures] = {}
        agents: dict[AgentKey, AgentFigures] = {}
        ingest_s = 0.0
        generated = 0
        db = sqlite3.connect(full)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        insert = (f"INSERT INTO call_charges ({','.join(CHARGE_COLUMNS)}) VALUES "
                  f"({','.join('?' * len(CHARGE_COLUMNS))})")
        for chunk in generate(province, period, cdrs, seed):
            t0 = time.perf_counter()
            s, a = aggregate_cdrs(chunk, target, config)
            merge_into(stats, s)
            merge_into(agents, a)
            rated = [settle_into(rate_cdr(c, tariff), ()) for c in chunk]
            ingest_s += time.perf_counter() - t0
            generated += len(chunk)
            if charges:
                with db:
                    db.executemany(insert, (_charge_row(ch, now_ms) for ch in rated))
        db.close()
        _insert_aggregates(full, stats, agents, now_ms)
        _insert_aggregates(bare, stats, agents, now_ms)
        full_runs: list[tuple[float, float]] = []
        bare_runs: list[float] = []
        content = b""
        for _ in range(max(1, runs)):
            load_s, build_s, content = asyncio.run(_report_once(full, province, lo, hi, config))
            full_runs.append((load_s, build_s))
            b_load, b_build, _ = asyncio.run(_report_once(bare, province, lo, hi, config))
            bare_runs.append(b_load + b_build)
        db_bytes = full.stat().st_size
    totals = {"offered": sum(f.offered for f in stats.values()),
              "answered": sum(f.answered for f in stats.values())}
    return {
        "cdrs": generated,
        "period": period,
        "sites": len(province.sites),
        "aggregate_rows": len(stats) + len(agents),
        "interval_rows": len(stats),
        "agent_interval_rows": len(agents),
        "charge_rows": generated if charges else 0,
        "ingest_s": round(ingest_s, 3),
        "ingest_cdrs_per_s": round(generated / ingest_s, 1) if ingest_s else None,
        "report_s": round(statistics.median(a + b for a, b in full_runs), 3),
        "report_load_s": round(statistics.median(a for a, _ in full_runs), 3),
        "report_build_render_s": round(statistics.median(b for _, b in full_runs), 3),
        "report_without_charges_s": round(statistics.median(bare_runs), 3),
        "report_bytes": len(content),
        "db_bytes": db_bytes,
        "runs": max(1, runs),
        "aggregated_totals": totals,
        "report": content.decode(),
    }


def median_of_runs(cdrs: int, seed: int, runs: int, period: str = "2026-10",
                   charges: bool = True) -> dict[str, Any]:
    """One generation and ingestion pass; the report is timed ``runs`` times (median)."""
    result = run(cdrs=cdrs, seed=seed, runs=runs, period=period, charges=charges)
    result.pop("report")
    result["report_runs"] = result.pop("runs")
    result["ingest_runs"] = 1
    return result
