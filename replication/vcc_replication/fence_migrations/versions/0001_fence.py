"""Create the hub fencing table with its single row at token 0.

Revision ID: fence_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "fence_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "hub_fence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "token": 0}])


def downgrade() -> None:
    op.drop_table("hub_fence")
