"""Alembic environment: runs on the connection :func:`migrate` passes in attributes."""

from __future__ import annotations

from alembic import context

from vcc_site.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run site migrations through vcc_site.store.migrations.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=config.get_main_option("version_table") or "site_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
