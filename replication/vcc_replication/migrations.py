"""Alembic migrations run from code, for any node's schema (site, hub components).

No ``alembic.ini``: a :class:`Migrations` points Alembic at a folder holding ``env.py``
and ``versions/`` and hands the live connection to ``env.py`` through
``config.attributes``. Each schema keeps its own Alembic bookkeeping table
(``version_table``), so several independently versioned schemas — the site's, or the
hub's directory, event and fencing schemas — can share one database without mistaking
each other's history.

A folder's ``env.py`` is two lines: import its metadata and call :func:`run_env`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


class Migrations:
    def __init__(self, folder: Path, version_table: str) -> None:
        self.folder = folder
        self.version_table = version_table

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.folder))
        config.set_main_option("version_table", self.version_table)
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head(self) -> str:
        head = ScriptDirectory.from_config(self.config()).get_current_head()
        if head is None:
            raise RuntimeError(f"no migration revisions in {self.folder}")
        return head

    def current(self, connection: Connection) -> str | None:
        ctx = MigrationContext.configure(connection, opts={"version_table": self.version_table})
        return ctx.get_current_revision()

    def _upgrade(self, connection: Connection) -> None:
        if self.current(connection) != self.head():
            command.upgrade(self.config(connection), "head")

    async def upgrade(self, engine: AsyncEngine) -> None:
        """Bring the schema to its newest revision (``alembic upgrade head``); idempotent."""
        async with engine.begin() as conn:
            await conn.run_sync(self._upgrade)

    async def current_revision(self, engine: AsyncEngine) -> str | None:
        async with engine.connect() as conn:
            return await conn.run_sync(self.current)


def run_env(metadata: MetaData) -> None:
    """The body of every ``env.py``: run on the connection :class:`Migrations` passed."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through vcc_replication.migrations.Migrations")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.get_main_option("version_table"),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
