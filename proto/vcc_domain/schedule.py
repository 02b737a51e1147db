"""Scheduling (排班): a forecast per 15-minute interval, a week of shifts and breaks that
covers the agents each interval needs with few agent hours, and the schedule's predicted
service level compared with what happened.

Pure: times are integer epoch milliseconds handed in by the caller; the staffing and the
service-level prediction are functions handed in (the simulator's, in ``vcc_ops``).

**Forecast** (:func:`forecast_week`): the week is cut into ``WEEK`` intervals from a
Monday 00:00; each interval's calls are the mean of the same interval of the week over the
history (the hub's interval report). An interval of the week the history never covered
takes the mean of the same time of day over the days it did cover, else the history's
mean. :func:`split_by_business` shares a site's forecast among its businesses.

**Shifts** (:func:`plan_shifts`): every shift lasts ``shift_intervals`` with one break of
``break_intervals`` starting between ``break_from`` and ``break_to`` intervals into it.
The week is a cycle (a Sunday night shift covers Monday's first hours). Greedy: sweep the
week, and where fewer agents are on the phone than required, start enough shifts there,
each taking its break where the most agents are spare (breaks lie ahead of the sweep, so
one pass covers the week); sweep again with the shifts reaching past Sunday midnight
until they stay the same; finally every shift whose working intervals all have a spare
agent is dropped (latest first). Then :func:`assign` gives the shifts to
agents: at most one shift a day, ``rest_intervals`` between two, ``max_shifts`` a week.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vcc_domain.errors import InvalidInput

INTERVAL_MS = 15 * 60 * 1000
DAY = 96  # intervals a day
WEEK = 7 * DAY
WEEK_MS = WEEK * INTERVAL_MS
BEIJING_OFFSET_MS = 8 * 3_600_000
MONDAY_EPOCH_MS = 4 * 86_400_000 - BEIJING_OFFSET_MS  # 1970-01-05 00:00 Beijing, a Monday


def week_start(at_ms: int) -> int:
    """Monday 00:00 (Beijing) of the week holding ``at_ms``."""
    return at_ms - (at_ms - MONDAY_EPOCH_MS) % WEEK_MS


def forecast_week(
    history: Iterable[tuple[int, float]], from_ms: int, to_ms: int, *, weeks: int = 1
) -> list[float]:
    """Calls per interval of the week (``WEEK`` values from Monday 00:00) from the offered
    calls per interval start in ``[from_ms, to_ms)``; see the module doc."""
    if to_ms <= from_ms:
        raise InvalidInput("the history range is empty", field="to_ms")
    first = from_ms - (from_ms - MONDAY_EPOCH_MS) % INTERVAL_MS
    if first < from_ms:
        first += INTERVAL_MS
    covered, sums = [0] * WEEK, [0.0] * WEEK
    for start in range(first, to_ms, INTERVAL_MS):
        covered[_slot(start)] += 1
    for start, calls in history:
        if from_ms <= start < to_ms:
            sums[_slot(start)] += calls
    total = sum(covered)
    overall = sum(sums) / total if total else 0.0
    daily = [
        (sum(sums[d::DAY]) / sum(covered[d::DAY])) if sum(covered[d::DAY]) else overall
        for d in range(DAY)
    ]
    return [sums[i] / covered[i] if covered[i] else daily[i % DAY] for i in range(WEEK)] * weeks


def _slot(at_ms: int) -> int:
    return (at_ms - MONDAY_EPOCH_MS) // INTERVAL_MS % WEEK


def split_by_business(
    calls: Sequence[float], shares: Mapping[str, float]
) -> dict[str, list[float]]:
    """Each business's part of a site's forecast, by its share of the site's calls."""
    whole = sum(shares.values())
    if whole <= 0:
        raise InvalidInput("no business has calls in the history", field="shares")
    return {b: [c * share / whole for c in calls] for b, share in sorted(shares.items())}


