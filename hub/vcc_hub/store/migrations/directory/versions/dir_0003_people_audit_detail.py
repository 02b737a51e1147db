"""A detail column on the hub's people audit: why a call was refused (status and reason),
as the sites' audit keeps it. Rows written before have an empty detail.

Revision ID: dir_0003
Revises: dir_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "dir_0003"
down_revision = "dir_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people_audit") as batch:
        batch.add_column(sa.Column("detail", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("people_audit") as batch:
        batch.drop_column("detail")
