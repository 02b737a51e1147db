"""Credentials and audit of the province's people (province managers, operations), who
sign in at the hub. Their password hashes live here, never in the directory document.

Revision ID: dir_0002
Revises: dir_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "dir_0002"
down_revision = "dir_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_credentials",
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger, nullable=False),
        sa.Column("must_change", sa.Boolean, nullable=False),
    )
    op.create_table(
        "people_audit",
        sa.Column("audit_id", sa.String(64), primary_key=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Index("ix_people_audit_subject", "subject"),
    )


def downgrade() -> None:
    op.drop_table("people_audit")
    op.drop_table("people_credentials")
