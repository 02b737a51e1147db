"""Alembic environment of the hub events schema."""

from vcc_hub.store.event_tables import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
