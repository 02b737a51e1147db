"""Apply a batch of site events at the hub, in one fenced transaction.

:func:`apply_batch` runs inside the caller's transaction: it advances the fence, drops
every event whose ID (or site and sequence) is already in the inbox, writes inbox rows for
the rest, applies them to the hub's copies (CDRs, latest call state, agent states), and
moves each site's contiguous sequence forward. A replay therefore changes nothing, and
the copies do not depend on delivery order: a call's row only takes an event with a
higher sequence than the one it holds.

:func:`apply_batch_direct` does the same on the loop thread's own connection to a SQLite
file (:mod:`vcc_replication.sqlite_direct`): the same SQL (:mod:`.events_rows`), without
a thread hand-off per statement.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass

from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from vcc_hub.adapters.events_rows import (
    CDR_COLUMNS,
    progress_rows,
    seqs_by_site,
    statements,
    writes_of,
)
from vcc_hub.store import event_tables as t
from vcc_replication import sqlite_direct as direct
from vcc_replication.events import ContiguousTracker, SiteEvent
from vcc_replication.fencing import advance_fence, advance_fence_direct

__all__ = ["CDR_COLUMNS", "DeadMark", "apply_batch", "apply_batch_direct", "load_tracker"]

#: the inbox's kind for an event moved to the dead letters (its sequence counts as seen)
DEAD_LETTER_KIND = "dead_letter"


def candidates(events: list[SiteEvent], tracker: ContiguousTracker) -> list[SiteEvent]:
    """``events`` less repeats within the batch and sequences the tracker has seen."""
    by_id: dict[str, SiteEvent] = {}
    by_seq: set[tuple[str, int]] = set()
    for event in events:
        if event.event_id in by_id or (event.site, event.seq) in by_seq:
            continue
        if tracker.seen(event.site, event.seq):
            continue
        by_id[event.event_id] = event
        by_seq.add((event.site, event.seq))
    return list(by_id.values())


async def apply_batch(
    conn: AsyncConnection,
    token: int,
    events: list[SiteEvent],
    tracker: ContiguousTracker,
    now_ms: int,
) -> list[SiteEvent]:
    """Apply ``events``; returns those that were new (the others were already applied)."""
    await advance_fence(conn, token)
    fresh = candidates(events, tracker)
    if not fresh:
        return []
    ids = [e.event_id for e in fresh]
    known_ids = set(
        (await conn.execute(select(t.inbox.c.event_id).where(t.inbox.c.event_id.in_(ids))))
        .scalars()
        .all()
    )
    pairs = [(e.site, e.seq) for e in fresh]
    known_seqs = {
        (r.site, r.seq)
        for r in await conn.execute(
            select(t.inbox.c.site, t.inbox.c.seq).where(
                tuple_(t.inbox.c.site, t.inbox.c.seq).in_(pairs)
            )
        )
    }
    new = [e for e in fresh if e.event_id not in known_ids and (e.site, e.seq) not in known_seqs]
    if new:
        for sql, rows in writes_of(new, tracker, now_ms, conn.dialect.name):
            await conn.execute(_text(sql), rows)
    return new


def apply_batch_direct(
    conn: sqlite3.Connection,
    token: int,
    events: list[SiteEvent],
    tracker: ContiguousTracker,
    now_ms: int,
) -> list[SiteEvent]:
    """:func:`apply_batch` on the loop thread's SQLite connection (inside its transaction)."""
    advance_fence_direct(conn, token)
    fresh = candidates(events, tracker)
    if not fresh:
        return []
    ids = json.dumps([e.event_id for e in fresh])
    known_ids = {row[0] for row in direct.query(conn, _KNOWN_IDS_SQL, {"ids": ids})}
    known_seqs: set[tuple[str, int]] = set()
    for site, seqs in seqs_by_site(fresh).items():
        params = {"site": site, "seqs": json.dumps(seqs)}
        known_seqs.update(
            (site, int(row[0])) for row in direct.query(conn, _KNOWN_SEQS_SQL, params)
        )
    new = [e for e in fresh if e.event_id not in known_ids and (e.site, e.seq) not in known_seqs]
    if new:
        for sql, rows in writes_of(new, tracker, now_ms, "sqlite"):
            direct.execute_many(conn, sql, rows)
    return new


# one parameter whatever the batch's size: the statement text stays the same (cached)
_KNOWN_IDS_SQL = "SELECT event_id FROM inbox WHERE event_id IN (SELECT value FROM json_each(:ids))"
_KNOWN_SEQS_SQL = (
    "SELECT seq FROM inbox WHERE site = :site AND seq IN (SELECT value FROM json_each(:seqs))"
)


@functools.cache
def _text(sql: str) -> TextClause:
    return text(sql)


@dataclass(frozen=True, slots=True)
class DeadMark:
    """An event moved to the dead letters whose envelope named its site and sequence."""

    site: str
    seq: int
    event_id: str
    at_ms: int


async def mark_dead(
    conn: AsyncConnection,
    token: int,
    marks: list[DeadMark],
    tracker: ContiguousTracker,
    now_ms: int,
) -> list[DeadMark]:
    """Count dead-lettered events as seen (an inbox row of kind ``dead_letter``), so the
    sequence moves on and gap repair does not ask for them again; returns the marks that
    were new. Re-publishing the same event later is then dropped as a duplicate: to apply
    it after a fix, delete its inbox row (the dead letter keeps its bytes)."""
    await advance_fence(conn, token)
    fresh = {(m.site, m.seq): m for m in marks if not tracker.seen(m.site, m.seq)}
    if not fresh:
        return []
    rows = [
        {
            "event_id": m.event_id,
            "site": m.site,
            "seq": m.seq,
            "kind": DEAD_LETTER_KIND,
            "at_ms": m.at_ms,
            "applied_at_ms": now_ms,
        }
        for m in fresh.values()
    ]
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    await conn.execute(dialect.insert(t.inbox).on_conflict_do_nothing(), rows)
    seqs: dict[str, list[int]] = {}
    for site, seq in fresh:
        seqs.setdefault(site, []).append(seq)
    statement = _text(statements(conn.dialect.name)["progress"])
    await conn.execute(statement, progress_rows(seqs, tracker, now_ms))
    return list(fresh.values())


async def load_tracker(conn: AsyncConnection, now: float) -> ContiguousTracker:
    """The tracker as the database has it (contiguous figures and seqs seen above them)."""
    tracker = ContiguousTracker()
    progress = (
        await conn.execute(select(t.site_progress.c.site, t.site_progress.c.contiguous_seq))
    ).all()
    for site, contiguous in progress:
        above = list(
            (
                await conn.execute(
                    select(t.inbox.c.seq).where(t.inbox.c.site == site, t.inbox.c.seq > contiguous)
                )
            ).scalars()
        )
        tracker.load(site, int(contiguous), [int(s) for s in above], now)
    return tracker
