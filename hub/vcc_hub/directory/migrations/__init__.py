"""Migrations of the hub directory schema (see vcc_hub.directory.tables)."""
