"""Occupancy: ready (idle) and staffed time per agent in the agent aggregates and their
roll-ups. Rows written before this revision have 0 for both (occupancy unknown there).

Revision ID: reports_0003
Revises: reports_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "reports_0003"
down_revision = "reports_0002"
branch_labels = None
depends_on = None

TABLES = ("report_agents", "report_agent_days", "report_site_agent_intervals")
NEW = ("ready_ms", "staffed_ms")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name in NEW:
                batch.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name in NEW:
                batch.drop_column(name)
