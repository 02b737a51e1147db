"""Working-day calendar: weekends, holidays, make-up days, the cut-off rule."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vcc_domain.calendar import CN_2025, DAY_MS, HOUR_MS, WorkCalendar, calendar_from_lists

PLAIN = WorkCalendar()


def test_weekend_is_skipped() -> None:
    friday = date(2025, 3, 7)
    assert PLAIN.add_working_days(friday, 1) == date(2025, 3, 10)  # Monday
    assert PLAIN.add_working_days(friday, 2) == date(2025, 3, 11)
    assert PLAIN.add_working_days(date(2025, 3, 8), 0) == date(2025, 3, 10)  # Saturday -> Monday


def test_holidays_and_make_up_days() -> None:
    # National Day 2025: Oct 1-8 off, Sunday Sep 28 and Saturday Oct 11 are working days.
    assert CN_2025.is_working_day(date(2025, 9, 28))
    assert not CN_2025.is_working_day(date(2025, 10, 3))
    assert CN_2025.is_working_day(date(2025, 10, 11))
    assert CN_2025.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert CN_2025.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)
    assert CN_2025.add_working_days(date(2025, 9, 27), 1) == date(2025, 9, 28)


def test_cut_off_rule_and_deadline() -> None:
    cal = WorkCalendar()
    friday = date(2025, 3, 7)
    morning = cal.at_ms(friday, 10)
    evening = cal.at_ms(friday, 18)
    assert cal.start_day(morning) == friday
    assert cal.start_day(evening) == date(2025, 3, 10)
    # 2 working days from Friday 10:00: end of Tuesday; from Friday 18:00: end of Wednesday
    assert cal.deadline_ms(morning, 2) == cal.day_start_ms(date(2025, 3, 12))
    assert cal.deadline_ms(evening, 2) == cal.day_start_ms(date(2025, 3, 13))
    assert cal.local_day(cal.at_ms(friday, 23)) == friday  # local time, UTC+8
    assert cal.day_start_ms(friday) % DAY_MS == (24 - 8) * HOUR_MS


def test_calendar_from_lists() -> None:
    cal = calendar_from_lists(["2025-03-10"], ["2025-03-08"])
    assert cal.add_working_days(date(2025, 3, 7), 1) == date(2025, 3, 8)
    assert cal.add_working_days(date(2025, 3, 7), 2) == date(2025, 3, 11)


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))


@given(days, st.integers(0, 30))
def test_result_is_a_working_day_after_start(start: date, n: int) -> None:
    due = CN_2025.add_working_days(start, n)
    assert CN_2025.is_working_day(due)
    assert due >= start
    if n > 0:
        assert CN_2025.working_days_between(start, due) == n


@given(days, days, st.integers(0, 20), st.integers(0, 20))
def test_monotonic(a: date, b: date, n: int, m: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert CN_2025.add_working_days(lo, n) <= CN_2025.add_working_days(hi, n)
    assert CN_2025.add_working_days(lo, min(n, m)) <= CN_2025.add_working_days(lo, max(n, m))


@given(st.integers(1_700_000_000_000, 1_800_000_000_000), st.integers(0, 10))
def test_deadline_is_after_creation_and_ends_a_working_day(at_ms: int, n: int) -> None:
    due = CN_2025.deadline_ms(at_ms, n)
    assert due > at_ms
    last_day = CN_2025.local_day(due - 1)
    assert CN_2025.is_working_day(last_day)
    assert CN_2025.day_start_ms(last_day + timedelta(days=1)) == due
