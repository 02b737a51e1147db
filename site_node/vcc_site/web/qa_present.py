"""What the quality and schedule pages show, as JSON: reviews, recordings and the
published week per Beijing day (its shifts and breaks, and per 15-minute interval the
agents on the phone and the predicted service level)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from vcc_domain.errors import InvalidInput
from vcc_domain.rating import BEIJING
from vcc_domain.schedule import INTERVAL_MS, week_start
from vcc_proto.v1 import quality_pb2 as q
from vcc_site.web.present import Json

DAY_MS = 24 * 3600 * 1000
PER_DAY = DAY_MS // INTERVAL_MS  # 96 intervals
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def this_period(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m")


def period_of(raw: str, now_ms: int) -> str:
    """``YYYY-MM`` asked for, or this month (Beijing)."""
    raw = raw.strip()
    if not raw:
        return this_period(now_ms)
    if not PERIOD.match(raw):
        raise InvalidInput("the month is YYYY-MM", field="period")
    return raw


def week_of(raw: str, now_ms: int) -> int:
    """Monday 00:00 Beijing (ms) of the week holding the day ``YYYY-MM-DD`` (or now)."""
    raw = raw.strip()
    if not raw:
        return week_start(now_ms)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("the week is a day YYYY-MM-DD", field="week") from None
    at = datetime.combine(day, datetime.min.time(), BEIJING)
    return week_start(int(at.timestamp() * 1000))


def clock(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(BEIJING).strftime("%H:%M")


def day_name(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m-%d")


def review(r: q.QaReview) -> Json:
    return {
        "review_id": r.review_id,
        "period": r.period,
        "call_id": r.call_id,
        "agent_id": r.agent_id,
        "business_id": r.business_id,
        "reason": r.reason,
        "state": r.state,
        "inspector": r.inspector,
        "points": dict(r.points),
        "score_bp": r.score_bp,
        "comment": r.comment,
        "dispute_reason": r.dispute_reason,
        "reviewer": r.reviewer,
        "review_points": dict(r.review_points),
        "review_score_bp": r.review_score_bp,
        "final_score_bp": r.final_score_bp,
        "created_at_ms": r.created_at_ms,
    }


def recording(r: q.Recording) -> Json:
    return {
        "recording_id": r.recording_id,
        "call_id": r.call_id,
        "agents": list(r.agents),
        "business_id": r.business_id,
        "started_at_ms": r.started_at_ms,
        "day": day_name(r.started_at_ms) if r.started_at_ms else "",
        "start": clock(r.started_at_ms) if r.started_at_ms else "",
        "duration_ms": r.duration_ms,
        "swept": r.swept_at_ms > 0,
    }


def _shift(s: q.ScheduleShift) -> Json:
    brk = f"{clock(s.break_start_ms)}–{clock(s.break_end_ms)}" if s.break_end_ms else ""
    return {
        "agent_id": s.agent_id,
        "start": clock(s.start_ms),
        "end": clock(s.end_ms),
        "break": brk,
        "hours": round((s.end_ms - s.start_ms) / 3_600_000, 2),
    }


def _intervals(sched: q.Schedule, day: int) -> list[Json]:
    """The day's intervals with anyone on the phone or a prediction; a run of intervals
    alike (agents and predicted level) is one row, from its first to its last's end."""
    out: list[Json] = []
    on, sl = list(sched.on_phone), list(sched.predicted_sl_bp)
    for i in range(day * PER_DAY, (day + 1) * PER_DAY):
        agents = on[i] if i < len(on) else 0
        bp = sl[i] if i < len(sl) else -1
        if agents <= 0 and bp <= 0:
            continue
        at = sched.week_start_ms + i * INTERVAL_MS
        last = out[-1] if out else None
        if last and last["end_ms"] == at and (last["on_phone"], last["sl_bp"]) == (agents, bp):
            last["end_ms"] = at + INTERVAL_MS
            continue
        out.append({"start_ms": at, "end_ms": at + INTERVAL_MS, "on_phone": agents, "sl_bp": bp})
    return [{"start": clock(r["start_ms"]), "end": clock(r["end_ms"]), **r} for r in out]


def schedule(sched: q.Schedule) -> Json:
    """The week per day: shifts starting that day (by start) and the intervals."""
    days: list[Json] = []
    for d in range(7):
        start = sched.week_start_ms + d * DAY_MS
        shifts = sorted(
            (s for s in sched.shifts if start <= s.start_ms < start + DAY_MS),
            key=lambda s: (s.start_ms, s.agent_id),
        )
        days.append(
            {
                "date": day_name(start),
                "weekday": d,
                "shifts": [_shift(s) for s in shifts],
                "intervals": _intervals(sched, d),
            }
        )
    return {
        **week_dates(sched.week_start_ms),
        "published_by": sched.published_by,
        "published_at_ms": sched.published_at_ms,
        "days": days,
    }


def week_dates(week_start_ms: int) -> Json:
    return {
        "week": day_name(week_start_ms),
        "prev": day_name(week_start_ms - 7 * DAY_MS),
        "next": day_name(week_start_ms + 7 * DAY_MS),
    }
