"""Apply a batch of site events at the hub, in one fenced transaction.

:func:`apply_batch` runs inside the caller's transaction: it advances the fence, drops
every event whose ID (or site and sequence) is already in the inbox, writes inbox rows for
the rest, applies them to the hub's copies (CDRs, latest call state, agent states), and
moves each site's contiguous sequence forward. A replay therefore changes nothing, and
the copies do not depend on delivery order: a call's row only takes an event with a
higher sequence than the one it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from vcc_hub.adapters.events_workorders import apply_work_orders
from vcc_hub.store import event_tables as t
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import ContiguousTracker, SiteEvent
from vcc_replication.fencing import advance_fence

#: the hub's ``cdrs`` columns filled from a CDR: every field of the ``Cdr`` message (the
#: one definition of a CDR) but ``ivr_path``, stored as JSON text
CDR_COLUMNS = tuple(f.name for f in pb.Cdr.DESCRIPTOR.fields if f.name != "ivr_path")
#: the customer profile's fields, each a column of ``customers`` of the same name
PROFILE_COLUMNS = tuple(f.name for f in pb.CustomerProfile.DESCRIPTOR.fields)
#: bodies whose call state the hub's ``calls`` copy follows (a consult leg's do not)
CALL_BODIES = frozenset(
    f.name
    for f in pb.SiteEvent.DESCRIPTOR.oneofs_by_name["body"].fields
    if f.name.startswith("call_")
) | {"cdr_created"}
#: the inbox's kind for an event moved to the dead letters (its sequence counts as seen)
DEAD_LETTER_KIND = "dead_letter"


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


async def apply_batch(
    conn: AsyncConnection,
    token: int,
    events: list[SiteEvent],
    tracker: ContiguousTracker,
    now_ms: int,
) -> list[SiteEvent]:
    """Apply ``events``; returns those that were new (the others were already applied)."""
    await advance_fence(conn, token)
    by_id: dict[str, SiteEvent] = {}
    by_seq: dict[tuple[str, int], SiteEvent] = {}
    for event in events:
        if event.event_id in by_id or (event.site, event.seq) in by_seq:
            continue
        if tracker.seen(event.site, event.seq):
            continue
        by_id[event.event_id] = event
        by_seq[(event.site, event.seq)] = event
    if not by_id:
        return []
    known_ids = set(
        (
            await conn.execute(
                select(t.inbox.c.event_id).where(t.inbox.c.event_id.in_(list(by_id)))
            )
        ).scalars()
    )
    known_seqs = {
        (r.site, r.seq)
        for r in (
            await conn.execute(
                select(t.inbox.c.site, t.inbox.c.seq).where(
                    tuple_(t.inbox.c.site, t.inbox.c.seq).in_(list(by_seq))
                )
            )
        )
    }
    new = [
        e
        for e in by_id.values()
        if e.event_id not in known_ids and (e.site, e.seq) not in known_seqs
    ]
    if not new:
        return []
    await conn.execute(
        t.inbox.insert(),
        [
            {
                "event_id": e.event_id,
                "site": e.site,
                "seq": e.seq,
                "kind": e.kind,
                "at_ms": e.at_ms,
                "applied_at_ms": now_ms,
            }
            for e in new
        ],
    )
    await _apply_cdrs(conn, new)
    await _apply_calls(conn, new)
    await _apply_agent_states(conn, new)
    await _apply_customers(conn, new)
    await _apply_ratings(conn, new)
    await apply_work_orders(conn, new)  # issue 9: vcc_hub.store.workorders
    await _advance_progress(conn, new, tracker, now_ms)
    return new


async def _apply_cdrs(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    rows: list[dict[str, Any]] = []
    for e in events:
        if e.WhichOneof("body") != "cdr_created" or not e.cdr_created.HasField("cdr"):
            continue
        cdr = e.cdr_created.cdr
        row = {name: getattr(cdr, name) for name in CDR_COLUMNS}
        row["site_id"] = row["site_id"] or e.site
        row["ivr_path"] = json.dumps(list(cdr.ivr_path), ensure_ascii=False)
        row["event_seq"] = e.seq
        rows.append(row)
    if rows:
        stmt = _insert(conn, t.cdrs).on_conflict_do_nothing()
        await conn.execute(stmt, rows)


async def _apply_ratings(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    rows = [
        {
            "site_id": e.rating_created.site_id or e.site,
            "call_id": e.rating_created.call_id,
            "agent_id": e.rating_created.agent_id,
            "business_id": e.rating_created.business_id,
            "score": e.rating_created.score,
            "rated_at_ms": e.rating_created.rated_at_ms,
            "event_seq": e.seq,
        }
        for e in events
        if e.WhichOneof("body") == "rating_created" and 1 <= e.rating_created.score <= 5
    ]
    if rows:
        await conn.execute(_insert(conn, t.ratings).on_conflict_do_nothing(), rows)


def _call_of(e: SiteEvent) -> pb.CallInfo | None:
    """The call an event changes the state of (None: not a call, or no state change)."""
    name = e.WhichOneof("body")
    if name not in CALL_BODIES:
        return None
    info: pb.CallInfo = getattr(e, name).call
    return info if info.state else None


async def _apply_calls(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    latest: dict[tuple[str, str], tuple[SiteEvent, pb.CallInfo]] = {}
    for e in events:
        info = _call_of(e)
        if info is None:
            continue
        key = (e.site, info.call_id or e.aggregate_id)
        held = latest.get(key)
        if held is None or held[0].seq < e.seq:
            latest[key] = (e, info)
    if not latest:
        return
    rows = [
        {
            "site_id": site,
            "call_id": call_id,
            "state": info.state,
            "business_id": info.business_id,
            "tier": info.tier,
            "priority": info.priority,
            "agent_id": info.agent_id,
            "last_kind": e.kind,
            "last_seq": e.seq,
            "updated_at_ms": e.at_ms,
        }
        for (site, call_id), (e, info) in sorted(latest.items())
    ]
    ins = _insert(conn, t.calls)
    stmt = ins.on_conflict_do_update(
        index_elements=["site_id", "call_id"],
        set_={
            c: ins.excluded[c]
            for c in (
                "state",
                "business_id",
                "tier",
                "priority",
                "agent_id",
                "last_kind",
                "last_seq",
                "updated_at_ms",
            )
        },
        where=t.calls.c.last_seq < ins.excluded.last_seq,
    )
    await conn.execute(stmt, rows)


async def _apply_agent_states(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    rows = [
        {
            "site": e.site,
            "seq": e.seq,
            "agent_id": e.agent_state.agent_id or e.aggregate_id,
            "session_id": e.agent_state.session_id,
            "state": e.agent_state.state,
            "reason": e.agent_state.reason,
            "call_id": e.agent_state.call_id,
            "at_ms": e.at_ms,
        }
        for e in events
        if e.WhichOneof("body") == "agent_state"
    ]
    if rows:
        await conn.execute(_insert(conn, t.agent_states).on_conflict_do_nothing(), rows)


def customer_row(e: SiteEvent) -> dict[str, Any] | None:
    """The hub's copy of a customer from a ``customer.updated`` event carrying the whole
    profile; None for an event without one."""
    if e.WhichOneof("body") != "customer_updated" or not e.customer_updated.HasField("customer"):
        return None
    profile = e.customer_updated.customer
    if not profile.customer_id:
        return None
    row: dict[str, Any] = {name: getattr(profile, name) for name in PROFILE_COLUMNS}
    row["home_site"] = row["home_site"] or e.site
    row["as_of_ms"] = e.at_ms
    row["event_seq"] = e.seq
    return row


async def _apply_customers(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        row = customer_row(e)
        if row is None:
            continue
        held = latest.get(row["customer_id"])
        if held is None or held["event_seq"] < row["event_seq"]:
            latest[row["customer_id"]] = row
    if not latest:
        return
    ins = _insert(conn, t.customers)
    columns = [c.name for c in t.customers.columns if c.name != "customer_id"]
    stmt = ins.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={c: ins.excluded[c] for c in columns},
        where=t.customers.c.event_seq < ins.excluded.event_seq,
    )
    await conn.execute(stmt, [latest[k] for k in sorted(latest)])


async def _advance_progress(
    conn: AsyncConnection, events: list[SiteEvent], tracker: ContiguousTracker, now_ms: int
) -> None:
    seqs: dict[str, list[int]] = {}
    for e in events:
        seqs.setdefault(e.site, []).append(e.seq)
    await _progress(conn, seqs, tracker, now_ms)


async def _progress(
    conn: AsyncConnection, seqs: dict[str, list[int]], tracker: ContiguousTracker, now_ms: int
) -> None:
    rows = [
        {"site": site, "contiguous_seq": tracker.preview(site, s), "updated_at_ms": now_ms}
        for site, s in sorted(seqs.items())
    ]
    ins = _insert(conn, t.site_progress)
    stmt = ins.on_conflict_do_update(
        index_elements=["site"],
        set_={
            "contiguous_seq": ins.excluded.contiguous_seq,
            "updated_at_ms": ins.excluded.updated_at_ms,
        },
        where=t.site_progress.c.contiguous_seq < ins.excluded.contiguous_seq,
    )
    await conn.execute(stmt, rows)


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
    await conn.execute(_insert(conn, t.inbox).on_conflict_do_nothing(), rows)
    seqs: dict[str, list[int]] = {}
    for site, seq in fresh:
        seqs.setdefault(site, []).append(seq)
    await _progress(conn, seqs, tracker, now_ms)
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
