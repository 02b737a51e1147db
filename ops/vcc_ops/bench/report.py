"""``vcc bench report``: CDR ingestion into the aggregates, and a month's province report.

Generated CDRs of one month (default ``2026-10``; see :mod:`vcc_ops.bench.report_data`)
of the example province. Figures (each named in the result's ``measures``):

* **Ingestion** (``ingest_cdrs_per_s``): the hub's real aggregation path on a sample of
  ``ingest_sample_cdrs`` calls (``--ingest-sample``; all of them when fewer) arriving at
  the month's rate, i.e. the first ``ingest_span_h`` hours of a month of ``cdrs`` calls,
  with the agent state changes around each answered call (``ingest_events``). The rows the
  events component keeps for them are written untimed; then :meth:`Aggregator.step` runs
  until all is counted — SQL reads of CDRs and agent states, figures per interval and
  agent, rating, and the upserts of interval, agent, charge and roll-up rows and of the
  cursor, one fenced transaction per step — on a real SQLite hub database (WAL).
* **Report** (``report_s``): a hub database holding what the hub keeps for all ``cdrs``
  calls — interval and agent-interval aggregates, their roll-ups, charge sums and (unless
  ``--no-charges``) one ``call_charges`` row per call — filled fast by bulk inserts
  (``build_s``, not a figure of the hub). Then the hub's path of ``Reports.GetReport`` for
  the province view of the month is timed: :func:`store.load` (SQLAlchemy + aiosqlite),
  :func:`views.build` and :func:`render.render` as JSON; ``report_load_s`` and
  ``report_build_render_s`` split it. Median of ``runs``. ``report_views_s`` times the
  other views once each, ``statement_s`` the month's provisional statement.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vcc_domain.province import Province
from vcc_domain.rating import period_bounds_ms
from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import Cdr, StatsConfig
from vcc_hub.service.aggregator import target_of
from vcc_hub.service.report_render import render
from vcc_hub.service.report_views import build
from vcc_hub.store import reports as store
from vcc_ops.bench.report_data import build_report_db, example_province, generate
from vcc_ops.bench.report_ingest import ingest
from vcc_replication.db import make_engine

__all__ = ["example_province", "generate", "median_of_runs", "report_once", "run"]

INGEST_SAMPLE = 200_000
MEASURES = {
    "ingest_cdrs_per_s": "calls counted per second of wall time by the hub's aggregation "
    "steps (reads, figures, rating, upserts, cursor; SQLite) over the "
    "ingest sample, agent state events included",
    "ingest_events_per_s": "site events (CDRs and agent state changes) per second, same run",
    "report_s": "median wall seconds of the hub's GetReport path (load + build + render "
    "JSON) for the province view of the month over the report database",
    "report_load_s": "median seconds of store.load (database reads) in report_s",
    "report_build_render_s": "median seconds of views.build + render in report_s",
    "report_views_s": "seconds of one GetReport path per other view, over the month",
    "statement_s": "seconds to read the month's provisional settlement statement",
    "build_s": "seconds to generate the report database (bulk inserts; not a hub figure)",
}


async def report_once(
    path: Path, province: Province, lo: int, hi: int, config: StatsConfig, view: str = "province"
) -> tuple[float, float, bytes]:
    """The hub's ``GetReport`` path on the database at ``path``: (load s, build+render s,
    JSON content)."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            loaded = await store.load(conn, lo, hi, [], per_interval_agents=view == "interval")
        t1 = time.perf_counter()
        data = build(view, loaded, target_of(province), SqiConfig(), config.interval_ms, lo, hi)
        content = render(data, "json")
        t2 = time.perf_counter()
    finally:
        await engine.dispose()
    return t1 - t0, t2 - t1, content


async def statement_once(path: Path, province: Province, period: str) -> float:
    engine = make_engine(f"sqlite:///{path}")
    try:
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            await store.statement(conn, period, province)
        return time.perf_counter() - t0
    finally:
        await engine.dispose()


def ingest_sample(
    province: Province, period: str, cdrs: int, sample: int, seed: int
) -> tuple[list[Cdr], int]:
    """``sample`` calls at the rate of ``cdrs`` a month, and the span they arrive in (ms)."""
    lo, hi = period_bounds_ms(period)
    span = (hi - lo) * sample // max(1, cdrs)
    calls = [
        c for chunk in generate(province, period, sample, seed + 1, span_ms=span) for c in chunk
    ]
    return calls, span


def run(
    cdrs: int,
    seed: int = 1,
    runs: int = 3,
    period: str = "2026-10",
    charges: bool = True,
    workdir: Path | None = None,
    sample: int = INGEST_SAMPLE,
) -> dict[str, Any]:
    province = example_province()
    config = StatsConfig()
    lo, hi = period_bounds_ms(period)
    with tempfile.TemporaryDirectory(prefix="vcc-bench-report-", dir=workdir) as tmp:
        calls, span = ingest_sample(province, period, cdrs, min(cdrs, sample), seed)
        ingested = ingest(calls, province, Path(tmp) / "ingest.db", config)
        del calls
        path = Path(tmp) / "report.db"
        built = build_report_db(path, province, period, cdrs, seed, config, charges)
        timed: list[tuple[float, float]] = []
        content = b""
        for _ in range(max(1, runs)):
            load_s, build_s, content = asyncio.run(report_once(path, province, lo, hi, config))
            timed.append((load_s, build_s))
        views = {}
        for view in ("site", "agent", "interval"):
            a, b, _ = asyncio.run(report_once(path, province, lo, hi, config, view))
            views[view] = round(a + b, 3)
        statement_s = asyncio.run(statement_once(path, province, period))
        db_bytes = path.stat().st_size
    return {
        "cdrs": built.cdrs,
        "period": period,
        "sites": len(province.sites),
        "ingest_sample_cdrs": ingested.cdrs,
        "ingest_events": ingested.events,
        "ingest_span_h": round(span / 3_600_000, 2),
        "ingest_steps": ingested.steps,
        "ingest_s": round(ingested.seconds, 3),
        "ingest_cdrs_per_s": round(ingested.cdrs / ingested.seconds, 1),
        "ingest_events_per_s": round(ingested.events / ingested.seconds, 1),
        "interval_rows": built.interval_rows,
        "agent_interval_rows": built.agent_interval_rows,
        "rollup_rows": built.rollup_rows,
        "charge_rows": built.charge_rows,
        "build_s": round(built.seconds, 1),
        "report_s": round(statistics.median(a + b for a, b in timed), 3),
        "report_load_s": round(statistics.median(a for a, _ in timed), 3),
        "report_build_render_s": round(statistics.median(b for _, b in timed), 3),
        "report_views_s": views,
        "statement_s": round(statement_s, 3),
        "report_bytes": len(content),
        "db_bytes": db_bytes,
        "runs": max(1, runs),
        "aggregated_totals": {"offered": built.offered, "answered": built.answered},
        "measures": MEASURES,
        "report": content.decode(),
    }


def median_of_runs(
    cdrs: int,
    seed: int,
    runs: int,
    period: str = "2026-10",
    charges: bool = True,
    sample: int = INGEST_SAMPLE,
) -> dict[str, Any]:
    """One ingestion sample and one report database; the report is timed ``runs`` times
    (median)."""
    result = run(cdrs=cdrs, seed=seed, runs=runs, period=period, charges=charges, sample=sample)
    result.pop("report")
    result["report_runs"] = result.pop("runs")
    result["ingest_runs"] = 1
    return result
