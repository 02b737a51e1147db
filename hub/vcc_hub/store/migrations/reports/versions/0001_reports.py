"""Create the hub reports schema: cursor, interval and agent aggregates, charges, periods.

Revision ID: reports_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "reports_0001"
down_revision = None
branch_labels = None
depends_on = None

FIGURE_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "ivr_ended",
    "lost",
    "sl_calls",
    "answered_within",
    "wait_answered_ms",
    "talk_ms",
    "hold_ms",
    "ring_ms",
    "transferred",
    "overflow_in",
    "overflow_out",
    "transferred_out",
)
AGENT_FIELDS = ("calls", "talk_ms", "hold_ms", "acw_ms", "wrapups", "not_ready_ms")


def _sums(names: tuple[str, ...]) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "report_cursor",
        sa.Column("site", sa.String(16), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "report_intervals",
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("business_id", sa.String(64), primary_key=True),
        sa.Column("tier", sa.String(16), primary_key=True),
        sa.Column("interval_start_ms", sa.BigInteger, primary_key=True),
        *_sums(FIGURE_FIELDS),
    )
    op.create_table(
        "report_agents",
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("agent_id", sa.String(32), primary_key=True),
        sa.Column("interval_start_ms", sa.BigInteger, primary_key=True),
        *_sums(AGENT_FIELDS),
    )
    op.create_table(
        "report_agent_open",
        sa.Column("site", sa.String(16), primary_key=True),
        sa.Column("agent_id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "call_charges",
        sa.Column("site_id", sa.String(16), primary_key=True),
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("cdr_id", sa.String(64), nullable=False),
        sa.Column("home_site", sa.String(16), nullable=False),
        sa.Column("period_id", sa.String(7), nullable=False),
        sa.Column("arrival_at_ms", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.BigInteger, nullable=False),
        sa.Column("access_units", sa.BigInteger, nullable=False),
        sa.Column("access_fen", sa.BigInteger, nullable=False),
        sa.Column("handled_ms", sa.BigInteger, nullable=False),
        sa.Column("handling_fee_fen", sa.BigInteger, nullable=False),
        sa.Column("tariff_version", sa.String(64), nullable=False),
        sa.Column("adjustment", sa.Boolean, nullable=False),
        sa.Column("original_period", sa.String(7), nullable=False),
        sa.Column("rated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_call_charges_period_id", "call_charges", ["period_id"])
    op.create_table(
        "settlement_periods",
        sa.Column("period_id", sa.String(7), primary_key=True),
        sa.Column("closed_at_ms", sa.BigInteger, nullable=False),
        sa.Column("closed_by", sa.String(128), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_call_charges_period_id", table_name="call_charges")
    for name in (
        "settlement_periods",
        "call_charges",
        "report_agent_open",
        "report_agents",
        "report_intervals",
        "report_cursor",
    ):
        op.drop_table(name)
