"""Offering a call to a named agent (``Acd.offer_call(reserve=...)``): pure, no I/O."""

from __future__ import annotations

import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.errors import Conflict, NotFound
from vcc_site.domain import Acd, AgentState, Assignment, Priority, Queued, Requeued


@pytest.fixture
def acd() -> Acd:
    clock = ManualClock(start=1_000.0)
    acd = Acd(clock, aht_default_s=100.0)
    for agent, level in (("low", 1), ("high", 5)):
        acd.login(agent, {"bill": level}, 0)
        clock.advance(1)
        acd.agent_ready(agent)
    return acd


def test_the_named_agent_gets_the_call_whatever_the_rules(acd: Acd) -> None:
    # a VIP would go to the best-qualified agent ("high"); reserved, it rings at "low"
    got = acd.offer_call(
        "c1", business="b", skill="bill", priority=Priority.TRANSFERRED, vip=True, reserve="low"
    )
    assert isinstance(got, Assignment) and got.agent_id == "low"
    assert acd.agent("low").state is AgentState.RINGING
    acd.check_invariants()


def test_a_named_agent_not_ready_is_refused_and_nothing_changes(acd: Acd) -> None:
    acd.offer_call("c1", business="b", skill="bill", reserve="low")
    with pytest.raises(Conflict):
        acd.offer_call("c2", business="b", skill="bill", reserve="low")
    with pytest.raises(NotFound):
        acd.offer_call("c3", business="b", skill="bill", reserve="nobody")
    with pytest.raises(NotFound):  # the refused calls were not kept
        acd.call("c2")
    assert acd.agent("high").state is AgentState.READY
    acd.check_invariants()


def test_no_answer_from_the_named_agent_places_the_call_as_usual(acd: Acd) -> None:
    acd.offer_call("c1", business="b", skill="bill", reserve="low")
    back = acd.ring_no_answer("low", "c1")
    assert isinstance(back, Requeued)
    assert isinstance(back.then, Assignment) and back.then.agent_id == "high"
    acd.offer_call("c2", business="b", skill="bill")  # nobody ready: it waits
    assert isinstance(acd.offer_call("c3", business="b", skill="bill"), Queued)
    acd.check_invariants()
