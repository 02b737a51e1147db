"""What a published week's schedule must be (vcc_domain.published_schedule) and the
request ``vcc schedule publish`` builds from ``vcc schedule plan``'s JSON."""

from __future__ import annotations

import pytest

from vcc_domain import published_schedule as ps
from vcc_domain.errors import InvalidInput
from vcc_domain.schedule import INTERVAL_MS, WEEK
from vcc_ops.schedule.publish import schedule_request

MONDAY = 1_796_572_800_000  # 2026-12-07 00:00 Beijing
HOUR = 4 * INTERVAL_MS
AGENTS = {"KM-0001", "KM-0002"}


def _shift(agent: str, start_h: int, *, break_h: int = 4) -> ps.PublishedShift:
    start = MONDAY + start_h * HOUR
    brk = start + break_h * HOUR
    return ps.PublishedShift(agent, start, start + 8 * HOUR, brk, brk + 2 * INTERVAL_MS)


def _week(*shifts: ps.PublishedShift, week: int = MONDAY) -> ps.PublishedSchedule:
    return ps.PublishedSchedule("KM", week, shifts, (2,) * WEEK, (8500,) * WEEK)


def _field(schedule: ps.PublishedSchedule) -> str | None:
    with pytest.raises(InvalidInput) as err:
        ps.check_published(schedule, AGENTS)
    return err.value.field


def test_a_good_week_passes_and_round_trips_through_its_row() -> None:
    week = _week(_shift("KM-0001", 8), _shift("KM-0001", 32), _shift("", 8), _shift("KM-0002", 9))
    ps.check_published(week, AGENTS)
    assert ps.from_row(ps.to_row(week)) == week
    assert [s.start_ms for s in week.of_agent("KM-0001").shifts] == [
        MONDAY + 8 * HOUR,
        MONDAY + 32 * HOUR,
    ]


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (_week(week=MONDAY + 86_400_000), "week_start_ms"),
        (_week(week=MONDAY + INTERVAL_MS), "week_start_ms"),
        (_week(_shift("KM-0001", 8), _shift("KM-0001", 15)), "shifts[1]"),
        (_week(_shift("KM-0002", 8), _shift("KM-0009", 8)), "shifts[1]"),
        (_week(_shift("KM-0001", 7 * 24)), "shifts[0].start_ms"),
        (_week(_shift("KM-0001", 8, break_h=9)), "shifts[0].break_start_ms"),
        (ps.PublishedSchedule("KM", MONDAY, (), (1,) * 5, ()), "on_phone"),
        (ps.PublishedSchedule("KM", MONDAY, (), (), (10_001,) * WEEK), "predicted_sl_bp"),
        (_week(*[_shift("", 8)] * (ps.MAX_SHIFTS + 1)), "shifts"),
    ],
)
def test_bad_weeks_are_refused_naming_the_field(schedule: ps.PublishedSchedule, field: str) -> None:
    assert _field(schedule) == field


def test_the_cli_request_carries_the_plan_in_basis_points() -> None:
    data = {
        "site": "KM",
        "week_start_ms": MONDAY,
        "shifts": [
            {
                "agent_id": "KM-0001",
                "start_ms": MONDAY,
                "end_ms": MONDAY + 8 * HOUR,
                "break_start_ms": MONDAY + 4 * HOUR,
                "break_end_ms": MONDAY + 4 * HOUR + 2 * INTERVAL_MS,
            }
        ],
        "intervals": [{"on_phone": 3, "predicted_sl": 0.8512}] * WEEK,
    }
    request = schedule_request(data)
    assert request.site_id == "KM" and len(request.shifts) == 1
    assert request.predicted_sl_bp[0] == 8512 and request.on_phone[-1] == 3
