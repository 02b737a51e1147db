"""The hub's tables and SQL, one module per schema, each with its own Alembic folder under
``migrations/`` and its own version table."""
