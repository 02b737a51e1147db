"""Quality inspection (sampled calls and their scores, disputes and second reviews),
work-order correctness checks, and callers' satisfaction ratings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(64)
SHORT = sa.String(32)


def _col(name: str, type_: Any, **kw: Any) -> sa.Column[Any]:
    kw.setdefault("nullable", False)
    return sa.Column(name, type_, **kw)


def upgrade() -> None:
    op.create_table(
        "qa_reviews",
        _col("review_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("period", SHORT),
        _col("call_id", ID),
        _col("agent_id", ID),
        _col("business_id", ID),
        _col("reason", SHORT),
        _col("created_at_ms", sa.BigInteger()),
        _col("state", SHORT),
        _col("inspector", ID),
        _col("points", sa.Text()),
        _col("score_bp", sa.Integer()),
        _col("comment", sa.Text()),
        _col("scored_at_ms", sa.BigInteger()),
        _col("dispute_reason", sa.Text()),
        _col("disputed_at_ms", sa.BigInteger()),
        _col("reviewer", ID),
        _col("review_points", sa.Text()),
        _col("review_score_bp", sa.Integer()),
        _col("reviewed_at_ms", sa.BigInteger()),
    )
    op.create_index("ix_qa_reviews_period_agent", "qa_reviews", ["period", "agent_id"])
    op.create_table(
        "order_checks",
        _col("order_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("period", SHORT),
        _col("agent_id", ID),
        _col("business_id", ID),
        _col("order_type", SHORT),
        _col("correct", sa.Boolean()),
        _col("key_checked", sa.Boolean()),
        _col("key_correct", sa.Boolean()),
        _col("inspector", ID),
        _col("checked_at_ms", sa.BigInteger()),
        _col("note", sa.Text()),
    )
    op.create_index("ix_order_checks_period", "order_checks", ["period"])
    op.create_table(
        "ratings",
        _col("call_id", ID, primary_key=True),
        _col("site_id", SHORT),
        _col("agent_id", ID),
        _col("business_id", ID),
        _col("score", sa.Integer()),
        _col("rated_at_ms", sa.BigInteger()),
        _col("period", SHORT),
    )
    op.create_index("ix_ratings_period", "ratings", ["period"])


def downgrade() -> None:
    op.drop_index("ix_ratings_period", "ratings")
    op.drop_table("ratings")
    op.drop_index("ix_order_checks_period", "order_checks")
    op.drop_table("order_checks")
    op.drop_index("ix_qa_reviews_period_agent", "qa_reviews")
    op.drop_table("qa_reviews")
