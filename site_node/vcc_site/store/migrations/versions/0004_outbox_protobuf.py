"""Outbox events as protobuf: rows written as JSON objects become the ``SiteEvent``
envelope of ``vcc_proto/v1/events.proto`` (without site and sequence) in base64, the
form the relay now publishes. Nothing is lost: every JSON field the contract has is kept
(a call's own fields move into the body's ``call``), others are dropped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from google.protobuf import json_format

from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import body_of, body_type, stored

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

CALL_FIELDS = frozenset(f.name for f in pb.CallInfo.DESCRIPTOR.fields)
outbox = sa.table(
    "outbox",
    sa.column("seq", sa.BigInteger),
    sa.column("event_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("aggregate_id", sa.String),
    sa.column("at_ms", sa.BigInteger),
    sa.column("payload", sa.Text),
)


def to_body(kind: str, payload: dict[str, Any]) -> Any:
    body = body_type(kind)()
    data = dict(payload)
    if "call" in body.DESCRIPTOR.fields_by_name:
        data["call"] = {k: data.pop(k) for k in list(data) if k in CALL_FIELDS}
    if isinstance(data.get("answered_at_ms"), float):  # was the ACD's time in seconds
        data["answered_at_ms"] = round(data["answered_at_ms"] * 1000)
    json_format.ParseDict(data, body, ignore_unknown_fields=True)
    return body


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(outbox).where(outbox.c.payload.like("{%"))).all()
    for r in rows:
        body = to_body(r.kind, json.loads(r.payload))
        data = stored(r.event_id, r.kind, r.aggregate_id, r.at_ms, body)
        conn.execute(
            outbox.update()
            .where(outbox.c.seq == r.seq)
            .values(payload=base64.b64encode(data).decode("ascii"))
        )


def downgrade() -> None:
    conn = op.get_bind()
    for r in conn.execute(sa.select(outbox).where(sa.not_(outbox.c.payload.like("{%")))).all():
        body = body_of(pb.SiteEvent.FromString(base64.b64decode(r.payload)))
        data = json_format.MessageToDict(body, preserving_proto_field_name=True)
        data.update(data.pop("call", {}))
        conn.execute(
            outbox.update()
            .where(outbox.c.seq == r.seq)
            .values(
                payload=json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            )
        )
