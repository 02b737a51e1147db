"""Alembic environment of the hub reports schema."""

from vcc_hub.store.report_tables import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
