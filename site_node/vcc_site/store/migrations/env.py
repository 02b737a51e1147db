"""Alembic environment of the site schema (see vcc_replication.migrations)."""

from vcc_replication.migrations import run_env
from vcc_site.store.tables import metadata

run_env(metadata)
