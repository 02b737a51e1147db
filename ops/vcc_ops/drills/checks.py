"""The invariant checker of a drill (ARCHITECTURE §4), run on the databases afterwards.

Reads every site database and the hub database (SQLite files or PostgreSQL, read with a
plain synchronous engine once the processes are quiet) and the access edge's ledger:

* **events** (invariant 4): every event in every site outbox was applied at the hub,
  once: its event ID is in the hub inbox under the same site and sequence. Missing ones
  are *events lost*; an inbox row whose event ID sits at another sequence, and a hub CDR
  the site never wrote, are *duplicates*.
* **double assignments** (invariant 2): from the sites' call legs, no agent had two legs
  overlapping in time, and no call had two answered non-consultation legs at once.
* **calls** (invariant 1): every call of the ledger that a site took has exactly one
  final CDR at the hub (transferred-out and overflowed-out CDRs are not final); every
  lost call has a reason; no call is left open.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

LEFT_SITE = frozenset({"transferred_out", "overflowed_out", "assigned_out"})
FINAL_STATES = frozenset({"ended", "lost", "refused"})
NOT_SERVICE = frozenset({"ivr_hangup", "self_service"})
EXAMPLES = 10


class LedgerCall(Protocol):
    """What the checker reads of an access edge ledger entry."""

    call_id: str
    site_id: str
    state: str
    reason: str
    offered_at: float


def sync_url(url: str) -> str:
    """The synchronous form of a node's database URL."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


@dataclass
class CheckResult:
    events_published: int = 0  # outbox rows over all sites
    events_applied: int = 0  # of those, applied at the hub
    events_lost: int = 0
    duplicates: int = 0
    double_assignments: int = 0
    ledger_calls: int = 0
    calls_taken: int = 0  # ledger calls some site took
    calls_without_final_cdr: int = 0
    calls_with_many_final_cdrs: int = 0
    calls_lost: int = 0
    calls_lost_without_reason: int = 0
    calls_open: int = 0
    calls_refused: int = 0
    lost_reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, what: str, example: str) -> None:
        shown = self.examples.setdefault(what, [])
        if len(shown) < EXAMPLES:
            shown.append(example)

    def failures(self) -> list[str]:
        """Each broken invariant, in words; empty when all hold."""
        out = []
        for name in (
            "events_lost",
            "duplicates",
            "double_assignments",
            "calls_without_final_cdr",
            "calls_with_many_final_cdrs",
            "calls_lost_without_reason",
            "calls_open",
        ):
            value = getattr(self, name)
            if value:
                out.append(f"{name} = {value} (e.g. {', '.join(self.examples.get(name, []))})")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "failures": self.failures()}


