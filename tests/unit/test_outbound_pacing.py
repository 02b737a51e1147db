"""Outbound pacing by agent availability (pure): never more calls in flight than the
ready agents allow, key customers first, nobody called twice at once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcc_domain.errors import InvalidInput
from vcc_domain.outbound import CampaignEntry, next_batch, pace, record_attempt

TIERS = ("vip", "high", "middle", "ordinary", "blacklist")


def entries(tiers: list[str]) -> list[CampaignEntry]:
    return [
        CampaignEntry("c1", i, "bill_notice", f"cust{i}", f"1370000{i:04d}", tier)
        for i, tier in enumerate(tiers)
    ]


def test_pace_by_hand() -> None:
    assert pace(ready_agents=4, in_flight=0) == 4
    assert pace(ready_agents=4, in_flight=3) == 1
    assert pace(ready_agents=4, in_flight=6) == 0  # never negative
    assert pace(ready_agents=0, in_flight=0) == 0  # nobody free: nobody dialed
    assert pace(ready_agents=3, in_flight=2, ratio=1.5) == 2  # int(4.5) - 2
    for bad in (
        {"ready_agents": -1, "in_flight": 0},
        {"ready_agents": 1, "in_flight": 0, "ratio": 0.0},
    ):
        with pytest.raises(InvalidInput):
            pace(**bad)  # type: ignore[arg-type]


def test_a_customer_who_picked_up_but_met_no_agent_is_a_failed_attempt() -> None:
    entry = entries(["vip"])[0]
    for _ in range(2):
        entry = record_attempt(entry, "abandoned", 1)
    assert (entry.attempts, entry.state) == (2, "pending")
    assert record_attempt(entry, "abandoned", 2).state == "returned"  # the third failure
    assert record_attempt(entry, "reached", 2).state == "done"


def test_next_batch_takes_key_customers_first_and_skips_calls_in_flight() -> None:
    listed = entries(["ordinary", "vip", "middle", "high", "ordinary"])
    assert [e.entry_no for e in next_batch(listed, [], 3)] == [1, 3, 2]
    assert [e.entry_no for e in next_batch(listed, [1], 3)] == [3, 2, 0]
    assert next_batch(listed, [], 0) == []


@given(
    ready=st.integers(0, 30),
    ratio=st.floats(0.1, 3.0),
    tiers=st.lists(st.sampled_from(TIERS), max_size=40),
    rounds=st.lists(st.integers(0, 5), max_size=20),
)
def test_a_paced_run_never_exceeds_the_ready_agents(
    ready: int, ratio: float, tiers: list[str], rounds: list[int]
) -> None:
    """Rounds of: start what the pacing allows, then finish some calls."""
    listed = entries(tiers)
    in_flight: list[int] = []
    called: set[int] = set()
    for finished in rounds:
        batch = next_batch(listed, in_flight, pace(ready, len(in_flight), ratio))
        assert not {e.entry_no for e in batch} & set(in_flight)  # nobody twice at once
        in_flight += [e.entry_no for e in batch]
        assert len(in_flight) <= max(int(ready * ratio), 0)
        done, in_flight = in_flight[:finished], in_flight[finished:]
        called |= set(done)
        listed = [
            e
            if e.entry_no not in done
            else CampaignEntry(
                e.campaign_id, e.entry_no, e.kind, e.customer_id, e.phone, e.tier, state="done"
            )
            for e in listed
        ]
