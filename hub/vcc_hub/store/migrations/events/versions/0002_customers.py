"""Add the hub's read-only copies of customer profiles.

Revision ID: events_0002
Revises: events_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "events_0002"
down_revision = "events_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(32), primary_key=True),
        sa.Column("home_site", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("balance_fen", sa.BigInteger, nullable=False),
        sa.Column("bill_fen", sa.BigInteger, nullable=False),
        sa.Column("bill_due_at_ms", sa.BigInteger, nullable=False),
        sa.Column("open_work_orders", sa.BigInteger, nullable=False),
        sa.Column("pin_set", sa.Boolean, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.Column("as_of_ms", sa.BigInteger, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_customers_phone", "customers", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_customers_phone", table_name="customers")
    op.drop_table("customers")