class ProvinceDatabases:
    """Synchronous read access to the hub's and each site's database."""

    def __init__(self, hub_url: str, site_urls: Mapping[str, str]) -> None:
        # pre-ping: pooled connections survive a database restart (the db-restart drill)
        self.hub = create_engine(sync_url(hub_url), pool_pre_ping=True)
        self.sites = {
            site: create_engine(sync_url(url), pool_pre_ping=True)
            for site, url in site_urls.items()
        }

    def close(self) -> None:
        for engine in [self.hub, *self.sites.values()]:
            engine.dispose()

    def site_last_seq(self, site: str) -> int:
        rows = _rows(self.sites[site], "SELECT value FROM site_meta WHERE key = 'outbox.last_seq'")
        return int(rows[0][0]) if rows else 0

    def hub_contiguous(self) -> dict[str, int]:
        return {
            str(s): int(q)
            for s, q in _rows(self.hub, "SELECT site, contiguous_seq FROM site_progress")
        }

    def caught_up(self) -> bool:
        """True when the hub has applied every site's events without a gap."""
        done = self.hub_contiguous()
        return all(done.get(site, 0) >= self.site_last_seq(site) for site in self.sites)

    def replication_lags_ms(self, start_ms: int, end_ms: int) -> list[int]:
        """For each site event of ``[start_ms, end_ms)`` (event time) applied at the hub:
        milliseconds from the event to its application."""
        return [
            int(applied) - int(at)
            for at, applied in _rows(
                self.hub,
                "SELECT at_ms, applied_at_ms FROM inbox WHERE at_ms >= :lo AND at_ms < :hi",
                lo=start_ms,
                hi=end_ms,
            )
        ]

    def hub_applied_since(self, at_ms: int) -> int:
        """How many site events of ``at_ms`` or later (event time) the hub applied."""
        return int(_rows(self.hub, "SELECT COUNT(*) FROM inbox WHERE at_ms >= :at", at=at_ms)[0][0])

    def hub_cdrs(self) -> list[dict[str, Any]]:
        rows = _rows(
            self.hub,
            "SELECT call_id, site_id, outcome, arrival_at_ms, answered_at_ms, wait_ms FROM cdrs",
        )
        keys = ("call_id", "site_id", "outcome", "arrival_at_ms", "answered_at_ms", "wait_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def check_events(db: ProvinceDatabases, result: CheckResult) -> None:
    inbox: dict[str, tuple[str, int]] = {
        str(e): (str(s), int(q))
        for e, s, q in _rows(db.hub, "SELECT event_id, site, seq FROM inbox")
    }
    hub_cdrs = {(str(s), str(c)) for c, s in _rows(db.hub, "SELECT call_id, site_id FROM cdrs")}
    for site, engine in db.sites.items():
        for seq, event_id, kind in _rows(engine, "SELECT seq, event_id, kind FROM outbox"):
            result.events_published += 1
            applied = inbox.get(str(event_id))
            if applied is None:
                result.events_lost += 1
                result.note("events_lost", f"{site}#{seq} {kind}")
            elif applied != (site, int(seq)):
                result.duplicates += 1
                result.note("duplicates", f"{event_id} at {applied} (outbox {site}#{seq})")
            else:
                result.events_applied += 1
        site_cdrs = {str(c) for (c,) in _rows(engine, "SELECT call_id FROM cdrs")}
        for hub_site, call in hub_cdrs:
            if hub_site == site and call not in site_cdrs:
                result.duplicates += 1
                result.note("duplicates", f"hub CDR {site}/{call} the site never wrote")


def _overlaps(intervals: Iterable[tuple[int, int, str]]) -> list[tuple[str, str]]:
    """Pairs of labels whose [start, end) intervals overlap (sorted sweep)."""
    found: list[tuple[str, str]] = []
    latest_end, latest_label = -1, ""
    for start, end, label in sorted(intervals):
        if start < latest_end:
            found.append((latest_label, label))
        if end > latest_end:
            latest_end, latest_label = end, label
    return found


def check_assignments(db: ProvinceDatabases, result: CheckResult, now_ms: int) -> None:
    for site, engine in db.sites.items():
        call_end = {
            str(c): int(e)
            for c, e in _rows(
                engine, "SELECT call_id, ended_at_ms FROM calls WHERE ended_at_ms > 0"
            )
        }
        by_agent: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        by_call: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for call, agent, kind, offered, answered, ended in _rows(
            engine,
            "SELECT call_id, agent_id, kind, offered_at_ms, answered_at_ms, ended_at_ms FROM legs",
        ):
            if not agent:
                continue
            start = int(offered or answered)
            end = int(ended) or call_end.get(str(call), now_ms)
            if start <= 0 or end <= start:
                continue
            by_agent[str(agent)].append((start, end, f"{call}/{kind}"))
            if int(answered) > 0 and kind != "consult":
                by_call[str(call)].append((int(answered), end, f"{agent}/{kind}"))
        for agent, legs in by_agent.items():
            for first, second in _overlaps(legs):
                result.double_assignments += 1
                result.note("double_assignments", f"{site} agent {agent}: {first} & {second}")
        for call, legs in by_call.items():
            for first, second in _overlaps(legs):
                result.double_assignments += 1
                result.note("double_assignments", f"{site} call {call}: {first} & {second}")


def check_calls(db: ProvinceDatabases, ledger: Iterable[LedgerCall], result: CheckResult) -> None:
    finals: Counter[str] = Counter(
        c["call_id"] for c in db.hub_cdrs() if c["outcome"] not in LEFT_SITE
    )
    reasons: Counter[str] = Counter()
    for call in ledger:
        result.ledger_calls += 1
        if call.state not in FINAL_STATES:
            result.calls_open += 1
            result.note("calls_open", f"{call.call_id} {call.state} at {call.site_id}")
        if call.state == "refused":
            result.calls_refused += 1
            reasons[call.reason or "?"] += 1
        if call.state == "lost":
            result.calls_lost += 1
            reasons[call.reason or "?"] += 1
            if not call.reason:
                result.calls_lost_without_reason += 1
                result.note("calls_lost_without_reason", call.call_id)
        if not call.site_id:
            continue
        result.calls_taken += 1
        n = finals.get(call.call_id, 0)
        if n == 0:
            result.calls_without_final_cdr += 1
            result.note(
                "calls_without_final_cdr", f"{call.call_id} ({call.state} at {call.site_id})"
            )
        elif n > 1:
            result.calls_with_many_final_cdrs += 1
            result.note("calls_with_many_final_cdrs", f"{call.call_id} x{n}")
    result.lost_reasons = dict(reasons)


def run_checks(db: ProvinceDatabases, ledger: Iterable[LedgerCall], now_ms: int) -> CheckResult:
    result = CheckResult()
    check_events(db, result)
    check_assignments(db, result, now_ms)
    check_calls(db, ledger, result)
    return result


def service_level(
    cdrs: Iterable[Mapping[str, Any]],
    ledger: Iterable[LedgerCall],
    start_s: float,
    end_s: float,
    within_s: float = 20.0,
) -> dict[str, Any]:
    """Share of the calls that arrived in ``[start_s, end_s)`` (wall seconds) answered
    within ``within_s``; refused and lost calls count as not answered in time."""
    lo, hi = int(start_s * 1000), int(end_s * 1000)
    offered = answered_in_time = 0
    for cdr in cdrs:
        if cdr["outcome"] in LEFT_SITE or cdr["outcome"] in NOT_SERVICE:
            continue
        if lo <= int(cdr["arrival_at_ms"]) < hi:
            offered += 1
            if int(cdr["answered_at_ms"]) > 0 and int(cdr["wait_ms"]) <= within_s * 1000:
                answered_in_time += 1
    refused = sum(1 for c in ledger if c.state == "refused" and start_s <= c.offered_at < end_s)
    offered += refused
    sl = round(100.0 * answered_in_time / offered, 1) if offered else None
    return {
        "offered": offered,
        "answered_within_target": answered_in_time,
        "refused": refused,
        "service_level_pct": sl,
    }


def dumps(result: CheckResult) -> str:
    return json.dumps(result.as_dict(), indent=2)
