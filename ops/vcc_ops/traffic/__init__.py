"""Simulated callers and agents driving a running province (``vcc demo``, drills)."""
