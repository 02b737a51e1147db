"""Schema migrations of the site database (Alembic), run from code.

No ``alembic.ini``: :func:`migrate` builds the Alembic configuration in memory, points
``script_location`` at this package's folder and hands ``env.py`` the live connection
through ``config.attributes``. The revision files live in ``versions/`` (no
``__init__.py``; Alembic loads them by path, setuptools ships them as a namespace
package). Alembic's own bookkeeping table is ``site_alembic_version`` so a site schema
never mistakes another node's Alembic history for its own.

To add a revision: write ``versions/NNNN_what.py`` by hand with ``down_revision`` set to
the previous one, creating tables explicitly with ``op`` (never ``metadata.create_all``),
and update ``vcc_site.store.tables`` to match.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "site_alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """An in-memory Alembic config for this folder (optionally bound to a connection)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _upgrade(connection: Connection) -> None:
    if _current(connection) == head_revision():
        return
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``); idempotent."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
