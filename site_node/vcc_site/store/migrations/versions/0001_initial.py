"""Initial site schema: customers, calls, legs, CDRs, agent data, audit, outbox, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BIG = sa.BigInteger()
ID = sa.String(64)
SHORT = sa.String(32)


def _col(name: str, type_: Any, **kw: Any) -> sa.Column[Any]:
    """A column, NOT NULL unless told otherwise."""
    kw.setdefault("nullable", False)
    return sa.Column(name, type_, **kw)


def upgrade() -> None:
    op.create_table(
        "customers",
        _col("customer_id", ID, primary_key=True),
        _col("home_site", SHORT),
        _col("phone", SHORT, unique=True),
        _col("account_no", SHORT, unique=True),
        _col("name", sa.String(128)),
        _col("tier", SHORT),
        _col("pin_hash", sa.Text(), nullable=True),
        _col("pin_failures", sa.Integer()),
        _col("pin_locked_until_ms", BIG),
        _col("balance_fen", BIG),
        _col("bill_fen", BIG),
        _col("bill_due_at_ms", BIG),
        _col("open_work_orders", sa.Integer()),
        _col("updated_at_ms", BIG),
    )
    op.create_table(
        "calls",
        _col("call_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("entry_site", SHORT),
        _col("home_site", SHORT),
        _col("caller_number", SHORT),
        _col("dialed_code", SHORT),
        _col("business_id", ID),
        _col("customer_id", ID, nullable=True),
        _col("tier", SHORT),
        _col("priority", SHORT),
        _col("state", SHORT),
        _col("arrival_at_ms", BIG),
        _col("queued_at_ms", BIG),
        _col("offered_at_ms", BIG),
        _col("answered_at_ms", BIG),
        _col("ended_at_ms", BIG),
        _col("end_reason", SHORT),
        _col("agent_id", ID),
        _col("ivr_path", sa.Text()),
        _col("attached", sa.Text()),
        _col("transferred", sa.Boolean()),
        _col("overflowed", sa.Boolean()),
        _col("hold_ms", BIG),
        _col("disposition", sa.String(64)),
        _col("notes", sa.Text()),
        _col("updated_at_ms", BIG),
    )
    op.create_index("ix_calls_state", "calls", ["state"])
    op.create_table(
        "legs",
        _col("leg_id", ID, primary_key=True),
        _col("call_id", ID),
        _col("site_id", SHORT),
        _col("agent_id", ID),
        _col("kind", SHORT),
        _col("offered_at_ms", BIG),
        _col("answered_at_ms", BIG),
        _col("ended_at_ms", BIG),
        _col("end_reason", SHORT),
    )
    op.create_index("ix_legs_call_id", "legs", ["call_id"])
    op.create_table(
        "cdrs",
        _col("cdr_id", ID, primary_key=True),
        _col("call_id", ID, unique=True),
        _col("site_id", SHORT),
        _col("home_site", SHORT),
        _col("entry_site", SHORT),
        _col("business_id", ID),
        _col("tier", SHORT),
        _col("caller_masked", SHORT),
        _col("outcome", SHORT),
        _col("arrival_at_ms", BIG),
        _col("answered_at_ms", BIG),
        _col("ended_at_ms", BIG),
        _col("wait_ms", BIG),
        _col("ring_ms", BIG),
        _col("talk_ms", BIG),
        _col("hold_ms", BIG),
        _col("agent_id", ID),
        _col("transferred", sa.Boolean()),
        _col("overflowed", sa.Boolean()),
        _col("ivr_path", sa.Text()),
    )
    op.create_index("ix_cdrs_ended_at_ms", "cdrs", ["ended_at_ms"])
    op.create_table(
        "agent_sessions",
        _col("session_id", ID, primary_key=True),
        _col("agent_id", ID),
        _col("device", sa.String(128)),
        _col("login_at_ms", BIG),
        _col("logout_at_ms", BIG),
    )
    op.create_index("ix_agent_sessions_logout_at_ms", "agent_sessions", ["logout_at_ms"])
    op.create_table(
        "agent_state_history",
        _col("agent_id", ID, primary_key=True),
        _col("started_at_ms", BIG, primary_key=True, autoincrement=False),
        _col("state", SHORT, primary_key=True),
        _col("session_id", ID),
        _col("reason", sa.String(64)),
        _col("ended_at_ms", BIG),
        _col("duration_ms", BIG),
    )
    op.create_table(
        "credentials",
        _col("agent_id", ID, primary_key=True),
        _col("password_hash", sa.Text()),
        _col("failures", sa.Integer()),
        _col("locked_until_ms", BIG),
    )
    op.create_table(
        "audit",
        _col("audit_id", ID, primary_key=True),
        _col("at_ms", BIG),
        _col("actor", ID),
        _col("action", SHORT),
        _col("subject", ID),
        _col("detail", sa.Text()),
    )
    op.create_index("ix_audit_subject", "audit", ["subject"])
    op.create_table(
        "outbox",
        _col("seq", BIG, primary_key=True, autoincrement=False),
        _col("event_id", ID, unique=True),
        _col("kind", sa.String(64)),
        _col("aggregate_id", ID),
        _col("payload", sa.Text()),
        _col("at_ms", BIG),
        _col("sent_at_ms", BIG),
    )
    meta = op.create_table(
        "site_meta",
        _col("key", sa.String(64), primary_key=True),
        _col("value", sa.Text()),
    )
    op.bulk_insert(meta, [{"key": "outbox.last_seq", "value": "0"}])


def downgrade() -> None:
    for table in (
        "site_meta",
        "outbox",
        "audit",
        "credentials",
        "agent_state_history",
        "agent_sessions",
        "cdrs",
        "legs",
        "calls",
        "customers",
    ):
        op.drop_table(table)
