"""Schema migrations of the site database (Alembic), run from code.

Alembic's bookkeeping table is ``site_alembic_version``. To add a revision: write
``versions/NNNN_what.py`` by hand with ``down_revision`` set to the previous one,
creating tables explicitly with ``op`` (never ``metadata.create_all``), and update
``vcc_site.store.tables`` to match. See :mod:`vcc_replication.migrations`.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_replication.migrations import Migrations

VERSION_TABLE = "site_alembic_version"
MIGRATIONS = Migrations(Path(__file__).resolve().parent, VERSION_TABLE)


def alembic_config(connection: Connection | None = None) -> Config:
    return MIGRATIONS.config(connection)


def head_revision() -> str:
    return MIGRATIONS.head()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``); idempotent."""
    await MIGRATIONS.upgrade(engine)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    return await MIGRATIONS.current_revision(engine)
