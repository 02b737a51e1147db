"""Alembic environment of the hub directory schema."""

from vcc_hub.directory.tables import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
