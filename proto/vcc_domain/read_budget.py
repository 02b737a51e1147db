"""How many reads of customer data one identity may make: a bucket per reader.

A site serving a caller reads that customer once or twice per call; a node or person
walking the customer base reads thousands. Each reader (the identity checked at the
door, never a name it claims) has a bucket of ``burst`` reads refilled at ``per_s``;
a read with the bucket empty is refused (and the caller audits the refusal). Readers
not seen for a while are forgotten, and at most ``max_readers`` are kept (the longest
idle goes first), so the table cannot be grown without bound.
"""

from __future__ import annotations

from collections import OrderedDict

from vcc_domain.clock import Clock

# A province's busiest site takes ~300 calls/s with a remote read in a small share of
# them: 50 reads/s per reader, 200 at once, leaves room and still stops a walk of the base.
DEFAULT_PER_S = 50.0
DEFAULT_BURST = 200


class ReadBudget:
    def __init__(
        self,
        clock: Clock,
        per_s: float = DEFAULT_PER_S,
        burst: int = DEFAULT_BURST,
        max_readers: int = 4096,
    ) -> None:
        if per_s <= 0 or burst < 1 or max_readers < 1:
            raise ValueError("a read budget needs per_s > 0, burst >= 1 and max_readers >= 1")
        self._clock = clock
        self._per_s = per_s
        self._burst = float(burst)
        self._max = max_readers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, reader: str) -> bool:
        """Spend one read of ``reader``'s budget: False when none is left."""
        now = self._clock.monotonic()
        level, at = self._buckets.pop(reader, (self._burst, now))
        level = min(self._burst, level + (now - at) * self._per_s)
        allowed = level >= 1.0
        if allowed:
            level -= 1.0
        self._buckets[reader] = (level, now)  # most recently seen last
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed
