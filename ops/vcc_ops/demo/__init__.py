"""``vcc demo``: a living province, its wallboard and its consolidated report."""
