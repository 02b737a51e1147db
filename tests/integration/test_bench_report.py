"""``vcc bench report`` on a small month: the report's totals equal the generated CDRs.

Correctness only (never timing): 20,000 generated CDRs are ingested, stored in SQLite and
reported through the hub's load → build → render path; the province row of the JSON
report must count every generated CDR, the per-site rows must add up to it, and the
figures must match a direct count over the same generated CDRs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from vcc_ops.bench.report import example_province, generate, run

N = 20_000


def test_bench_report_totals_equal_generated_cdrs(tmp_path: Path) -> None:
    result = run(cdrs=N, seed=3, runs=1, workdir=tmp_path)
    assert result["cdrs"] == N == result["charge_rows"]
    assert result["aggregated_totals"]["offered"] == N
    assert result["aggregate_rows"] == result["interval_rows"] + result["agent_interval_rows"]
    assert 0 < result["aggregate_rows"] < 2 * N
    for name in ("ingest_cdrs_per_s", "report_s", "report_without_charges_s"):
        assert result[name] > 0

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
    assert {s: r["offered"] for s, r in rows.items() if s != "PROVINCE"} == \
        dict(expected_sites)
    statement = report["charts"]["statement"]
    assert statement["calls"] == N
    assert sum(p["net_fen"] for p in statement["positions"]) == 0
