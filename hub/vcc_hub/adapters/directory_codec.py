"""Directory changes and deltas <-> protobuf messages (the same delta goes over gRPC and
JetStream)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vcc_domain.directory_doc import Change, canonical_json, check_change, loads_json
from vcc_domain.directory_secrets import change_without_secrets
from vcc_domain.errors import InvalidInput
from vcc_hub.service.directory import Delta
from vcc_proto.signing import DirectorySigner
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h

KIND_TO_ENUM: dict[str, int] = {
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
ENUM_TO_KIND = {v: k for k, v in KIND_TO_ENUM.items()}
OP_TO_ENUM = {"upsert": h.DirectoryChange.OP_UPSERT, "delete": h.DirectoryChange.OP_DELETE}
ENUM_TO_OP = {v: k for k, v in OP_TO_ENUM.items()}


def kind_of(value: int, field: str) -> str:
    kind = ENUM_TO_KIND.get(value)
    if kind is None:
        raise InvalidInput(f"{field}: unknown or unspecified entity kind {value}", field=field)
    return kind


def change_from_proto(msg: h.DirectoryChange, index: int) -> Change:
    at = f"changes[{index}]"
    kind = kind_of(msg.kind, f"{at}.kind")
    op = ENUM_TO_OP.get(msg.op)
    if op is None:
        raise InvalidInput(f"{at}.op: must be OP_UPSERT or OP_DELETE", field=f"{at}.op")
    entity: Any = None
    if op == "upsert":
        if not msg.entity_json:
            raise InvalidInput(
                f"{at}.entity_json: an upsert needs the entity (JSON)", field=f"{at}.entity_json"
            )
        entity = loads_json(msg.entity_json, f"{at}.entity_json")
    return check_change(Change(kind, op, msg.entity_id, entity), index)


def changes_from_proto(msgs: Sequence[h.DirectoryChange]) -> list[Change]:
    if not msgs:
        raise InvalidInput("changes: at least one change is needed", field="changes")
    return [change_from_proto(m, i) for i, m in enumerate(msgs)]


def change_to_proto(change: Change) -> h.DirectoryChange:
    """The change as sites receive it (no password hash: see
    :mod:`vcc_domain.directory_secrets`)."""
    change = change_without_secrets(change)
    return h.DirectoryChange(
        op=OP_TO_ENUM[change.op],
        kind=KIND_TO_ENUM[change.kind],  # type: ignore[arg-type]
        entity_id=change.id,
        entity_json=canonical_json(change.entity) if change.entity is not None else b"",
    )


def delta_to_proto(delta: Delta, signer: DirectorySigner | None = None) -> h.DirectoryDelta:
    """The delta's message, signed by ``signer`` (the hub's certificate) when given."""
    msg = h.DirectoryDelta(
        version=delta.version,
        change_id=delta.change_id,
        changes=[change_to_proto(ch) for ch in delta.changes],
        committed_at_ms=delta.at_ms,
        actor=actor_from_text(delta.actor),
        document_hash=delta.doc_hash,
    )
    if signer is not None:
        signed = signer.sign(delta.version, delta.doc_hash)
        msg.signature, msg.signer_certificate = signed.signature, signed.certificate
    return msg


def delta_encoder(signer: DirectorySigner | None) -> Callable[[Delta], bytes]:
    """Deltas as published on JetStream (the same message GetDeltas answers with)."""

    def encode(delta: Delta) -> bytes:
        return delta_to_proto(delta, signer).SerializeToString()

    return encode


def actor_text(actor: c.Actor) -> str:
    parts = [
        f"{k}={v}"
        for k, v in (
            ("operator", actor.operator),
            ("site", actor.site_id),
            ("agent", actor.agent_id),
        )
        if v
    ]
    return ",".join(parts)[:200] or "unknown"


def actor_from_text(text: str) -> c.Actor:
    fields = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
    return c.Actor(
        operator=fields.get("operator", ""),
        site_id=fields.get("site", ""),
        agent_id=fields.get("agent", ""),
    )
