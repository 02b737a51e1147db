"""Calls are looked up by the caller's number (the agent desktop's recent calls of the
caller in the screen pop): an index on ``calls.caller_number``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_calls_caller_number", "calls", ["caller_number", "arrival_at_ms"])


def downgrade() -> None:
    op.drop_index("ix_calls_caller_number", table_name="calls")
