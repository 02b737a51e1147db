"""The site database's tables (SQLAlchemy Core) and the record <-> row codec.

Portable across SQLite, PostgreSQL and CockroachDB: integers are ``BigInteger`` (times in
ms, money in fen), JSON is ``Text`` we encode ourselves, no foreign keys (a unit of work
may upsert rows in any order). Each record table's columns carry the record's field
names, so one generic codec maps every record to its row and back.

The schema itself is created by the Alembic migrations (``migrations/versions``); this
module describes it for queries. Keep the two in step.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from vcc_replication.events import SiteEvent, body_of, stored
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    CustomerRecord,
    Event,
    LegRecord,
    OutboxRow,
    Row,
    SessionRecord,
)
from vcc_site.store.qa_tables import QA_SPECS
from vcc_site.store.rec_tables import REC_SPECS
from vcc_site.store.wo_tables import WO_SPECS

R = TypeVar("R")

metadata = MetaData()

ID = String(64)
SHORT = String(32)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", ID, primary_key=True),
    Column("home_site", SHORT, nullable=False),
    Column("phone", SHORT, nullable=False, unique=True),
    Column("account_no", SHORT, nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("tier", SHORT, nullable=False),
    Column("pin_hash", Text, nullable=True),
    Column("pin_failures", Integer, nullable=False),
    Column("pin_locked_until_ms", BigInteger, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("bill_fen", BigInteger, nullable=False),
    Column("bill_due_at_ms", BigInteger, nullable=False),
    Column("open_work_orders", Integer, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("call_id", ID, primary_key=True),
    Column("site_id", SHORT, nullable=False),
    Column("entry_site", SHORT, nullable=False),
    Column("home_site", SHORT, nullable=False),
    Column("caller_number", SHORT, nullable=False),
    Column("dialed_code", SHORT, nullable=False),
    Column("business_id", ID, nullable=False),
    Column("customer_id", ID, nullable=True),
    Column("tier", SHORT, nullable=False),
    Column("priority", SHORT, nullable=False),
    Column("state", SHORT, nullable=False),
    Column("arrival_at_ms", BigInteger, nullable=False),
    Column("queued_at_ms", BigInteger, nullable=False),
    Column("offered_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("end_reason", SHORT, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("ivr_path", Text, nullable=False),  # JSON list
    Column("attached", Text, nullable=False),  # JSON object
    Column("transferred", Boolean, nullable=False),
    Column("overflowed", Boolean, nullable=False),
    Column("hold_ms", BigInteger, nullable=False),
    Column("disposition", String(64), nullable=False),
    Column("notes", Text, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Index("ix_calls_state", "state"),
    Index("ix_calls_caller_number", "caller_number", "arrival_at_ms"),
)

legs = Table(
    "legs",
    metadata,
    Column("leg_id", ID, primary_key=True),
    Column("call_id", ID, nullable=False),
    Column("site_id", SHORT, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("kind", SHORT, nullable=False),
    Column("offered_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("end_reason", SHORT, nullable=False),
    Column("home_site", SHORT, nullable=False, server_default=""),  # revision 0003
    Index("ix_legs_call_id", "call_id"),
)

cdrs = Table(
    "cdrs",
    metadata,
    Column("cdr_id", ID, primary_key=True),
    Column("call_id", ID, nullable=False, unique=True),
    Column("site_id", SHORT, nullable=False),
    Column("home_site", SHORT, nullable=False),
    Column("entry_site", SHORT, nullable=False),
    Column("business_id", ID, nullable=False),
    Column("tier", SHORT, nullable=False),
    Column("caller_masked", SHORT, nullable=False),
    Column("outcome", SHORT, nullable=False),
    Column("arrival_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("wait_ms", BigInteger, nullable=False),
    Column("ring_ms", BigInteger, nullable=False),
    Column("talk_ms", BigInteger, nullable=False),
    Column("hold_ms", BigInteger, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("transferred", Boolean, nullable=False),
    Column("overflowed", Boolean, nullable=False),
    Column("ivr_path", Text, nullable=False),  # JSON list
    Index("ix_cdrs_ended_at_ms", "ended_at_ms"),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("agent_id", ID, nullable=False),
    Column("device", String(128), nullable=False),
    Column("login_at_ms", BigInteger, nullable=False),
    Column("logout_at_ms", BigInteger, nullable=False),
    Index("ix_agent_sessions_logout_at_ms", "logout_at_ms"),
)

agent_state_history = Table(
    "agent_state_history",
    metadata,
    Column("agent_id", ID, primary_key=True),
    Column("started_at_ms", BigInteger, primary_key=True),
    Column("state", SHORT, primary_key=True),
    Column("session_id", ID, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("agent_id", ID, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until_ms", BigInteger, nullable=False),
    Column("must_change", Boolean, nullable=False, server_default=false()),
)

audit = Table(
    "audit",
    metadata,
    Column("audit_id", ID, primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", ID, nullable=False),
    Column("action", SHORT, nullable=False),
    Column("subject", ID, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_subject", "subject"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", ID, nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("aggregate_id", ID, nullable=False),
    Column("payload", Text, nullable=False),  # protobuf SiteEvent in base64 (stored_text)
    Column("at_ms", BigInteger, nullable=False),
    Column("sent_at_ms", BigInteger, nullable=False),
)

site_meta = Table(
    "site_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

LAST_SEQ_KEY = "outbox.last_seq"
SITE_ID_KEY = "site_id"


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """How one record type is stored."""

    table: Table
    key: tuple[str, ...]  # primary key columns
    insert_only: bool  # a repeated key is a Conflict, never an update
    json_fields: frozenset[str] = frozenset()


SPECS: dict[type[Any], Spec] = {
    CustomerRecord: Spec(customers, ("customer_id",), False),
    CallRecord: Spec(calls, ("call_id",), False, frozenset({"ivr_path", "attached"})),
    LegRecord: Spec(legs, ("leg_id",), False),
    CdrRecord: Spec(cdrs, ("cdr_id",), True, frozenset({"ivr_path"})),
    SessionRecord: Spec(agent_sessions, ("session_id",), False),
    AgentStateRecord: Spec(agent_state_history, ("agent_id", "started_at_ms", "state"), True),
    CredentialRecord: Spec(credentials, ("agent_id",), False),
    AuditRecord: Spec(audit, ("audit_id",), True),
}

RECORD_TABLES: tuple[Table, ...] = tuple(spec.table for spec in SPECS.values())
COUNTED_TABLES: tuple[Table, ...] = (*RECORD_TABLES, outbox)
SPECS.update({kind: Spec(*spec) for kind, spec in WO_SPECS.items()})  # not counted
for _wo in WO_SPECS.values():  # copies in this metadata, for schema checks
    _wo[0].to_metadata(metadata)
SPECS.update({kind: Spec(*spec) for kind, spec in QA_SPECS.items()})  # not counted
for _qa in QA_SPECS.values():
    _qa[0].to_metadata(metadata)
SPECS.update({kind: Spec(*spec) for kind, spec in REC_SPECS.items()})  # not counted
for _rec in REC_SPECS.values():
    _rec[0].to_metadata(metadata)


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact, stable JSON (sorted keys, UTF-8 kept readable)."""
    return _JSON.encode(value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: Any) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        descriptor = getattr(cls, "DESCRIPTOR", None)  # a protobuf message (the CDR)
        names = _FIELD_NAMES[cls] = (
            tuple(f.name for f in descriptor.fields)
            if descriptor
            else tuple(f.name for f in dataclasses.fields(cls))
        )
    return names


