"""Report roll-ups (pure): statements from charge sums, day boundaries, range plans."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from vcc_domain.rating import BEIJING, Charge, build_statement, period_bounds_ms
from vcc_domain.stats import AgentFigures, Figures, rollup, rollup_agents
from vcc_hub.domain.rollups import (
    CHARGE_BUCKET_MS,
    DAY_MS,
    ChargeSums,
    by_pair,
    day_start,
    rollups_of,
    split_range,
    statement_from_sums,
    sum_charges,
)

OCT, NOV = period_bounds_ms("2026-10")
SITES = ("KM", "QJ", "DL")


def test_day_start_is_beijing_midnight() -> None:
    at = int(datetime(2026, 10, 5, 7, 30, tzinfo=BEIJING).timestamp() * 1000)
    assert day_start(at) == int(datetime(2026, 10, 5, tzinfo=BEIJING).timestamp() * 1000)
    assert day_start(OCT) == OCT and day_start(OCT - 1) == OCT - DAY_MS


charges_st = st.lists(
    st.builds(
        lambda n, site, home, at, dur, units, fee, handled, adj: Charge(
            f"cdr{n}",
            f"call{n}",
            site,
            home,
            "2026-10",
            at,
            dur,
            units,
            units * 18,
            handled,
            fee if site != home else 0,
            "t",
            adj,
            "2026-09" if adj else "",
        ),
        st.integers(0, 10**6),
        st.sampled_from(SITES),
        st.sampled_from(SITES),
        st.integers(OCT, NOV - 1),
        st.integers(0, 3_600_000),
        st.integers(0, 20),
        st.integers(0, 500),
        st.integers(0, 3_600_000),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(charges_st, st.booleans())
def test_statement_from_sums_equals_statement_from_charges(
    charges: list[Charge], listed: bool
) -> None:
    sites = list(SITES) if listed else []
    want = build_statement("2026-10", charges, sites, closed=True, closed_at_ms=7)
    assert (
        statement_from_sums(
            "2026-10", by_pair(sum_charges(charges)), sites, closed=True, closed_at_ms=7
        )
        == want
    )
    buckets = by_pair(sum_charges(charges, CHARGE_BUCKET_MS))
    assert statement_from_sums("2026-10", buckets, sites, closed=True, closed_at_ms=7) == want


@settings(max_examples=100, deadline=None)
@given(charges_st)
def test_rollups_sum_what_they_roll_up(charges: list[Charge]) -> None:
    stats = {
        (c.site_id, "general", "vip", c.arrival_at_ms - c.arrival_at_ms % 900_000): Figures(
            offered=1, talk_ms=c.handled_ms
        )
        for c in charges
    }
    agents = {
        (c.site_id, c.call_id, c.arrival_at_ms - c.arrival_at_ms % 900_000): AgentFigures(
            calls=1, acw_ms=c.duration_ms
        )
        for c in charges
    }
    r = rollups_of(stats, agents, charges)
    assert r.days == rollup(stats, lambda k: (k[0], k[1], k[2], day_start(k[3])))
    assert r.site_intervals == rollup(stats, lambda k: (k[0], k[3]))
    assert r.agent_days == rollup_agents(agents, lambda k: (k[0], k[1], day_start(k[2])))
    assert r.site_agent_intervals == rollup_agents(agents, lambda k: (k[0], k[2]))
    assert r.charge_days == sum_charges(charges)
    assert r.charge_buckets == sum_charges(charges, CHARGE_BUCKET_MS)
    total = ChargeSums()
    for s in r.charge_days.values():
        total.add(s)
    assert total.calls == len(charges)


def _covered(plan_spans: tuple[tuple[int, int], ...], at: int) -> int:
    return sum(a <= at < b for a, b in plan_spans)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(OCT - 3 * DAY_MS, NOV),
    st.integers(0, 5 * DAY_MS),
    st.lists(st.integers(OCT - 4 * DAY_MS, NOV + 6 * DAY_MS), max_size=30),
)
def test_a_range_plan_reads_each_row_and_call_once(lo: int, length: int, times: list[int]) -> None:
    hi = lo + length
    plan = split_range(lo, hi)
    for at in [*times, lo, hi - 1, hi, day_start(lo), day_start(hi)]:
        start = at - at % 900_000  # an interval row (figures count by its start)
        in_days = plan.days is not None and plan.days[0] <= start < plan.days[1]
        assert in_days + _covered(plan.edges, start) == (lo <= start < hi)
        # a call arriving at ``at``: a day row, a whole bucket, or read itself
        day_hit = plan.days is not None and plan.days[0] <= day_start(at) < plan.days[1]
        bucket = at - at % CHARGE_BUCKET_MS
        bucket_hit = _covered(plan.charge_buckets, bucket)
        assert day_hit + bucket_hit + _covered(plan.raw, at) == (lo <= at < hi)
    if plan.days is not None:
        assert day_start(plan.days[0]) == plan.days[0] and day_start(plan.days[1]) == plan.days[1]
    assert split_range(OCT, NOV) == split_range(OCT, NOV)
    assert split_range(OCT, NOV).edges == () and split_range(OCT, NOV).raw == ()
