"""A person's credential says whether it is an initial (or reset) password that must be
changed at the next sign-in. Existing credentials are initial passwords from the
directory: they must be changed too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "credentials",
        sa.Column("must_change", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    with op.batch_alter_table("credentials") as batch:  # new rows say it themselves
        batch.alter_column("must_change", server_default=sa.false())


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("must_change")
