"""Work orders, outbound campaign entries, shift handovers (issue 9).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BIG = sa.BigInteger()
ID = sa.String(64)
SHORT = sa.String(32)
NAME = sa.String(128)


def _col(name: str, type_: Any, **kw: Any) -> sa.Column[Any]:
    kw.setdefault("nullable", False)
    return sa.Column(name, type_, **kw)


def _bigs(*names: str) -> list[sa.Column[Any]]:
    return [_col(n, BIG) for n in names]


def upgrade() -> None:
    op.create_table(
        "work_orders",
        _col("order_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("owner_site", SHORT),
        _col("origin_site", SHORT),
        _col("call_id", ID),
        _col("business_id", ID),
        _col("order_type", SHORT),
        _col("department", NAME),
        _col("state", SHORT),
        *_bigs("created_at_ms", "answer_due_ms", "latest_due_ms"),
        _col("customer_id", ID),
        _col("caller_number", SHORT),
        _col("agent_id", ID),
        _col("fields", sa.Text()),
        _col("area", NAME),
        _col("incident", ID),
        *_bigs("dispatched_at_ms", "answered_at_ms"),
        _col("result", sa.Text()),
        *_bigs("reply_due_ms", "replied_at_ms"),
        _col("callback_required", sa.Boolean()),
        *_bigs("callback_from_ms", "callback_due_ms", "callback_done_at_ms"),
        _col("callback_result", sa.Text()),
        *_bigs("closed_at_ms"),
        _col("escalation", sa.Integer()),
        _col("chased", sa.Integer()),
        _col("forward_state", SHORT),
        *_bigs("version", "updated_at_ms"),
    )
    op.create_index("ix_work_orders_state", "work_orders", ["state"])
    op.create_index("ix_work_orders_incident", "work_orders", ["incident"])
    op.create_table(
        "campaign_entries",
        _col("campaign_id", ID, primary_key=True),
        _col("entry_no", sa.Integer(), primary_key=True, autoincrement=False),
        _col("kind", SHORT),
        _col("customer_id", ID),
        _col("phone", SHORT),
        _col("tier", SHORT),
        _col("notice", sa.Text()),
        _col("attempts", sa.Integer()),
        _col("state", SHORT),
        _col("result", SHORT),
        *_bigs("last_attempt_at_ms", "updated_at_ms"),
    )
    op.create_table(
        "handovers",
        _col("handover_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("outgoing_leader", ID),
        _col("created_at_ms", BIG),
        _col("unfinished_orders", sa.Text()),
        _col("due_callbacks", sa.Text()),
        _col("open_incidents", sa.Text()),
        _col("notes", sa.Text()),
        _col("incoming_leader", ID),
        _col("acknowledged_at_ms", BIG),
    )


def downgrade() -> None:
    op.drop_table("handovers")
    op.drop_table("campaign_entries")
    op.drop_index("ix_work_orders_incident", table_name="work_orders")
    op.drop_index("ix_work_orders_state", table_name="work_orders")
    op.drop_table("work_orders")
