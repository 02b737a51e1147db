"""Planned and unplanned outages per area, read to callers by the IVR (pure).

Data-maintenance staff enter outages at the hub as directory entities (kind ``outage``,
table ``[[outages]]`` of the province document, keyed by ``id``); they reach every site
with the directory, and the IVR's ``outage_notice`` node reads the ones of the caller's
area (:func:`notices_for`). An outage::

    [[outages]]
    id = "km-2026-12-05-cable"        # unique
    kind = "planned"                  # planned | unplanned
    area_codes = ["0871"]             # areas it affects (each served by some site)
    starts_at = 2026-12-05T08:00:00+08:00
    ends_at = 2026-12-05T12:00:00+08:00   # optional: absent = until further notice
    notice = { zh = "...", en = "..." }   # what callers hear
    incident = "inc-0871-1205"        # optional: the fault-repair orders it explains

Times carry their offset (an ISO string in the directory's JSON form).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from vcc_domain.province import Text
from vcc_domain.province_schema import Problems, Table

KINDS = frozenset({"planned", "unplanned"})
OUTAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
AHEAD_MS = 7 * 86_400_000  # a planned outage is announced this long before it starts
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class Outage:
    id: str
    kind: str  # planned | unplanned
    area_codes: tuple[str, ...]
    starts_at_ms: int
    ends_at_ms: int  # 0 = until further notice
    notice: Text
    incident: str = ""  # fault-repair work orders of this outage share it

    def in_force(self, at_ms: int) -> bool:
        return self.starts_at_ms <= at_ms and (not self.ends_at_ms or at_ms < self.ends_at_ms)

    def announced(self, area_code: str, at_ms: int, ahead_ms: int = AHEAD_MS) -> bool:
        """Callers of ``area_code`` hear it at ``at_ms``: in force, or starting within
        ``ahead_ms``."""
        if area_code not in self.area_codes:
            return False
        if self.ends_at_ms and at_ms >= self.ends_at_ms:
            return False
        return at_ms + ahead_ms >= self.starts_at_ms


def notices_for(
    outages: Iterable[Outage], area_code: str, at_ms: int, ahead_ms: int = AHEAD_MS
) -> list[Outage]:
    """The outages callers of ``area_code`` hear at ``at_ms``: those in force first, then
    those coming, each group by start (then id)."""
    found = [o for o in outages if o.announced(area_code, at_ms, ahead_ms)]
    return sorted(found, key=lambda o: (not o.in_force(at_ms), o.starts_at_ms, o.id))


def incident_for(outages: Iterable[Outage], area_code: str, at_ms: int) -> str:
    """The incident a fault report from ``area_code`` at ``at_ms`` belongs to: that of the
    area's outage in force (earliest start; its ``incident``, else its id); "" if none."""
    now = [o for o in outages if area_code in o.area_codes and o.in_force(at_ms)]
    if not now:
        return ""
    first = min(now, key=lambda o: (o.starts_at_ms, o.id))
    return first.incident or first.id


def spoken(outage: Outage, at_ms: int) -> Text:
    """What a caller hears about ``outage`` (times in Beijing time)."""
    start, end = _clock(outage.starts_at_ms), _clock(outage.ends_at_ms)
    zh_kind = "计划停机" if outage.kind == "planned" else "故障停机"
    en_kind = "Planned outage" if outage.kind == "planned" else "Unplanned outage"
    if outage.in_force(at_ms):
        zh_when = f"自{start}起" + (f"，预计{end}恢复" if end else "，恢复时间另行通知")
        en_when = f"since {start}" + (f", expected back by {end}" if end else ", end not yet known")
    else:
        zh_when = f"{start}开始" + (f"，{end}结束" if end else "")
        en_when = f"from {start}" + (f" to {end}" if end else "")
    return Text(
        f"{zh_kind}，{zh_when}：{outage.notice.zh}", f"{en_kind} {en_when}: {outage.notice.en}"
    )


def _clock(at_ms: int) -> str:
    if not at_ms:
        return ""
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def read_outages(tables: list[Table], area_codes: set[str], problems: Problems) -> list[Outage]:
    """``[[outages]]`` of a province document; problems name each field."""
    out: list[Outage] = []
    first: dict[str, str] = {}
    for t in tables:
        outage = Outage(
            t.string("id", pattern=OUTAGE_ID),
            t.string("kind", choices=KINDS),
            t.strings("area_codes", nonempty=True),
            t.instant_ms("starts_at"),
            t.instant_ms("ends_at", None),
            t.text("notice"),
            t.string("incident", ""),
        )
        for i, code in enumerate(outage.area_codes):
            if code not in area_codes:
                t.problem(f"area_codes[{i}]", f"unknown area code {code!r} (no site serves it)")
        if outage.ends_at_ms and outage.ends_at_ms <= outage.starts_at_ms:
            t.problem("ends_at", "must be after starts_at")
        if outage.id in first:
            t.problem("id", f"duplicate outage {outage.id!r} (first at {first[outage.id]})")
        first.setdefault(outage.id, t.at("id"))
        t.close()
        out.append(outage)
    return out
