"""The hub's pure logic: no I/O, no protobuf, time injected (overflow advice, roll-ups)."""
