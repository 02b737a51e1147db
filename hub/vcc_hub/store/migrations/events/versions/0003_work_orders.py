"""Add the hub's province-wide copy of work orders (issue 9).

Revision ID: events_0003_wo
Revises: events_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "events_0003_wo"
down_revision = "events_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger
    op.create_table(
        "work_orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("owner_site", sa.String(16), nullable=False),
        sa.Column("origin_site", sa.String(16), nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("order_type", sa.String(32), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("created_at_ms", big, nullable=False),
        sa.Column("answer_due_ms", big, nullable=False),
        sa.Column("answered_at_ms", big, nullable=False),
        sa.Column("version", big, nullable=False),
        sa.Column("from_site", sa.String(16), nullable=False),
        sa.Column("event_seq", big, nullable=False),
        sa.Column("as_of_ms", big, nullable=False),
    )
    op.create_index("ix_work_orders_owner", "work_orders", ["owner_site", "state"])


def downgrade() -> None:
    op.drop_index("ix_work_orders_owner", table_name="work_orders")
    op.drop_table("work_orders")
