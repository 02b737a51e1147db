"""The caller's home site on every leg (serving site is ``site_id``), for settlement.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("legs", sa.Column("home_site", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("legs") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("home_site")
