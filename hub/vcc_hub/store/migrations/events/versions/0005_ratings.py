"""The hub's copy of callers' ratings (``rating.created`` events), for the
service-quality index's satisfaction component.

Revision ID: events_0005_ratings
Revises: events_0004_cdr_seq
"""

import sqlalchemy as sa
from alembic import op

revision = "events_0005_ratings"
down_revision = "events_0004_cdr_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("rated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_ratings_rated_at_ms", "ratings", ["rated_at_ms"])


def downgrade() -> None:
    op.drop_index("ix_ratings_rated_at_ms", table_name="ratings")
    op.drop_table("ratings")
