"""Injectable clocks: domain code never reads the wall clock directly."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (wall time, for records)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for timers and durations)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests and the simulator."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        self._mono += seconds


class ScaledClock:
    """Province time running ``speed`` times faster than the wall clock (``vcc demo``).

    From ``epoch`` (wall seconds) on, :meth:`now` advances ``speed`` seconds per wall
    second, and so does :meth:`monotonic`. Every process of a demo gets the same speed and
    epoch, so their records agree. Business timers (ring limit, wrap-up) last
    ``seconds / speed`` on the wall: see :func:`wall_seconds`.
    """

    def __init__(self, speed: float, epoch: float | None = None) -> None:
        if not speed >= 1.0:
            raise ValueError(f"a time speed-up must be at least 1, not {speed!r}")
        self.speed = speed
        self.epoch = time.time() if epoch is None else epoch
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self.epoch + (time.time() - self.epoch) * self.speed

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed


def wall_seconds(clock: Clock, seconds: float) -> float:
    """How long ``seconds`` of the clock's time last on the wall (for event-loop timers)."""
    speed = getattr(clock, "speed", 1.0)
    return seconds / speed if isinstance(speed, int | float) and speed > 0 else seconds
