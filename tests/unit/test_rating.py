"""Per-call charges and statements, hand-computed (fen), plus properties."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vcc_domain.province import Tariff
from vcc_domain.rating import (
    build_statement,
    diff_statements,
    next_period,
    period_bounds_ms,
    period_of,
    rate_cdr,
    settle_into,
)
from vcc_domain.stats import Cdr

NOV = period_bounds_ms("2026-11")[0]  # 2026-11-01 00:00 Beijing
T1 = Tariff(
    "t1",
    date(2020, 1, 1),
    access_fen_per_unit=18,
    unit_seconds=180,
    inter_site_fen_per_call=0,
    inter_site_fen_per_minute=6,
)
T2 = Tariff(
    "t2",
    date(2026, 11, 16),
    access_fen_per_unit=20,
    unit_seconds=180,
    inter_site_fen_per_call=10,
    inter_site_fen_per_minute=5,
)


def tariff_on(day: date) -> Tariff:
    return T2 if day >= T2.effective_from else T1


def cdr(
    call: str,
    *,
    site: str = "KM",
    home: str = "KM",
    start: int = NOV + 3_600_000,
    dur_s: float = 60,
    talk_s: float = 0,
    outcome: str = "answered",
    **kw: Any,
) -> Cdr:
    base: dict[str, Any] = dict(
        call_id=call,
        site_id=site,
        home_site=home,
        entry_site=home,
        business_id="general",
        tier="ordinary",
        outcome=outcome,
        arrival_at_ms=start,
        answered_at_ms=start + 1000 if talk_s else 0,
        ended_at_ms=start + int(dur_s * 1000),
        wait_ms=1000,
        ring_ms=0,
        talk_ms=int(talk_s * 1000),
        hold_ms=0,
        agent_id="a",
        transferred=False,
        overflowed=False,
        cdr_id=f"cdr-{call}-{site}",
    )
    base.update(kw)
    return Cdr(**base)


def test_180s_is_one_unit_181s_two() -> None:
    assert rate_cdr(cdr("a", dur_s=180), tariff_on).access_fen == 18
    assert rate_cdr(cdr("b", dur_s=181), tariff_on).access_fen == 36
    assert rate_cdr(cdr("c", dur_s=180.001), tariff_on).access_units == 2
    assert rate_cdr(cdr("d", dur_s=1), tariff_on).access_fen == 18
    assert rate_cdr(cdr("e", dur_s=0), tariff_on).access_fen == 0
    # the domain Tariff agrees
    assert T1.access_charge_fen(181) == 36 and T1.access_charge_fen(180) == 18


def test_handling_fee_only_when_served_elsewhere() -> None:
    local = rate_cdr(cdr("a", talk_s=130), tariff_on)
    assert local.handling_fee_fen == 0
    away = rate_cdr(cdr("b", site="QJ", home="KM", talk_s=130, dur_s=200), tariff_on)
    # 130 s of talk = 3 started minutes × 6 fen; access 200 s = 2 units × 18
    assert (away.handling_fee_fen, away.access_fen, away.home_site) == (18, 36, "KM")
    no_talk = rate_cdr(cdr("c", site="QJ", home="KM", talk_s=0), tariff_on)
    assert no_talk.handling_fee_fen == 0


def test_leg_that_left_the_site_has_no_access_charge() -> None:
    out = rate_cdr(
        cdr("a", site="KM", home="KM", outcome="transferred_out", talk_s=50, dur_s=100), tariff_on
    )
    final = rate_cdr(cdr("a", site="QJ", home="KM", talk_s=61, dur_s=300), tariff_on)
    assert (out.access_fen, out.handling_fee_fen) == (0, 0)
    assert (final.access_fen, final.handling_fee_fen) == (36, 12)


def test_tariff_change_mid_period() -> None:
    before = rate_cdr(
        cdr("a", site="QJ", start=NOV + 15 * 86_400_000 - 1, talk_s=60, dur_s=181), tariff_on
    )
    after = rate_cdr(
        cdr("b", site="QJ", start=NOV + 15 * 86_400_000, talk_s=60, dur_s=181), tariff_on
    )
    assert (before.tariff_version, before.access_fen, before.handling_fee_fen) == ("t1", 36, 6)
    assert (after.tariff_version, after.access_fen, after.handling_fee_fen) == ("t2", 40, 15)
    assert before.period_id == after.period_id == "2026-11"
    st = build_statement("2026-11", [before, after], ["KM", "QJ"])
    assert st.total_access_fen == 76 and st.total_handling_fee_fen == 21


def test_periods_are_beijing_months() -> None:
    assert period_of(NOV) == "2026-11"
    assert period_of(NOV - 1) == "2026-10"
    assert next_period("2026-12") == "2027-01"


def test_statement_matrix_positions_and_adjustments() -> None:
    charges = [
        rate_cdr(cdr("1", site="QJ", home="KM", talk_s=90, dur_s=120), tariff_on),
        rate_cdr(cdr("2", site="KM", home="QJ", talk_s=30, dur_s=400), tariff_on),
        rate_cdr(cdr("3", site="KM", home="KM", talk_s=30, dur_s=60), tariff_on),
    ]
    late = settle_into(
        rate_cdr(cdr("4", site="QJ", home="DL", talk_s=10, dur_s=10, start=NOV - 1000), tariff_on),
        {"2026-10"},
    )
    assert (late.period_id, late.adjustment, late.original_period) == ("2026-11", True, "2026-10")
    st = build_statement("2026-11", [*charges, late], ["DL", "KM", "QJ"])
    assert st.matrix() == {("KM", "QJ"): 12, ("QJ", "KM"): 6, ("DL", "QJ"): 6}
    pos = {
        p.site_id: (p.receivable_fen, p.payable_fen, p.net_fen, p.access_fen) for p in st.positions
    }
    assert pos == {"DL": (0, 6, -6, 18), "KM": (6, 12, -6, 36), "QJ": (18, 6, 12, 54)}
    assert (st.calls, st.total_access_fen, st.total_handling_fee_fen) == (4, 108, 24)
    assert st.adjustments_fen == 24
    assert diff_statements(st, st) == []


cdrs = st.builds(
    lambda i, site, home, start, dur, talk, outcome: cdr(
        str(i),
        site=site,
        home=home,
        start=NOV + start,
        dur_s=dur,
        talk_s=min(talk, dur),
        outcome=outcome,
    ),
    st.integers(0, 10**6),
    st.sampled_from(["KM", "QJ", "DL"]),
    st.sampled_from(["KM", "QJ", "DL"]),
    st.integers(0, 29 * 86_400_000),
    st.integers(0, 3600),
    st.integers(0, 3600),
    st.sampled_from(["answered", "abandoned", "transferred_out", "overflowed_out", "lost"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(cdrs, max_size=60))
def test_statement_equals_sum_of_charges(items: list[Cdr]) -> None:
    charges = [rate_cdr(c, tariff_on) for c in items]
    statement = build_statement("2026-11", charges)
    assert statement.total_access_fen == sum(c.access_fen for c in charges)
    assert statement.total_handling_fee_fen == sum(c.handling_fee_fen for c in charges)
    assert sum(e.handling_fee_fen for e in statement.entries) == statement.total_handling_fee_fen
    assert sum(p.net_fen for p in statement.positions) == 0
    assert sum(p.access_fen for p in statement.positions) == statement.total_access_fen
    assert statement.calls == len(charges)
