"""Create the directory tables; the state row starts empty at version 0.

Revision ID: dir_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "dir_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "directory_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("doc_hash", sa.String(64), nullable=False),
        sa.Column("published_version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "directory_versions",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("change_id", sa.String(80), nullable=False, unique=True),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("doc_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        state, [{"id": 1, "version": 0, "document": "{}", "doc_hash": "", "published_version": 0}]
    )


def downgrade() -> None:
    op.drop_table("directory_versions")
    op.drop_table("directory_state")
