"""A week's schedule as published to a site's team leaders: the shifts and breaks per
agent and, per 15-minute interval, the agents on the phone and the predicted service level.

Pure. :func:`check_published` refuses what a team leader could not rely on: a week not
starting Monday 00:00 (Beijing), a shift outside the week or with its break outside it,
an agent who is not a call taker of the site, two shifts of one agent that overlap, and
more shifts or intervals than a week can hold. A shift without an agent (``agent_id``
empty) is allowed: the site lacks the people for it, and the team leader should see it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from vcc_domain.errors import InvalidInput
from vcc_domain.schedule import INTERVAL_MS, WEEK, WEEK_MS, week_start

MAX_SHIFTS = 20_000  # a week of 8-hour shifts for ~2 800 agents on the phone at once
MAX_SHIFT_MS = 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class PublishedShift:
    agent_id: str
    start_ms: int
    end_ms: int
    break_start_ms: int
    break_end_ms: int


@dataclass(frozen=True, slots=True)
class PublishedSchedule:
    site_id: str
    week_start_ms: int
    shifts: tuple[PublishedShift, ...]
    on_phone: tuple[int, ...]  # per interval of the week
    predicted_sl_bp: tuple[int, ...]  # per interval, basis points (10000 = 100 %)
    published_by: str = ""
    published_at_ms: int = 0

    def of_agent(self, agent_id: str) -> PublishedSchedule:
        mine = tuple(s for s in self.shifts if s.agent_id == agent_id)
        return PublishedSchedule(
            self.site_id,
            self.week_start_ms,
            mine,
            self.on_phone,
            self.predicted_sl_bp,
            self.published_by,
            self.published_at_ms,
        )


def check_published(schedule: PublishedSchedule, agents: Collection[str]) -> None:
    """Refuse (``InvalidInput`` naming the field) a schedule a team leader cannot use."""
    week = schedule.week_start_ms
    if week_start(week) != week:
        raise InvalidInput("the week must start on a Monday 00:00 Beijing", field="week_start_ms")
    if len(schedule.shifts) > MAX_SHIFTS:
        raise InvalidInput(f"at most {MAX_SHIFTS} shifts a week", field="shifts")
    _check_intervals(schedule.on_phone, "on_phone", 1_000_000)
    _check_intervals(schedule.predicted_sl_bp, "predicted_sl_bp", 10_000)
    last_end: dict[str, int] = {}
    ordered = sorted(enumerate(schedule.shifts), key=lambda p: (p[1].agent_id, p[1].start_ms))
    for i, s in ordered:
        _check_shift(s, week, agents, f"shifts[{i}]")
        if s.agent_id and last_end.get(s.agent_id, s.start_ms) > s.start_ms:
            raise InvalidInput(f"overlaps another shift of {s.agent_id!r}", field=f"shifts[{i}]")
        if s.agent_id:
            last_end[s.agent_id] = s.end_ms


def _check_intervals(values: Sequence[int], name: str, high: int) -> None:
    if len(values) not in (0, WEEK):
        raise InvalidInput(f"{WEEK} intervals (or none), not {len(values)}", field=name)
    if any(not 0 <= v <= high for v in values):
        raise InvalidInput(f"each between 0 and {high}", field=name)


def _check_shift(s: PublishedShift, week: int, agents: Collection[str], field: str) -> None:
    if s.agent_id and s.agent_id not in agents:
        raise InvalidInput(f"{s.agent_id!r} is not a call taker of this site", field=field)
    if not week <= s.start_ms < week + WEEK_MS or s.start_ms % INTERVAL_MS:
        raise InvalidInput("must start on an interval of the week", field=f"{field}.start_ms")
    if not s.start_ms < s.end_ms <= s.start_ms + MAX_SHIFT_MS:
        raise InvalidInput("must end after its start, within a day", field=f"{field}.end_ms")
    if not s.start_ms <= s.break_start_ms <= s.break_end_ms <= s.end_ms:
        raise InvalidInput("the break must lie within the shift", field=f"{field}.break_start_ms")


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A published schedule as stored: one row per site and week (republishing replaces
    it); the shifts are ``[agent_id, start_ms, end_ms, break_start_ms, break_end_ms]``."""

    site_id: str
    week_start_ms: int
    shifts: tuple[Sequence[str | int], ...]
    on_phone: tuple[int, ...]
    predicted_sl_bp: tuple[int, ...]
    published_by: str
    published_at_ms: int


def to_row(s: PublishedSchedule) -> ScheduleRow:
    shifts = tuple(
        (x.agent_id, x.start_ms, x.end_ms, x.break_start_ms, x.break_end_ms) for x in s.shifts
    )
    return ScheduleRow(
        s.site_id,
        s.week_start_ms,
        shifts,
        tuple(s.on_phone),
        tuple(s.predicted_sl_bp),
        s.published_by,
        s.published_at_ms,
    )


def from_row(r: ScheduleRow) -> PublishedSchedule:
    shifts = tuple(
        PublishedShift(str(a), int(b), int(c), int(d), int(e)) for a, b, c, d, e in r.shifts
    )
    return PublishedSchedule(
        r.site_id,
        r.week_start_ms,
        shifts,
        tuple(r.on_phone),
        tuple(r.predicted_sl_bp),
        r.published_by,
        r.published_at_ms,
    )
