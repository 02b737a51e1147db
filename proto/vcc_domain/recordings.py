"""Call recordings kept at the serving site: the stored row, the retention rule and the
checks of what the site's SIP agent reports.

Pure. A recording is kept for the province's ``recording_retention_months`` (calendar
months in Beijing time from the day it started: a call recorded on 15 March with a
3-month retention is swept from 15 June 00:00 Beijing); then the sweep deletes its file
and marks the row (``swept_at_ms``), which stays as the trace that it existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from vcc_domain.errors import InvalidInput

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
MAX_RETENTION_MONTHS = 120
LEGS = frozenset({"caller", "agent"})
_SIP_CALL_ID = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces (RFC 3261 word)
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """One recording as the site stores it (times in ms; ``file_path`` relative to the
    site's recordings folder)."""

    recording_id: str
    site_id: str
    call_id: str
    sip_call_id: str
    legs: tuple[str, ...]  # the media legs recorded
    agents: tuple[str, ...]
    business_id: str
    started_at_ms: int
    ended_at_ms: int
    duration_ms: int  # the recorded audio: first to last packet
    file_path: str
    size_bytes: int
    sha256: str
    stored_at_ms: int
    swept_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class RecordingReport:
    """What the site's SIP agent says of a recording it finished."""

    call_id: str
    sip_call_id: str
    agent_id: str
    started_at_ms: int
    ended_at_ms: int
    legs: tuple[str, ...] = ("caller",)


def check_report(r: RecordingReport) -> None:
    """Refuse (``InvalidInput`` naming the field) a report the site cannot file."""
    if not _ID.fullmatch(r.call_id):
        raise InvalidInput("a call ID is required", field="call_id")
    if not _SIP_CALL_ID.fullmatch(r.sip_call_id):
        raise InvalidInput("a SIP Call-ID (printable, no spaces) is required", field="sip_call_id")
    if r.agent_id and not _ID.fullmatch(r.agent_id):
        raise InvalidInput("not an agent ID", field="agent_id")
    if not 0 < r.started_at_ms <= r.ended_at_ms:
        raise InvalidInput("must start before it ends", field="started_at_ms")
    if not r.legs or not set(r.legs) <= LEGS or len(set(r.legs)) != len(r.legs):
        raise InvalidInput(f"legs among {sorted(LEGS)}, each once", field="legs")


def beijing_date(at_ms: int) -> date:
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(BEIJING).date()


def day_range_ms(day: str) -> tuple[int, int]:
    """``[start, end)`` in ms of a Beijing day ``YYYY-MM-DD``."""
    try:
        if not _DAY.fullmatch(day):
            raise ValueError(day)
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), BEIJING)
    except ValueError:
        raise InvalidInput("a day is YYYY-MM-DD", field="day") from None
    start_ms = int(start.timestamp() * 1000)
    return start_ms, start_ms + 86_400_000


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (first_next - timedelta(days=1)).day))


def expires_at_ms(started_at_ms: int, months: int) -> int:
    """When a recording that started at ``started_at_ms`` is past retention."""
    until = add_months(beijing_date(started_at_ms), months)
    return int(datetime.combine(until, datetime.min.time(), BEIJING).timestamp() * 1000)


def past_retention(rows: Iterable[RecordingRow], now_ms: int, months: int) -> list[RecordingRow]:
    """The rows whose files are due for the sweep (not swept yet, past retention)."""
    if not 1 <= months <= MAX_RETENTION_MONTHS:
        raise InvalidInput(f"retention 1..{MAX_RETENTION_MONTHS} months", field="months")
    return [
        r for r in rows if not r.swept_at_ms and expires_at_ms(r.started_at_ms, months) <= now_ms
    ]


def sweep_candidates_before_ms(now_ms: int, months: int) -> int:
    """A start time no row due for the sweep reaches (a bound for the query; the rows are
    then checked with :func:`past_retention`): the retention's calendar cut, plus the
    days a short month clamps away."""
    cut = add_months(beijing_date(now_ms), -months) + timedelta(days=4)
    return int(datetime.combine(cut, datetime.min.time(), BEIJING).timestamp() * 1000)
