"""Figures, roll-ups and the service-quality index, hand-computed, plus properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcc_domain.province import SLTarget
from vcc_domain.sqi import SqiConfig, compute_sqi
from vcc_domain.stats import (
    AgentFigures,
    AgentStateRow,
    Cdr,
    Figures,
    StatsConfig,
    aggregate_cdrs,
    close_spans,
    derived,
    merge_into,
    occupancy,
    recompute,
    rollup,
)

Q = 15 * 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % Q  # an interval boundary
CONFIG = StatsConfig(interval_ms=Q, short_abandon_ms=5_000)
TARGETS = {"vip": SLTarget(90, 20), "ordinary": SLTarget(85, 20)}


def target_of(tier: str) -> SLTarget:
    return TARGETS.get(tier, SLTarget(85, 20))


def cdr(
    call: str,
    *,
    outcome: str = "answered",
    at: int = T0,
    wait_s: float = 10,
    talk_s: float = 100,
    tier: str = "ordinary",
    site: str = "KM",
    **kw: Any,
) -> Cdr:
    answered = outcome in ("answered", "transferred_out") and talk_s > 0
    base: dict[str, Any] = dict(
        call_id=call,
        site_id=site,
        home_site=site,
        entry_site=site,
        business_id="general",
        tier=tier,
        outcome=outcome,
        arrival_at_ms=at,
        answered_at_ms=at + int(wait_s * 1000) if answered else 0,
        ended_at_ms=at + int((wait_s + talk_s) * 1000),
        wait_ms=int(wait_s * 1000),
        ring_ms=4000 if answered else 0,
        talk_ms=int(talk_s * 1000) if answered else 0,
        hold_ms=0,
        agent_id="KM-1" if answered else "",
        transferred=False,
        overflowed=False,
    )
    base.update(kw)
    return Cdr(**base)


def fig(items: list[Cdr]) -> Figures:
    stats, _ = aggregate_cdrs(items, target_of, CONFIG)
    total = Figures()
    for f in stats.values():
        total.add(f)
    return total


def test_short_abandon_just_under_and_at_threshold() -> None:
    f = fig(
        [
            cdr("a", outcome="abandoned", wait_s=4.999, talk_s=0),
            cdr("b", outcome="abandoned", wait_s=5.0, talk_s=0),
        ]
    )
    assert (f.short_abandoned, f.abandoned, f.sl_calls, f.offered) == (1, 1, 1, 2)


def test_service_level_per_tier_and_averages() -> None:
    items = [
        cdr("1", wait_s=20),
        cdr("2", wait_s=20.001),
        cdr("3", wait_s=5, talk_s=200),
        cdr("4", outcome="abandoned", wait_s=30, talk_s=0),
        cdr("5", outcome="abandoned", wait_s=2, talk_s=0),
        cdr("6", tier="vip", wait_s=3, talk_s=50),
    ]
    stats, agents = aggregate_cdrs(items, target_of, CONFIG)
    by_tier = rollup(stats, lambda k: k[2])
    o = by_tier["ordinary"]
    # answered 1,2,3; abandoned 4 (long); 5 is short and out of the denominator
    assert (o.answered, o.abandoned, o.short_abandoned, o.sl_calls, o.answered_within) == (
        3,
        1,
        1,
        4,
        2,
    )
    assert derived(o)["service_level"] == 0.5
    assert derived(o)["asa_s"] == pytest.approx((20 + 20.001 + 5) / 3)
    assert derived(o)["avg_talk_s"] == pytest.approx(400 / 3)
    assert derived(o)["avg_ring_s"] == 4.0
    assert derived(by_tier["vip"])["service_level"] == 1.0
    assert agents[("KM", "KM-1", T0)].calls == 4


def test_call_spanning_an_interval_boundary_counts_where_it_arrived() -> None:
    stats, _ = aggregate_cdrs(
        [cdr("x", at=T0 + Q - 1000, talk_s=600), cdr("y", at=T0 + Q, talk_s=10)], target_of, CONFIG
    )
    assert sorted(k[3] for k in stats) == [T0, T0 + Q]
    assert stats[("KM", "general", "ordinary", T0)].talk_ms == 600_000


def test_transfer_overflow_and_lost() -> None:
    f = fig(
        [
            cdr("t", outcome="transferred_out", transferred=True),
            cdr("u", transferred=True, entry_site="QJ", overflowed=True),
            cdr("o", outcome="overflowed_out", talk_s=0),
            cdr("l", outcome="lost", talk_s=0),
        ]
    )
    assert (f.transferred, f.transferred_out, f.overflow_in, f.overflow_out, f.lost) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert f.sl_calls == 3  # two answered, one lost unanswered
    assert derived(f)["transfer_rate"] == 0.5


def test_agent_state_spans_give_acw_and_not_ready() -> None:
    rows = [
        AgentStateRow("KM", 1, "A", "busy", T0),
        AgentStateRow("KM", 2, "A", "wrap_up", T0 + 100_000),
        AgentStateRow("KM", 5, "A", "not_ready", T0 + 145_000),
        AgentStateRow("KM", 3, "B", "wrap_up", T0 + 10_000),
        AgentStateRow("KM", 9, "A", "ready", T0 + 445_000),
    ]
    agg = recompute([], rows, target_of, CONFIG).agents
    assert agg[("KM", "A", T0)] == AgentFigures(
        acw_ms=45_000, wrapups=1, not_ready_ms=300_000, staffed_ms=445_000
    )
    assert ("KM", "B", T0) not in agg  # B's wrap-up is still open
    # the same in two batches
    held: dict[Any, Any] = {}
    first = close_spans(held, rows[:2])
    second = close_spans(held, rows[2:])
    assert first + second == close_spans({}, rows)


def test_sqi_hand_computed() -> None:
    by_tier = {
        "ordinary": Figures(
            answered=10,
            sl_calls=10,
            answered_within=8,
            talk_ms=10 * 180_000,
            ring_ms=10 * 6_000,
            transferred=1,
        )
    }
    agents = AgentFigures(acw_ms=10 * 30_000, wrapups=10)
    result = compute_sqi(by_tier, agents, target_of, SqiConfig())
    comp = {c.name: c for c in result.components}
    assert comp["service_level"].attainment == pytest.approx(0.8 / 0.85)
    assert comp["acw"].attainment == 1.0 and comp["ring"].attainment == 1.0
    assert comp["talk"].attainment == pytest.approx(150 / 180)
    assert comp["transfer"].attainment == pytest.approx(0.03 / 0.1)
    expected = 40 * 0.8 / 0.85 + 15 + 15 + 15 * 150 / 180 + 15 * 0.3
    assert result.value == pytest.approx(expected, abs=0.01)
    assert [c["name"] for c in result.explain()] == [
        "service_level",
        "acw",
        "ring",
        "talk",
        "transfer",
    ]
    assert compute_sqi({}, AgentFigures(), target_of, SqiConfig()).value is None


cdrs = st.builds(
    lambda i, site, tier, at, wait, talk, outcome, tr, ov: cdr(
        str(i),
        site=site,
        tier=tier,
        at=T0 + at,
        wait_s=wait,
        talk_s=talk,
        outcome=outcome,
        transferred=tr,
        overflowed=ov,
    ),
    st.integers(0, 10**6),
    st.sampled_from(["KM", "QJ"]),
    st.sampled_from(["vip", "ordinary"]),
    st.integers(0, 8 * Q),
    st.integers(0, 60),
    st.integers(0, 600),
    st.sampled_from(
        ["answered", "abandoned", "lost", "overflowed_out", "transferred_out", "ivr_hangup"]
    ),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(cdrs, max_size=50), st.integers(0, 50))
def test_incremental_batches_equal_one_pass_and_rollups(items: list[Cdr], cut: int) -> None:
    once, _ = aggregate_cdrs(items, target_of, CONFIG)
    a, _ = aggregate_cdrs(items[:cut], target_of, CONFIG)
    b, _ = aggregate_cdrs(items[cut:], target_of, CONFIG)
    merged: dict[Any, Figures] = {}
    merge_into(merged, a)
    merge_into(merged, b)
    assert merged == once
    hourly = StatsConfig(interval_ms=4 * Q, short_abandon_ms=5_000)
    direct, _ = aggregate_cdrs(items, target_of, hourly)
    rolled = rollup(once, lambda k: (k[0], k[1], k[2], k[3] - k[3] % (4 * Q)))
    assert rolled == direct
    total = fig(items)
    assert total.offered == len(items)
    assert total.answered == sum(1 for c in items if c.answered_at_ms > 0)


def test_occupancy_from_state_spans_by_hand() -> None:
    """Ready 60 s, busy 120 s, wrap-up 30 s, not ready 90 s, then logged out (not staffed):
    available 300 - 90 = 210 s, of which 150 s on calls: occupancy 150 / 210."""
    rows = [
        AgentStateRow("KM", 1, "A", "ready", T0),
        AgentStateRow("KM", 2, "A", "busy", T0 + 60_000),
        AgentStateRow("KM", 3, "A", "wrap_up", T0 + 180_000),
        AgentStateRow("KM", 4, "A", "not_ready", T0 + 210_000),
        AgentStateRow("KM", 5, "A", "logged_out", T0 + 300_000),
        AgentStateRow("KM", 6, "A", "ready", T0 + 400_000),
    ]
    a = recompute([], rows, target_of, CONFIG).agents[("KM", "A", T0)]
    assert (a.ready_ms, a.staffed_ms, a.not_ready_ms, a.acw_ms) == (60_000, 300_000, 90_000, 30_000)
    assert occupancy(a) == pytest.approx(150 / 210)
    assert occupancy(AgentFigures(staffed_ms=90_000, not_ready_ms=90_000)) is None
