"""Alembic environment of the hub reports schema."""

from vcc_hub.reports.tables import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
