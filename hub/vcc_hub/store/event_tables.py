"""The hub's events schema: the inbox, per-site progress, and the hub's copies.

* ``inbox`` — one row per applied site event (keyed by event ID, unique per site and
  sequence): a replay finds its row and changes nothing. An event moved to the dead
  letters has a row of kind ``dead_letter`` (its sequence counts as seen).
* ``site_progress`` — each site's highest contiguous sequence applied at the hub.
* ``cdrs`` — every CDR of every site (every field of the ``Cdr`` message of
  ``events.proto``, ``ivr_path`` as JSON), one per call per site.
* ``calls`` — the latest state of each call at each site (newest event sequence wins,
  whatever order the events arrived in).
* ``agent_states`` — every agent state change, appended.
* ``customers`` — read-only copies of every site's customer profiles (from
  ``customer.updated`` events; never a PIN hash), newest event sequence wins; ``as_of_ms``
  is when the home site published that version (for showing the copy's age).
* ``ratings`` — callers' keypad ratings (``rating.created``), one per call per site.
"""

from __future__ import annotations

from pathlib import Path

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
    UniqueConstraint,
)

from vcc_replication.migrations import Migrations

ID = String(64)
metadata = MetaData()

inbox = Table(
    "inbox",
    metadata,
    Column("event_id", ID, primary_key=True),
    Column("site", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("applied_at_ms", BigInteger, nullable=False),
    UniqueConstraint("site", "seq", name="uq_inbox_site_seq"),
)

site_progress = Table(
    "site_progress",
    metadata,
    Column("site", String(16), primary_key=True),
    Column("contiguous_seq", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

cdrs = Table(
    "cdrs",
    metadata,
    Column("cdr_id", ID, primary_key=True),
    Column("call_id", ID, nullable=False),
    Column("site_id", String(16), nullable=False),
    Column("home_site", String(16), nullable=False),
    Column("entry_site", String(16), nullable=False),
    Column("business_id", String(64), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("caller_masked", String(32), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("arrival_at_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("wait_ms", BigInteger, nullable=False),
    Column("ring_ms", BigInteger, nullable=False),
    Column("talk_ms", BigInteger, nullable=False),
    Column("hold_ms", BigInteger, nullable=False),
    Column("agent_id", String(32), nullable=False),
    Column("transferred", Boolean, nullable=False),
    Column("overflowed", Boolean, nullable=False),
    Column("ivr_path", Text, nullable=False),  # JSON list
    Column("event_seq", BigInteger, nullable=False),
    UniqueConstraint("site_id", "call_id", name="uq_cdrs_site_call"),
    Index("ix_cdrs_site_event_seq", "site_id", "event_seq"),  # the reports aggregator
)

calls = Table(
    "calls",
    metadata,
    Column("site_id", String(16), primary_key=True),
    Column("call_id", ID, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("business_id", String(64), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("agent_id", String(32), nullable=False),
    Column("last_kind", String(64), nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

agent_states = Table(
    "agent_states",
    metadata,
    Column("site", String(16), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("agent_id", String(32), nullable=False),
    Column("session_id", ID, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("call_id", ID, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(32), primary_key=True),
    Column("home_site", String(16), nullable=False),
    Column("phone", String(32), nullable=False, index=True),
    Column("account_no", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("bill_fen", BigInteger, nullable=False),
    Column("bill_due_at_ms", BigInteger, nullable=False),
    Column("open_work_orders", BigInteger, nullable=False),
    Column("pin_set", Boolean, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("as_of_ms", BigInteger, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

ratings = Table(
    "ratings",
    metadata,
    Column("site_id", String(16), primary_key=True),
    Column("call_id", ID, primary_key=True),
    Column("agent_id", String(32), nullable=False),
    Column("business_id", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("rated_at_ms", BigInteger, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Index("ix_ratings_rated_at_ms", "rated_at_ms"),
)

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "migrations" / "events", "hub_events_alembic_version"
)
