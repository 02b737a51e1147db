"""Call recordings kept at the serving site: one row per recording (call, SIP Call-ID,
media legs, agents, business, times, the file's path, size and SHA-256), marked when the
retention sweep deleted its file.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("sip_call_id", sa.String(255), nullable=False),
        sa.Column("legs", sa.Text(), nullable=False),
        sa.Column("agents", sa.Text(), nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("file_path", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("swept_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_recordings_started", "recordings", ["started_at_ms"])
    op.create_index("ix_recordings_call", "recordings", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_call", "recordings")
    op.drop_index("ix_recordings_started", "recordings")
    op.drop_table("recordings")
