"""The writes of a batch of new site events at the hub, as SQL text and rows (pure).

:func:`writes_of` turns the events that are new to the inbox into ``(sql, rows)`` pairs:
inbox rows, the hub's copies (CDRs, latest call state, agent states, customers, ratings,
work orders) and each site's contiguous sequence. The SQL is what SQLAlchemy compiles from the
tables, once per dialect, with named parameters: the same text runs through the asyncio
engine (``text()``) and on the loop thread's own SQLite connection, and the dialects'
upserts (which SQLAlchemy does not cache) are not compiled again for every batch.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite

from vcc_hub.adapters.events_workorders import order_row
from vcc_hub.store import event_tables as t
from vcc_hub.store import workorders
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import ContiguousTracker, SiteEvent

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
_CALL_SET = (
    "state",
    "business_id",
    "tier",
    "priority",
    "agent_id",
    "last_kind",
    "last_seq",
    "updated_at_ms",
)

Writes = list[tuple[str, list[dict[str, Any]]]]


def writes_of(
    new: list[SiteEvent], tracker: ContiguousTracker, now_ms: int, dialect: str
) -> Writes:
    """The statements and rows that apply ``new`` (events not yet in the inbox)."""
    sql = statements(dialect)
    inbox = [
        {
            "event_id": e.event_id,
            "site": e.site,
            "seq": e.seq,
            "kind": e.kind,
            "at_ms": e.at_ms,
            "applied_at_ms": now_ms,
        }
        for e in new
    ]
    writes: Writes = [(sql["inbox"], inbox)]
    for name, rows in (
        ("cdrs", cdr_rows(new)),
        ("calls", call_rows(new)),
        ("agent_states", agent_state_rows(new)),
        ("customers", customer_rows(new)),
        ("ratings", rating_rows(new)),
        ("work_orders", workorders.newest([r for r in map(order_row, new) if r is not None])),
        ("progress", progress_rows(seqs_by_site(new), tracker, now_ms)),
    ):
        if rows:
            writes.append((sql[name], rows))
    return writes


def seqs_by_site(events: list[SiteEvent]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {}
    for e in events:
        seqs.setdefault(e.site, []).append(e.seq)
    return seqs


def progress_rows(
    seqs: dict[str, list[int]], tracker: ContiguousTracker, now_ms: int
) -> list[dict[str, Any]]:
    """Each site's contiguous sequence once ``seqs`` are seen (moved only forward)."""
    return [
        {"site": site, "contiguous_seq": tracker.preview(site, s), "updated_at_ms": now_ms}
        for site, s in sorted(seqs.items())
    ]


def cdr_rows(events: list[SiteEvent]) -> list[dict[str, Any]]:
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
    return rows


def _call_of(e: SiteEvent) -> pb.CallInfo | None:
    """The call an event changes the state of (None: not a call, or no state change)."""
    name = e.WhichOneof("body")
    if name not in CALL_BODIES:
        return None
    info: pb.CallInfo = getattr(e, name).call
    return info if info.state else None


def call_rows(events: list[SiteEvent]) -> list[dict[str, Any]]:
    """The newest state of each call among ``events`` (by sequence)."""
    latest: dict[tuple[str, str], tuple[SiteEvent, pb.CallInfo]] = {}
    for e in events:
        info = _call_of(e)
        if info is None:
            continue
        key = (e.site, info.call_id or e.aggregate_id)
        held = latest.get(key)
        if held is None or held[0].seq < e.seq:
            latest[key] = (e, info)
    return [
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


def agent_state_rows(events: list[SiteEvent]) -> list[dict[str, Any]]:
    return [
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


def customer_rows(events: list[SiteEvent]) -> list[dict[str, Any]]:
    """The newest profile of each customer among ``events`` (by sequence)."""
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        row = customer_row(e)
        if row is None:
            continue
        held = latest.get(row["customer_id"])
        if held is None or held["event_seq"] < row["event_seq"]:
            latest[row["customer_id"]] = row
    return [latest[k] for k in sorted(latest)]


def rating_rows(events: list[SiteEvent]) -> list[dict[str, Any]]:
    """The hub's copy of each caller's rating (a score outside 1-5 is not kept)."""
    return [
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


@functools.cache
def statements(dialect: str) -> dict[str, str]:
    """Each write's SQL for ``dialect`` ("sqlite" or a PostgreSQL one), compiled once."""
    d = sqlite if dialect == "sqlite" else postgresql
    compiler = d.dialect(paramstyle="named")

    def sql(stmt: Any) -> str:
        return str(stmt.compile(dialect=compiler))

    def newest_wins(table: Any, key: list[str], version: str) -> str:
        ins = d.insert(table)
        return sql(
            ins.on_conflict_do_update(
                index_elements=key,
                set_={c.name: ins.excluded[c.name] for c in table.c if c.name not in key},
                where=table.c[version] < ins.excluded[version],
            )
        )

    calls = d.insert(t.calls)
    return {
        "inbox": sql(insert(t.inbox).values({c.name: bindparam(c.name) for c in t.inbox.c})),
        "cdrs": sql(d.insert(t.cdrs).on_conflict_do_nothing()),
        "calls": sql(
            calls.on_conflict_do_update(
                index_elements=["site_id", "call_id"],
                set_={c: calls.excluded[c] for c in _CALL_SET},
                where=t.calls.c.last_seq < calls.excluded.last_seq,
            )
        ),
        "agent_states": sql(d.insert(t.agent_states).on_conflict_do_nothing()),
        "customers": newest_wins(t.customers, ["customer_id"], "event_seq"),
        "ratings": sql(d.insert(t.ratings).on_conflict_do_nothing()),
        "work_orders": sql(workorders.upsert_statement(dialect)),
        "progress": newest_wins(t.site_progress, ["site"], "contiguous_seq"),
    }
