"""Customer reads per reader are bounded: a walk of the base is refused, a caller's read is not."""

from __future__ import annotations

import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.read_budget import ReadBudget


def test_a_burst_then_refusals_then_refill_at_the_rate() -> None:
    clock = ManualClock()
    budget = ReadBudget(clock, per_s=10, burst=5)
    assert [budget.take("site/QJ") for _ in range(7)] == [True] * 5 + [False] * 2
    clock.advance(0.25)  # 2.5 reads earned
    assert [budget.take("site/QJ") for _ in range(3)] == [True, True, False]
    clock.advance(60)  # never more than the burst
    assert sum(budget.take("site/QJ") for _ in range(20)) == 5


def test_readers_have_their_own_buckets_and_the_table_is_bounded() -> None:
    clock = ManualClock()
    budget = ReadBudget(clock, per_s=1, burst=1, max_readers=2)
    assert budget.take("site/QJ") and not budget.take("site/QJ")
    assert budget.take("site/DL")  # another reader is not charged for QJ's reads
    assert budget.take("site/YX")  # QJ, the longest idle, is forgotten ...
    assert budget.take("site/QJ")  # ... and starts again with a full bucket


def test_a_budget_that_would_refuse_everything_is_refused() -> None:
    with pytest.raises(ValueError):
        ReadBudget(ManualClock(), per_s=0)
