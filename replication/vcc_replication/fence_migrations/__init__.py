"""Migrations of the hub's fencing table (see vcc_replication.fencing)."""