def spec_of(record: Row) -> Spec:
    return SPECS[type(record)]


def key_of(record: Row) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in spec_of(record).key)


def to_row(record: Row) -> dict[str, Any]:
    """The column values of a record (tuples and dicts become JSON text)."""
    spec = spec_of(record)
    row: dict[str, Any] = {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if name in spec.json_fields:
            value = dumps(value if isinstance(value, dict) else list(value))
        row[name] = value
    return row


def from_row(cls: type[R], row: Any) -> R:
    """Rebuild a record of type ``cls`` from a result row (mapping or ``Row``)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    spec = SPECS[cls]
    values: dict[str, Any] = {}
    for name in _field_names(cls):
        value = mapping[name]
        if name in spec.json_fields:
            decoded = json.loads(value)
            value = tuple(decoded) if isinstance(decoded, list) else decoded
        values[name] = value
    return cls(**values)


def event_row(seq: int, event: Event) -> dict[str, Any]:
    return {
        "seq": seq,
        "event_id": event.event_id,
        "kind": event.kind,
        "aggregate_id": event.aggregate_id,
        "payload": stored_text(event),
        "at_ms": event.at_ms,
        "sent_at_ms": 0,
    }


def stored_text(event: Event) -> str:
    """The outbox's ``payload`` column: the event's protobuf envelope (without site and
    sequence, :func:`vcc_replication.events.stored`) in base64, as the column is text."""
    data = stored(event.event_id, event.kind, event.aggregate_id, event.at_ms, event.body)
    return base64.b64encode(data).decode("ascii")


def outbox_from_row(row: Any) -> OutboxRow:
    return outbox_from_mapping(row._mapping)


def outbox_from_mapping(m: Any) -> OutboxRow:
    """An outbox row from anything indexed by column name (a SQLAlchemy row's mapping,
    a ``sqlite3.Row``)."""
    data = base64.b64decode(m["payload"])
    event = Event(
        event_id=m["event_id"],
        kind=m["kind"],
        aggregate_id=m["aggregate_id"],
        body=body_of(SiteEvent.FromString(data)),
        at_ms=m["at_ms"],
    )
    return OutboxRow(seq=m["seq"], event=event, sent_at_ms=m["sent_at_ms"], data=data)
