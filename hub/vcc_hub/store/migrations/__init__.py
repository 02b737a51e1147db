"""Alembic folders of the hub's schemas (directory, events, reports)."""
