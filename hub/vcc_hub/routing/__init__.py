"""The hub's routing broker: cross-site transfers and overflow advice (ARCHITECTURE §3.2-3.3)."""
