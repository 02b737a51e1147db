"""Create the hub events schema: inbox, site_progress, cdrs, calls, agent_states.

Revision ID: events_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "events_0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("event_id", ID, primary_key=True),
        sa.Column("site", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("applied_at_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("site", "seq", name="uq_inbox_site_seq"),
    )
    op.create_table(
        "site_progress",
        sa.Column("site", sa.String(16), primary_key=True),
        sa.Column("contiguous_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "cdrs",
        sa.Column("cdr_id", ID, primary_key=True),
        sa.Column("call_id", ID, nullable=False),
        sa.Column("site_id", sa.String(16), nullable=False),
        sa.Column("home_site", sa.String(16), nullable=False),
        sa.Column("entry_site", sa.String(16), nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("caller_masked", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("arrival_at_ms", sa.BigInteger, nullable=False),
        sa.Column("answered_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger, nullable=False),
        sa.Column("wait_ms", sa.BigInteger, nullable=False),
        sa.Column("ring_ms", sa.BigInteger, nullable=False),
        sa.Column("talk_ms", sa.BigInteger, nullable=False),
        sa.Column("hold_ms", sa.BigInteger, nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("transferred", sa.Boolean, nullable=False),
        sa.Column("overflowed", sa.Boolean, nullable=False),
        sa.Column("ivr_path", sa.Text, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("site_id", "call_id", name="uq_cdrs_site_call"),
    )
    op.create_table(
        "calls",
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("call_id", ID, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("last_kind", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agent_states",
        sa.Column("site", sa.String(16), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("call_id", ID, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("agent_states", "calls", "cdrs", "site_progress", "inbox"):
        op.drop_table(name)
