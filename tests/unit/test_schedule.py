"""Scheduling, the pure parts: the forecast per interval of the week, shifts and breaks
covering the requirement with few hours, agents' rest rules, predicted against actual."""

from __future__ import annotations

import itertools

import pytest

from vcc_domain import schedule as sc
from vcc_domain.errors import InvalidInput

MONDAY = sc.week_start(1_800_000_000_000)
IV = sc.INTERVAL_MS


def test_week_starts_on_monday_midnight_beijing() -> None:
    assert (MONDAY + sc.BEIJING_OFFSET_MS) % 86_400_000 == 0
    assert sc.week_start(MONDAY + sc.WEEK_MS - 1) == MONDAY
    assert sc.week_start(MONDAY + 3 * 86_400_000) == MONDAY  # Thursday: same week


def test_forecast_means_each_interval_of_the_week_and_fills_from_the_day() -> None:
    # two weeks of history at 10:00 Monday (10 then 20 calls) and one Tuesday at 10:00
    ten = 40
    hist = [
        (MONDAY - 2 * sc.WEEK_MS + ten * IV, 10.0),
        (MONDAY - sc.WEEK_MS + ten * IV, 20.0),
        (MONDAY - sc.WEEK_MS + (sc.DAY + ten) * IV, 6.0),
    ]
    week = sc.forecast_week(hist, MONDAY - 2 * sc.WEEK_MS, MONDAY)
    assert len(week) == sc.WEEK and week[ten] == 15.0 and week[sc.DAY + ten] == 3.0
    assert week[ten + 1] == 0.0
    # one day of history only: every day of the week gets that day's profile
    day = sc.forecast_week(
        [(MONDAY - sc.WEEK_MS + ten * IV, 8.0)],
        MONDAY - sc.WEEK_MS,
        MONDAY - sc.WEEK_MS + 86_400_000,
    )
    assert [day[d * sc.DAY + ten] for d in range(7)] == [8.0] * 7
    with pytest.raises(InvalidInput):
        sc.forecast_week([], MONDAY, MONDAY)
    split = sc.split_by_business([10.0, 4.0], {"billing": 3, "fault": 1})
    assert split == {"billing": [7.5, 3.0], "fault": [2.5, 1.0]}


def _required() -> list[int]:
    day = [2] * 32 + [10] * 24 + [6] * 24 + [3] * 16  # night, morning peak, afternoon, evening
    return day * 7


def test_shifts_cover_every_interval_with_breaks_and_few_spare_hours() -> None:
    rules = sc.ShiftRules()
    required = _required()
    shifts = sc.plan_shifts(required, rules)
    staffed = sc.on_phone(shifts)
    assert all(s >= r for s, r in zip(staffed, required, strict=True))
    for s in shifts:  # one break each, inside its window
        assert rules.break_from <= s.break_start - s.start <= rules.break_to
        assert len(s.working()) == rules.shift_intervals - rules.break_intervals
    # no shift can go: each works at least one interval nobody else could spare
    assert all(any(staffed[i] - 1 < required[i] for i in s.working()) for s in shifts)
    lower = sum(required) / (rules.shift_intervals - rules.break_intervals)
    assert len(shifts) <= 1.35 * lower  # within 35 % of the hours any cover needs


def test_agents_get_one_shift_a_day_rest_and_five_a_week() -> None:
    rules = sc.ShiftRules()
    shifts = sc.assign(sc.plan_shifts(_required(), rules), [f"KM-{n:04d}" for n in range(1, 30)])
    by_agent: dict[str, list[int]] = {}
    for s in shifts:
        if s.agent_id:
            by_agent.setdefault(s.agent_id, []).append(s.start)
    for starts in by_agent.values():
        assert len(starts) <= rules.max_shifts
        starts.sort()
        assert all(
            b - a >= rules.shift_intervals + rules.rest_intervals
            for a, b in itertools.pairwise(starts)
        )
    assert sum(1 for s in shifts if not s.agent_id) == 0  # 29 agents are enough here
    short = sc.assign(shifts, ["KM-0001"])
    assert sum(1 for s in short if s.agent_id) == rules.max_shifts  # the rest unassigned


def test_build_schedule_predicts_and_compare_reports_points() -> None:
    calls = [100.0 if r > 2 else 0.0 for r in _required()]
    built = sc.build_schedule(
        "KM", MONDAY, calls, staffing=lambda c: 5, predict=lambda n, c: min(1.0, n / 6)
    )
    assert built.required[40] == 5 and built.required[0] == 0 and built.predicted_sl[0] == 1.0
    assert built.agent_hours == len(built.shifts) * 8
    checks = sc.compare(list(built.predicted_sl), {40: (120, 0.80), 41: (0, 0.0), 9999: (5, 1.0)})
    assert [c.interval for c in checks] == [40]
    assert checks[0].points == pytest.approx((0.80 - built.predicted_sl[40]) * 100)
    with pytest.raises(InvalidInput) as err:
        sc.build_schedule("KM", MONDAY + IV, calls, lambda c: 1, lambda n, c: 1.0)
    assert err.value.field == "week_start"
    with pytest.raises(InvalidInput) as err:
        sc.ShiftRules(break_to=40).validate()
    assert err.value.field == "break_to"
