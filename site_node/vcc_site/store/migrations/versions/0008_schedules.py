"""The week's schedule published to a site's team leaders: one row per site and week
(shifts and breaks per agent, agents on the phone and the predicted service level per
15-minute interval, as JSON).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("site_id", sa.String(32), primary_key=True),
        sa.Column("week_start_ms", sa.BigInteger(), primary_key=True),
        sa.Column("shifts", sa.Text(), nullable=False),
        sa.Column("on_phone", sa.Text(), nullable=False),
        sa.Column("predicted_sl_bp", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("published_at_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedules")
