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
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from vcc_hub.events import tables as t
from vcc_hub.events.workorders import apply_work_orders
from vcc_replication.events import ContiguousTracker, SiteEvent
from vcc_replication.fencing import advance_fence

CDR_FIELDS = (
    "cdr_id", "call_id", "site_id", "home_site", "entry_site", "business_id", "tier",
    "caller_masked", "outcome", "arrival_at_ms", "answered_at_ms", "ended_at_ms", "wait_ms",
    "ring_ms", "talk_ms", "hold_ms", "agent_id", "transferred", "overflowed",
)


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
    known_ids = set((await conn.execute(
        select(t.inbox.c.event_id).where(t.inbox.c.event_id.in_(list(by_id)))
    )).scalars())
    known_seqs = {(r.site, r.seq) for r in (await conn.execute(
        select(t.inbox.c.site, t.inbox.c.seq).where(
            tuple_(t.inbox.c.site, t.inbox.c.seq).in_(list(by_seq)))
    ))}
    new = [e for e in by_id.values()
           if e.event_id not in known_ids and (e.site, e.seq) not in known_seqs]
    if not new:
        return []
    await conn.execute(t.inbox.insert(), [
        {"event_id": e.event_id, "site": e.site, "seq": e.seq, "kind": e.kind,
         "at_ms": e.at_ms, "applied_at_ms": now_ms} for e in new])
    await _apply_cdrs(conn, new)
    await _apply_calls(conn, new)
    await _apply_agent_states(conn, new)
    await _apply_customers(conn, new)
    await apply_work_orders(conn, new)  # issue 9: vcc_hub.events.workorders
    await _advance_progress(conn, new, tracker, now_ms)
    return new


async def _apply_cdrs(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    rows: list[dict[str, Any]] = []
    for e in events:
        if e.kind != "cdr.created":
            continue
        cdr = e.payload.get("cdr")
        if not isinstance(cdr, dict):
            continue
        row = {name: cdr.get(name) for name in CDR_FIELDS}
        row["site_id"] = row["site_id"] or e.site
        row["ivr_path"] = json.dumps(list(cdr.get("ivr_path") or []), ensure_ascii=False)
        row["event_seq"] = e.seq
        rows.append(row)
    if rows:
        stmt = _insert(conn, t.cdrs).on_conflict_do_nothing()
        await conn.execute(stmt, rows)


async def _apply_calls(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    latest: dict[tuple[str, str], SiteEvent] = {}
    for e in events:
        if not (e.kind.startswith("call.") or e.kind == "cdr.created"):
            continue
        if "state" not in e.payload:
            continue
        key = (e.site, str(e.payload.get("call_id") or e.aggregate_id))
        held = latest.get(key)
        if held is None or held.seq < e.seq:
            latest[key] = e
    if not latest:
        return
    rows = [{
        "site_id": site, "call_id": call_id,
        "state": str(e.payload.get("state", "")),
        "business_id": str(e.payload.get("business_id") or ""),
        "tier": str(e.payload.get("tier") or ""),
        "priority": str(e.payload.get("priority") or ""),
        "agent_id": str(e.payload.get("agent_id") or ""),
        "last_kind": e.kind, "last_seq": e.seq, "updated_at_ms": e.at_ms,
    } for (site, call_id), e in sorted(latest.items())]
    ins = _insert(conn, t.calls)
    stmt = ins.on_conflict_do_update(
        index_elements=["site_id", "call_id"],
        set_={c: ins.excluded[c] for c in ("state", "business_id", "tier", "priority",
                                           "agent_id", "last_kind", "last_seq",
                                           "updated_at_ms")},
        where=t.calls.c.last_seq < ins.excluded.last_seq,
    )
    await conn.execute(stmt, rows)


async def _apply_agent_states(conn: AsyncConnection, events: list[SiteEvent]) -> None:
    rows = [{
        "site": e.site, "seq": e.seq,
        "agent_id": str(e.payload.get("agent_id") or e.aggregate_id),
        "session_id": str(e.payload.get("session_id") or ""),
        "state": str(e.payload.get("state") or ""),
        "reason": str(e.payload.get("reason") or ""),
        "call_id": str(e.payload.get("call_id") or ""),
        "at_ms": e.at_ms,
    } for e in events if e.kind == "agent.state"]
    if rows:
        await conn.execute(_insert(conn, t.agent_states).on_conflict_do_nothing(), rows)


CUSTOMER_FIELDS = ("customer_id", "home_site", "phone", "account_no", "name", "tier")
CUSTOMER_NUMBERS = ("balance_fen", "bill_fen", "bill_due_at_ms", "open_work_orders",
                    "updated_at_ms")


def customer_row(e: SiteEvent) -> dict[str, Any] | None:
    """The hub's copy of a customer from a ``customer.updated`` event carrying the whole
    profile (``payload["customer"]``); None for an event without one."""
    profile = e.payload.get("customer")
    if e.kind != "customer.updated" or not isinstance(profile, dict):
        return None
    if not profile.get("customer_id"):
        return None
    row: dict[str, Any] = {name: str(profile.get(name) or "") for name in CUSTOMER_FIELDS}
    row.update({name: int(profile.get(name) or 0) for name in CUSTOMER_NUMBERS})
    row["home_site"] = row["home_site"] or e.site
    row["pin_set"] = bool(profile.get("pin_set"))
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


async def _advance_progress(conn: AsyncConnection, events: list[SiteEvent],
                            tracker: ContiguousTracker, now_ms: int) -> None:
    seqs: dict[str, list[int]] = {}
    for e in events:
        seqs.setdefault(e.site, []).append(e.seq)
    rows = [{"site": site, "contiguous_seq": tracker.preview(site, s), "updated_at_ms": now_ms}
            for site, s in sorted(seqs.items())]
    ins = _insert(conn, t.site_progress)
    stmt = ins.on_conflict_do_update(
        index_elements=["site"],
        set_={"contiguous_seq": ins.excluded.contiguous_seq,
              "updated_at_ms": ins.excluded.updated_at_ms},
        where=t.site_progress.c.contiguous_seq < ins.excluded.contiguous_seq,
    )
    await conn.execute(stmt, rows)


async def load_tracker(conn: AsyncConnection, now: float) -> ContiguousTracker:
    """The tracker as the database has it (contiguous figures and seqs seen above them)."""
    tracker = ContiguousTracker()
    progress = (await conn.execute(select(t.site_progress.c.site,
                                          t.site_progress.c.contiguous_seq))).all()
    for site, contiguous in progress:
        above = list((await conn.execute(
            select(t.inbox.c.seq).where(t.inbox.c.site == site, t.inbox.c.seq > contiguous)
        )).scalars())
        tracker.load(site, int(contiguous), [int(s) for s in above], now)
    return tracker
