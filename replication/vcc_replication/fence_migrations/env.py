"""Alembic environment of the hub fencing schema."""

from vcc_replication.fencing import metadata
from vcc_replication.migrations import run_env

run_env(metadata)
