"""Migrations of the hub directory schema (see vcc_hub.store.directory_tables)."""