@dataclass(frozen=True, slots=True)
class ShiftRules:
    shift_intervals: int = 32  # 8 h
    break_intervals: int = 2  # 30 min (meal break, seed 004 交接班: 午餐/晚餐 30 分钟)
    break_from: int = 12  # the break starts 3 h into the shift at the earliest ...
    break_to: int = 20  # ... and 5 h in at the latest
    rest_intervals: int = 44  # 11 h between two shifts of one agent
    max_shifts: int = 5  # a week, per agent

    def validate(self) -> None:
        checks = (
            (self.shift_intervals, 1, WEEK, "shift_intervals"),
            (self.break_intervals, 0, self.shift_intervals - 1, "break_intervals"),
            (self.break_from, 0, self.shift_intervals - self.break_intervals, "break_from"),
            (
                self.break_to,
                self.break_from,
                self.shift_intervals - self.break_intervals,
                "break_to",
            ),
            (self.rest_intervals, 0, WEEK, "rest_intervals"),
            (self.max_shifts, 1, 7, "max_shifts"),
        )
        for value, low, high, name in checks:
            if not low <= value <= high:
                raise InvalidInput(f"must be between {low} and {high}, not {value}", field=name)


@dataclass(frozen=True, slots=True)
class Shift:
    start: int  # interval of the week (may run past the week's end into the next)
    break_start: int  # interval of the week (same numbering, not taken modulo)
    rules: ShiftRules = field(default_factory=ShiftRules, compare=False, repr=False)
    agent_id: str = ""

    def working(self) -> list[int]:
        """Intervals of the week (modulo ``WEEK``) this shift is on the phone."""
        r = self.rules
        away = range(self.break_start, self.break_start + r.break_intervals)
        end = self.start + r.shift_intervals
        return [i % WEEK for i in range(self.start, end) if i not in away]


def on_phone(shifts: Iterable[Shift]) -> list[int]:
    staffed = [0] * WEEK
    for s in shifts:
        for i in s.working():
            staffed[i] += 1
    return staffed


def plan_shifts(required: Sequence[int], rules: ShiftRules = ShiftRules()) -> list[Shift]:
    """Shifts and breaks covering ``required`` agents per interval (see the module doc)."""
    rules.validate()
    if len(required) != WEEK or any(r < 0 for r in required):
        raise InvalidInput(f"give {WEEK} non-negative numbers of agents", field="required")
    # the week is a cycle: shifts of Sunday night reach into Monday's first hours; sweep
    # again knowing them until they stay the same
    fixed: list[Shift] = []
    for _round in range(4):
        shifts, staffed = list(fixed), on_phone(fixed)
        _sweep(shifts, staffed, required, rules)
        wrapping = [s for s in shifts if s.start + rules.shift_intervals > WEEK]
        if wrapping == fixed:
            break
        fixed = wrapping
    return _drop_spare(shifts, staffed, required)


def _sweep(
    shifts: list[Shift], staffed: list[int], required: Sequence[int], rules: ShiftRules
) -> None:
    """Where fewer are on the phone than required, start shifts (breaks never take an
    agent from an interval the sweep has passed, so one pass covers the week)."""
    for i in range(WEEK):
        while staffed[i] < required[i]:
            shift = _with_break(i, rules, staffed, required)
            shifts.append(shift)
            for j in shift.working():
                staffed[j] += 1


def _with_break(
    start: int, rules: ShiftRules, staffed: list[int], required: Sequence[int]
) -> Shift:
    """A shift from ``start`` with its break where the most agents are spare (earliest)."""
    best, best_spare = start + rules.break_from, -(10**9)
    for b in range(start + rules.break_from, start + rules.break_to + 1):
        spare = (
            min(
                staffed[j % WEEK] + 1 - required[j % WEEK]
                for j in range(b, b + rules.break_intervals)
            )
            if rules.break_intervals
            else 0
        )
        if spare > best_spare:
            best, best_spare = b, spare
    return Shift(start, best, rules)


