"""Index the hub's CDR copies by site and event sequence (issue 6).

The reports aggregator reads each site's CDRs by sequence range, ``(cursor, contiguous]``;
without this index every step scanned all of the site's CDRs.

Revision ID: events_0004_cdr_seq
Revises: events_0003_wo
"""

from alembic import op

revision = "events_0004_cdr_seq"
down_revision = "events_0003_wo"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cdrs_site_event_seq", "cdrs", ["site_id", "event_seq"])


def downgrade() -> None:
    op.drop_index("ix_cdrs_site_event_seq", table_name="cdrs")
