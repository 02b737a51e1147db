"""Alembic environment of the hub directory schema."""

from vcc_hub.store.directory_tables import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
