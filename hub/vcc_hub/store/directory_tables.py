"""Tables of the hub directory.

``directory_state`` has one row (id 1): the latest version, its whole document (JSON, in
province-file form) and its hash, plus the newest version known published on JetStream.
``directory_versions`` keeps the delta of each of the last :data:`KEEP_VERSIONS`
versions; older ones are compacted away and a site that far behind takes a snapshot.
``people_credentials`` and ``people_audit``: the province's people who sign in at the hub.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

from vcc_replication.migrations import Migrations

KEEP_VERSIONS = 1000

metadata = MetaData()

directory_state = Table(
    "directory_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
    Column("doc_hash", String(64), nullable=False),
    Column("published_version", BigInteger, nullable=False),
)

directory_versions = Table(
    "directory_versions",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("change_id", String(80), nullable=False, unique=True),
    Column("changes", Text, nullable=False),  # JSON list of {kind, op, id, entity}
    Column("doc_hash", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("token", BigInteger, nullable=False),
)

# The province's people (who sign in at the hub): their credentials and what was done.
people_credentials = Table(
    "people_credentials",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until_ms", BigInteger, nullable=False),
    Column("must_change", Boolean, nullable=False),
)

people_audit = Table(
    "people_audit",
    metadata,
    Column("audit_id", String(64), primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),  # a refusal's status, reason
    Index("ix_people_audit_subject", "subject"),
)

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "migrations" / "directory", "hub_directory_alembic_version"
)
