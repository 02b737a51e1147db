"""Working-day calendar for work-order deadlines (DOMAIN.md §4).

A day is a *working day* when it is a make-up working day (调休上班), or when it is a
weekday (Monday to Friday) that is not a holiday. Times are integer milliseconds since
the Unix epoch; days are local dates at ``utc_offset_hours`` (China: +8, no DST).

**Cut-off rule.** A time limit of *n* working days counts from a *start day*: the day
the order was created if that is a working day and the order came in before the cut-off
(``cutoff_hour``, default 17:00 local); otherwise the next working day. The limit then
ends at local midnight closing the *n*-th working day after the start day
(:meth:`WorkCalendar.deadline_ms`); ``n = 0`` means "by the end of the start day".

Example: created Friday 10:00, 2 working days -> start Friday, due end of Tuesday;
created Friday 18:00 -> start Monday, due end of Wednesday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MAX_SCAN_DAYS = 366 * 2  # no calendar has two years without a working day


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # make-up working days
    weekend: frozenset[int] = frozenset({5, 6})  # date.weekday(): Saturday, Sunday
    cutoff_hour: int = 17
    utc_offset_hours: int = 8
    day_start_hour: int = 9  # working hours (callbacks to businesses)
    day_end_hour: int = 17
    evening_end_hour: int = 21  # residents are called back after work, until then

    def __post_init__(self) -> None:
        if not 0 <= self.cutoff_hour <= 24:
            raise ValueError("cutoff_hour must be within 0..24")
        if self.holidays & self.workdays:
            raise ValueError("a day cannot be both a holiday and a make-up working day")

    # -- days ---------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays

    def next_working_day(self, day: date, *, inclusive: bool = False) -> date:
        """The first working day after ``day`` (or ``day`` itself when ``inclusive``)."""
        current = day if inclusive else day + timedelta(days=1)
        for _ in range(MAX_SCAN_DAYS):
            if self.is_working_day(current):
                return current
            current += timedelta(days=1)
        raise ValueError("the calendar has no working day within two years")

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start``; ``n = 0``: ``start`` if it is a
        working day, else the next one. Always a working day; monotonic in both."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = self.next_working_day(start, inclusive=True) if n == 0 else start
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]`` (0 if ``end <= start``)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    # -- times ----------------------------------------------------------------------

    def local_day(self, at_ms: int) -> date:
        return self._local(at_ms).date()

    def local_hour(self, at_ms: int) -> int:
        return self._local(at_ms).hour

    def _local(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, UTC) + timedelta(hours=self.utc_offset_hours)

    def day_start_ms(self, day: date) -> int:
        """Local midnight opening ``day``, in epoch ms."""
        epoch_days = (day - date(1970, 1, 1)).days
        return epoch_days * DAY_MS - self.utc_offset_hours * HOUR_MS

    def at_ms(self, day: date, hour: int) -> int:
        return self.day_start_ms(day) + hour * HOUR_MS

    def start_day(self, at_ms: int) -> date:
        """The day a limit counts from (the cut-off rule in the module docstring)."""
        day = self.local_day(at_ms)
        if self.is_working_day(day) and self.local_hour(at_ms) < self.cutoff_hour:
            return day
        return self.next_working_day(day)

    def deadline_ms(self, at_ms: int, working_days: int) -> int:
        """When a limit of ``working_days`` started at ``at_ms`` ends (exclusive)."""
        due = self.add_working_days(self.start_day(at_ms), working_days)
        return self.day_start_ms(due + timedelta(days=1))


def calendar_from_lists(
    holidays: Iterable[str] = (), workdays: Iterable[str] = (), *, cutoff_hour: int = 17
) -> WorkCalendar:
    """A calendar from ISO dates (``"2025-10-01"``), e.g. read from configuration."""
    return WorkCalendar(
        frozenset(date.fromisoformat(d.strip()) for d in holidays if d.strip()),
        frozenset(date.fromisoformat(d.strip()) for d in workdays if d.strip()),
        cutoff_hour=cutoff_hour,
    )


def _span(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


#: The national schedule of 2025 (holidays and make-up working days), the default of a
#: site; configure other years with ``calendar_from_lists``.
CN_2025 = calendar_from_lists(
    holidays=[
        "2025-01-01",
        *_span("2025-01-28", "2025-02-04"),
        *_span("2025-04-04", "2025-04-06"),
        *_span("2025-05-01", "2025-05-05"),
        *_span("2025-05-31", "2025-06-02"),
        *_span("2025-10-01", "2025-10-08"),
    ],
    workdays=["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
)
