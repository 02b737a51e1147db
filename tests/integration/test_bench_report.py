"""``vcc bench report`` on a small month: the report's totals equal the generated CDRs.

Correctness only (never timing): 10,000 generated CDRs (the size of ``vcc bench all
--quick``) fill the report database, a sample goes through the hub's real aggregation
steps, and the province report is read through the hub's load → build → render path; the
province row of the JSON report must count every generated CDR, the per-site rows must
add up to it, and the figures must match a direct count over the same generated CDRs. The benchmark's fast sums equal the domain's
aggregation functions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from vcc_domain.stats import StatsConfig, aggregate_cdrs, aggregate_spans, merge_into
from vcc_hub.domain.rollups import CHARGE_BUCKET_MS, sum_charges
from vcc_hub.service.aggregator import charge_row
from vcc_hub.store.report_tables import call_charges
from vcc_ops.bench.report import example_province, generate, run
from vcc_ops.bench.report_data import Sums, wrapup_spans

N = 10_000


def test_bench_report_totals_equal_generated_cdrs(tmp_path: Path) -> None:
    result = run(cdrs=N, seed=3, runs=1, workdir=tmp_path, sample=2_000)
    assert result["cdrs"] == N == result["charge_rows"]
    assert result["ingest_sample_cdrs"] == 2_000 < result["ingest_events"]
    assert result["aggregated_totals"]["offered"] == N
    assert 0 < result["interval_rows"] <= N and 0 < result["rollup_rows"]
    for name in ("ingest_cdrs_per_s", "ingest_events_per_s", "report_s", "statement_s"):
        assert result[name] > 0
    assert set(result["report_views_s"]) == {"site", "agent", "interval"}
    assert "report_s" in result["measures"] and "ingest_cdrs_per_s" in result["measures"]

    report = json.loads(result["report"])
    rows = {r["site"]: r for r in report["rows"]}
    province = example_province()
    expected_sites = Counter[str]()
    answered = abandoned = 0
    for chunk in generate(province, "2026-10", N, seed=3):
        expected_sites.update(c.site_id for c in chunk)
        answered += sum(c.answered_at_ms > 0 for c in chunk)
        abandoned += sum(c.outcome == "abandoned" for c in chunk)
    assert rows["PROVINCE"]["offered"] == N
    assert rows["PROVINCE"]["answered"] == answered
    assert rows["PROVINCE"]["abandoned"] + rows["PROVINCE"]["short_abandoned"] == abandoned
    assert {s: r["offered"] for s, r in rows.items() if s != "PROVINCE"} == dict(expected_sites)
    assert rows["PROVINCE"]["avg_acw_s"] is not None
    statement = report["charts"]["statement"]
    assert statement["calls"] == N
    assert sum(p["net_fen"] for p in statement["positions"]) == 0


def test_bench_sums_equal_the_domain_aggregation() -> None:
    """The report database's fast sums are the figures the aggregator would compute."""
    province = example_province()
    config = StatsConfig()
    cdrs = [c for chunk in generate(province, "2026-10", 5_000, seed=5) for c in chunk]
    sums = Sums(province, config)
    rated = sums.add(cdrs[:2_000]) + sums.add(cdrs[2_000:])
    stats, agents = aggregate_cdrs(cdrs, sums.target, config)
    merge_into(agents, aggregate_spans(wrapup_spans(cdrs), config))
    assert sums.figures() == (stats, agents)
    assert sums.buckets == sum_charges(rated, CHARGE_BUCKET_MS)
    assert set(charge_row(rated[0], 1)) == {c.name for c in call_charges.columns}
