"""The province bench on a quick load: the whole province started by the launcher, a few
seconds of the demo's calls from a load-generator process, every CDR at the hub.

The figures come from the session's ``vcc bench all --quick`` run (its province section
runs ``vcc_ops.bench.province`` with the same quick parameters as ``vcc bench province
--quick``), so the whole province is not started once more for this module; the
``vcc bench province`` command itself is checked without a province.

Correctness only: every figure is present, positive where it must be and consistent with
the others; no figure is compared with a speed target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration._helpers.bench import BenchAll
from vcc_ops.bench import province
from vcc_ops.bench.all import BENCHES
from vcc_ops.cli import main

KINDS = ("site", "hub", "edge", "nats", "etcd")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_the_command_runs_the_bench_with_the_quick_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vcc bench province --quick --json FILE`` passes the quick parameters (those of
    ``vcc bench all --quick``) and writes the result it gets."""
    asked: list[dict[str, Any]] = []

    def measured(**params: Any) -> dict[str, Any]:
        asked.append(params)
        return {"province_calls_per_s": 1.5}

    monkeypatch.setattr(province, "median_of_runs", measured)
    out = tmp_path / "province.json"
    run = CliRunner().invoke(main, ["bench", "province", "--quick", "--json", str(out)])
    assert run.exit_code == 0, run.output
    assert json.loads(out.read_text()) == {"province_calls_per_s": 1.5}
    (params,) = asked
    quick = next(b.quick for b in BENCHES if b.name == "province")
    assert quick == province.QUICK and params.items() >= quick.items(), params


def test_quick_province_bench_measures_every_figure(bench_all_quick: BenchAll) -> None:
    record = bench_all_quick.doc["benches"]["province"]
    assert record["status"] == "ok", (record, bench_all_quick.output)
    assert record["params"] == province.QUICK
    doc = record["result"]
    for name in (
        "province_calls_per_s",
        "offered_calls_per_s",
        "offer_to_agent_p50_ms",
        "offer_to_agent_p99_ms",
        "replication_lag_p99_ms",
        "province_cpu_ms_per_call",
        "rpcs_per_call",
        "events_per_call",
        "idle_site_cpu_pct",
        "calls",
        "window_s",
    ):
        assert _positive(doc[name]), (name, doc.get(name))
    assert doc["cdrs_missing"] == 0 and doc["cdrs_at_hub"] == doc["calls"]
    assert 0 < doc["reached_agent"] <= doc["calls"]
    assert doc["offer_to_agent_p50_ms"] <= doc["offer_to_agent_p99_ms"]
    assert doc["replication_lag_p50_ms"] <= doc["replication_lag_p99_ms"]
    assert doc["processes"] == {"site": 5, "hub": 1, "edge": 1, "nats": 1, "etcd": 1}
    for kind in (*KINDS, "loadgen"):
        assert _positive(doc["cpu_ms_per_call"][kind]), (kind, doc["cpu_ms_per_call"])
    assert set(doc["idle_cpu_pct"]) == set(KINDS)
    assert all(v >= 0 for v in doc["idle_cpu_pct"].values())
    assert _positive(doc["idle_cpu_pct"]["hub"]) and _positive(doc["idle_cpu_pct"]["site"])
    # every call goes through the edge and a site, and its events reach the hub
    assert doc["rpcs_per_call_by_kind"]["edge"] >= 1 and doc["rpcs_per_call_by_kind"]["site"] >= 1
    assert doc["hub_events_applied_per_call"] >= 1
    assert doc["load"]["undrained"] == 0 and doc["scrape_errors"] == 0
