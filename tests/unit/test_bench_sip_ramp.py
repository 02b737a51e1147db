"""``vcc bench sip``'s ramp: a step's figures from SIPp's response times, when a step is
sustained, and the headline of the highest sustained step."""

from __future__ import annotations

import pytest

from vcc_ops.bench.sip_ramp import Row, parse_rtt, percentile, ramp_rates, step_figures, summary


def _calls(rate: float, n: int, life_ms: float, grow_ms: float = 0.0) -> list[Row]:
    """``n`` calls offered at ``rate``/s, each living ``life_ms`` plus ``grow_ms`` more
    per call than the one before (a backlog building up)."""
    rows: list[Row] = []
    for i in range(n):
        start = i * 1000.0 / rate
        life = life_ms + i * grow_ms
        rows += [
            Row(start + 8, 8, "pdd"),
            Row(start + 20, 20, "setup"),
            Row(start + life, life, "done"),
        ]
    return rows


def test_parse_rtt_reads_sipp_rows_and_skips_the_rest() -> None:
    lines = ["Date_ms;response_time_ms;rtd_no", "80.001;28;pdd", "garbage", "x;1;setup", ""]
    assert parse_rtt(lines) == [Row(80.001, 28.0, "pdd")]
    assert Row(100.0, 30.0, "done").start_ms == 70.0


def test_a_step_the_parts_keep_up_with_is_sustained() -> None:
    got = step_figures(_calls(50, 500, 450), calls=500, rate=50)
    assert got["sustained"] and got["failed"] == 0 and got["completed"] == 500
    assert got["completed_per_s"] == pytest.approx(50, rel=0.01)
    assert got["offered_per_s"] == pytest.approx(50, rel=0.01)
    assert (got["pdd_p99_ms"], got["setup_p99_ms"], got["call_p50_ms"]) == (8, 20, 450)
    assert got["call_growth_p50_ms"] == 0


def test_a_failed_call_makes_the_step_not_sustained() -> None:
    rows = _calls(50, 500, 450)
    rows.remove(next(r for r in rows if r.name == "done"))
    got = step_figures(rows, calls=500, rate=50)
    assert got["failed"] == 1 and not got["sustained"]


def test_a_growing_backlog_makes_the_step_not_sustained() -> None:
    # 2 ms more per call: completions fall behind the offered rate, lives grow by ~750 ms
    got = step_figures(_calls(50, 500, 450, grow_ms=2.0), calls=500, rate=50)
    assert got["failed"] == 0 and not got["sustained"]
    assert got["call_growth_p50_ms"] > 500


def test_one_late_straggler_does_not_decide() -> None:
    rows = _calls(50, 500, 450)
    last = rows[-1]
    rows[-1] = Row(last.date_ms + 3000, last.rtt_ms + 3000, "done")  # a hiccup on a noisy box
    assert step_figures(rows, calls=500, rate=50)["sustained"]


def test_a_rate_the_caller_did_not_reach_is_not_sustained() -> None:
    # asked for 100/s, only 50/s were offered and completed
    got = step_figures(_calls(50, 1000, 450), calls=1000, rate=100)
    assert got["failed"] == 0 and not got["sustained"]


def test_summary_is_the_highest_sustained_step() -> None:
    steps = [
        {**step_figures(_calls(20, 200, 400), 200, 20), "cpu_ms_per_call": {"site": 9.0}},
        {**step_figures(_calls(40, 400, 400), 400, 40), "cpu_ms_per_call": {"site": 8.0}},
        step_figures(_calls(60, 600, 400, grow_ms=3.0), 600, 60),
    ]
    got = summary(steps)
    assert got["sustained_rate_per_s"] == 40 and got["cpu_ms_per_call"] == {"site": 8.0}
    assert got["sip_calls_per_s"] == pytest.approx(40, rel=0.01)
    assert summary(steps[2:])["sip_calls_per_s"] == 0.0


def test_ramp_rates_and_percentiles() -> None:
    assert ramp_rates(20, 20, 100) == [20, 40, 60, 80, 100]
    assert ramp_rates(10, 15, 50) == [10, 25, 40]
    with pytest.raises(ValueError):
        ramp_rates(0, 10, 50)
    with pytest.raises(ValueError):
        ramp_rates(60, 10, 50)
    assert percentile([], 0.99) == 0.0
    assert percentile([float(v) for v in range(1, 101)], 0.99) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
