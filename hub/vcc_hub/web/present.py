"""What the console's pages are sent: the hub's replies as plain JSON, and the directory's
version history with the field-by-field difference each version made (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vcc_domain.directory_doc import Change, Document, apply_changes, get_entity
from vcc_domain.errors import VccError
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import site_pb2 as s

Json = dict[str, Any]

#: The directory kinds the console shows, by the API's enum.
KINDS: dict[str, int] = {
    "site": h.ENTITY_KIND_SITE,
    "skill": h.ENTITY_KIND_SKILL,
    "business": h.ENTITY_KIND_BUSINESS,
    "agent": h.ENTITY_KIND_AGENT,
    "tariff": h.ENTITY_KIND_TARIFF,
    "routing": h.ENTITY_KIND_ROUTING_POLICY,
    "directory_entry": h.ENTITY_KIND_DIRECTORY_ENTRY,
    "agent_group": h.ENTITY_KIND_AGENT_GROUP,
    "tiers": h.ENTITY_KIND_TIERS,
    "province": h.ENTITY_KIND_PROVINCE,
    "document": h.ENTITY_KIND_DOCUMENT,
    "outage": h.ENTITY_KIND_OUTAGE,
}
KIND_OF = {v: k for k, v in KINDS.items()}
OPS = {h.DirectoryChange.OP_UPSERT: "upsert", h.DirectoryChange.OP_DELETE: "delete"}
FIGURES = (
    "business_id",
    "waiting",
    "longest_wait_ms",
    "ewt_ms",
    "agents_ready",
    "agents_busy",
    "agents_wrap_up",
)


def board(msg: h.Board, site_names: dict[str, str]) -> Json:
    """The province board: each site's rows (per business) with the age of its report."""
    sites: dict[str, Json] = {
        sid: {"site_id": sid, "name": name, "rows": [], "stale": sid in msg.stale_site_ids}
        for sid, name in site_names.items()
    }
    for row in msg.rows:
        f = row.figures
        entry = sites.setdefault(
            f.site_id, {"site_id": f.site_id, "name": f.site_id, "rows": [], "stale": False}
        )
        entry["rows"].append({**{k: getattr(f, k) for k in FIGURES}, "age_ms": row.age_ms})
        entry["age_ms"] = min(entry.get("age_ms", row.age_ms), row.age_ms)
    return {
        "type": "board",
        "as_of_ms": msg.as_of_ms,
        "stale": list(msg.stale_site_ids),
        "sites": list(sites.values()),
    }


def statement(msg: h.Statement) -> Json:
    return {
        "period_id": msg.period_id,
        "closed": msg.closed,
        "closed_at_ms": msg.closed_at_ms,
        "calls": msg.calls,
        "total_access_fen": msg.total_access_fen,
        "total_handling_fee_fen": msg.total_handling_fee_fen,
        "adjustments_fen": msg.adjustments_fen,
        "entries": [
            {
                "payer": e.payer_site_id,
                "serving": e.serving_site_id,
                "calls": e.calls,
                "fee_fen": e.handling_fee_fen,
            }
            for e in msg.entries
        ],
        "positions": [
            {
                "site_id": n.site_id,
                "receivable_fen": n.receivable_fen,
                "payable_fen": n.payable_fen,
                "net_fen": n.net_fen,
                "access_fen": n.access_fen,
            }
            for n in msg.positions
        ],
    }


def work_order(o: s.WorkOrder) -> Json:
    return {
        "order_id": o.order_id,
        "owner_site": o.owner_site,
        "origin_site": o.origin_site,
        "business_id": o.business_id,
        "order_type": o.order_type,
        "department": o.department,
        "state": o.state,
        "created_at_ms": o.created_at_ms,
        "answer_due_ms": o.answer_due_ms,
        "call_id": o.call_id,
        "agent_id": o.agent_id,
    }


def entities(reply: h.ListEntitiesReply) -> Json:
    return {
        "version": reply.version,
        "entities": [
            {"id": ident, "entity": json.loads(raw)}
            for ident, raw in zip(reply.entity_ids, reply.entities_json, strict=True)
        ],
    }


def change_of(msg: h.DirectoryChange) -> Change:
    entity = json.loads(msg.entity_json) if msg.entity_json else None
    return Change(
        KIND_OF.get(msg.kind, "document"), OPS.get(msg.op, "upsert"), msg.entity_id, entity
    )


def version_summary(delta: h.DirectoryDelta) -> Json:
    actor = delta.actor
    who = actor.operator or "/".join(x for x in (actor.site_id, actor.agent_id) if x)
    return {
        "version": delta.version,
        "change_id": delta.change_id,
        "committed_at_ms": delta.committed_at_ms,
        "actor": who,
        "changes": [
            {"kind": KIND_OF.get(c.kind, "?"), "op": OPS.get(c.op, "?"), "id": c.entity_id}
            for c in delta.changes
        ],
    }


def _entity(doc: Document, change: Change) -> Any:
    if change.kind == "document":
        return doc
    try:
        return get_entity(doc, change.kind, change.id)
    except VccError:
        return None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Every leaf of ``value`` by its dotted path, as JSON text."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for n, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{n}]"))
        return out
    return {prefix: json.dumps(value, ensure_ascii=False)} if prefix or value is not None else {}


def field_diff(before: Any, after: Any) -> list[Json]:
    """The fields a change added, removed or changed, by dotted path."""
    old, new = flatten(before), flatten(after)
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            out.append({"field": path, "before": old.get(path), "after": new.get(path)})
    return out


def version_diff(deltas: Sequence[h.DirectoryDelta], version: int) -> Json:
    """The difference ``version`` made, field by field, replaying the deltas before it
    (which must start at version 1)."""
    doc: Document = {}
    for delta in deltas:
        changes = [change_of(c) for c in delta.changes]
        if delta.version < version:
            doc = apply_changes(doc, changes)
            continue
        if delta.version > version:
            break
        out = []
        for change in changes:
            before = _entity(doc, change)
            doc = apply_changes(doc, [change])
            after = None if change.op == "delete" else _entity(doc, change)
            out.append(
                {
                    "kind": change.kind,
                    "op": change.op,
                    "id": change.id,
                    "fields": field_diff(before, after),
                }
            )
        return {**version_summary(delta), "diff": out}
    return {"version": version, "diff": [], "missing": True}
