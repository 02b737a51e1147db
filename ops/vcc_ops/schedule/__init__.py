"""``vcc schedule``: a week of shifts and breaks per site from the hub's history, staffed
and checked with the simulator (:mod:`vcc_ops.simulate`)."""