def _drop_spare(shifts: list[Shift], staffed: list[int], required: Sequence[int]) -> list[Shift]:
    kept = []
    for s in sorted(shifts, key=lambda s: -s.start):
        work = s.working()
        if all(staffed[i] - 1 >= required[i] for i in work):
            for i in work:
                staffed[i] -= 1
        else:
            kept.append(s)
    return sorted(kept, key=lambda s: (s.start, s.break_start))


def assign(shifts: Sequence[Shift], agents: Sequence[str]) -> list[Shift]:
    """Give each shift (by start) to the agent with the fewest shifts so far who may work
    it (one a day, the rest between, at most ``max_shifts``); "" when nobody may."""
    taken: dict[str, list[int]] = {a: [] for a in agents}
    out = []
    for s in sorted(shifts, key=lambda s: (s.start, s.break_start)):
        r = s.rules
        fits = [
            a
            for a in agents
            if len(taken[a]) < r.max_shifts
            and all(
                s.start // DAY != t // DAY
                and abs(s.start - t) >= r.shift_intervals + r.rest_intervals
                for t in taken[a]
            )
        ]
        chosen = min(fits, key=lambda a: (len(taken[a]), a)) if fits else ""
        if chosen:
            taken[chosen].append(s.start)
        out.append(Shift(s.start, s.break_start, r, chosen))
    return out


@dataclass(frozen=True, slots=True)
class Schedule:
    site_id: str
    week_start_ms: int
    calls: tuple[float, ...]  # forecast per interval
    required: tuple[int, ...]  # agents on the phone each interval needs
    shifts: tuple[Shift, ...]
    on_phone: tuple[int, ...]
    predicted_sl: tuple[float, ...]  # with ``on_phone`` agents and ``calls`` calls

    @property
    def agent_hours(self) -> float:
        return sum(s.rules.shift_intervals for s in self.shifts) * INTERVAL_MS / 3_600_000

    @property
    def unassigned(self) -> int:
        return sum(1 for s in self.shifts if not s.agent_id)


def build_schedule(
    site_id: str,
    week_start_ms: int,
    calls: Sequence[float],
    staffing: Callable[[float], int],
    predict: Callable[[int, float], float],
    agents: Sequence[str] = (),
    rules: ShiftRules = ShiftRules(),
) -> Schedule:
    """The week's schedule: ``staffing(calls)`` agents needed per interval, the shifts
    covering them (given to ``agents`` when named), ``predict(agents, calls)`` the service
    level each interval then gets."""
    if week_start(week_start_ms) != week_start_ms:
        raise InvalidInput("the week starts on a Monday 00:00 (Beijing)", field="week_start")
    if len(calls) != WEEK:
        raise InvalidInput(f"give {WEEK} intervals of calls", field="calls")
    required = [staffing(c) if c > 0 else 0 for c in calls]
    shifts = plan_shifts(required, rules)
    if agents:
        shifts = assign(shifts, agents)
    staffed = on_phone(shifts)
    sl = [predict(n, c) if c > 0 else 1.0 for n, c in zip(staffed, calls, strict=True)]
    return Schedule(
        site_id,
        week_start_ms,
        tuple(calls),
        tuple(required),
        tuple(shifts),
        tuple(staffed),
        tuple(sl),
    )


@dataclass(frozen=True, slots=True)
class IntervalCheck:
    interval: int
    predicted: float
    actual: float
    offered: int

    @property
    def points(self) -> float:
        """actual - predicted, in percentage points."""
        return (self.actual - self.predicted) * 100


def compare(
    predicted: Sequence[float], actual: Mapping[int, tuple[int, float]]
) -> list[IntervalCheck]:
    """Predicted against measured service level for every interval with calls
    (``actual``: interval -> (offered, service level))."""
    return [
        IntervalCheck(i, predicted[i], sl, offered)
        for i, (offered, sl) in sorted(actual.items())
        if offered > 0 and 0 <= i < len(predicted)
    ]
