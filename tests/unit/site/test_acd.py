"""Example tests of the ACD's routing rules and state machines (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_site.domain import (
    RING_NO_ANSWER,
    Acd,
    AgentState,
    Assignment,
    CallState,
    EndReason,
    Priority,
    Queued,
    Via,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


@pytest.fixture
def acd(clock: ManualClock) -> Acd:
    return Acd(clock, aht_default_s=100.0)


def ready(
    acd: Acd, clock: ManualClock, agent_id: str, skills: dict[str, int], general: int = 0
) -> Assignment | None:
    acd.login(agent_id, skills, general)
    clock.advance(1)
    return acd.agent_ready(agent_id)


def queue(
    acd: Acd,
    clock: ManualClock,
    call_id: str,
    priority: Priority = Priority.ORDINARY,
    skill: str | None = "bill",
    arrival: float | None = None,
) -> None:
    clock.advance(1)
    business = "b-" + str(skill)
    result = acd.offer_call(
        call_id, business=business, skill=skill, priority=priority, arrival=arrival
    )
    assert isinstance(result, Queued), result


def serve_order(acd: Acd, clock: ManualClock, agent_id: str, n: int) -> list[str]:
    """Let one agent take, answer and finish ``n`` calls; the order it got them."""
    order = []
    assignment = acd.agent_ready(agent_id)
    for _ in range(n):
        assert assignment is not None
        order.append(assignment.call_id)
        acd.answer(agent_id, assignment.call_id)
        clock.advance(5)
        acd.agent_hang_up(agent_id)
        assignment = acd.wrap_up_done(agent_id)
        acd.check_invariants()
    return order


def test_vip_overtakes_ordinary_callers(acd: Acd, clock: ManualClock) -> None:
    acd.login("a1", {"bill": 3})
    queue(acd, clock, "o1")
    queue(acd, clock, "o2")
    queue(acd, clock, "v1", Priority.VIP)
    assert serve_order(acd, clock, "a1", 3) == ["v1", "o1", "o2"]


def test_transferred_call_goes_ahead_of_a_vip(acd: Acd, clock: ManualClock) -> None:
    acd.login("a1", {"bill": 3})
    queue(acd, clock, "v1", Priority.VIP)
    queue(acd, clock, "t1", Priority.TRANSFERRED)
    assert serve_order(acd, clock, "a1", 2) == ["t1", "v1"]


def test_classes_in_order_and_blacklist_last(acd: Acd, clock: ManualClock) -> None:
    acd.login("a1", {"bill": 3})
    for cid, prio in [
        ("k", Priority.BLACKLIST),
        ("o", Priority.ORDINARY),
        ("m", Priority.MIDDLE),
        ("h", Priority.HIGH),
        ("v", Priority.VIP),
    ]:
        queue(acd, clock, cid, prio)
    assert serve_order(acd, clock, "a1", 5) == ["v", "h", "m", "o", "k"]


def test_overflowed_call_keeps_its_original_arrival(acd: Acd, clock: ManualClock) -> None:
    acd.login("a1", {"bill": 3})
    queue(acd, clock, "local")
    queue(acd, clock, "from-afar", arrival=clock.now() - 300)
    assert serve_order(acd, clock, "a1", 2) == ["from-afar", "local"]


def test_specialist_preferred_then_general(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "gen", {}, general=5)
    ready(acd, clock, "spec", {"bill": 1})
    first = acd.offer_call("c1", business="b", skill="bill")
    assert isinstance(first, Assignment)
    assert (first.agent_id, first.via) == ("spec", Via.SPECIALIST)
    second = acd.offer_call("c2", business="b", skill="bill")
    assert isinstance(second, Assignment)
    assert (second.agent_id, second.via) == ("gen", Via.GENERAL)
    assert isinstance(acd.offer_call("c3", business="b", skill="bill"), Queued)
    acd.check_invariants()


def test_unrecognised_need_goes_to_a_general_agent(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "spec", {"bill": 5})
    assert isinstance(acd.offer_call("c1", business="b", skill=None), Queued)
    taken = ready(acd, clock, "gen", {}, general=1)
    assert taken is not None and taken.call_id == "c1" and taken.via is Via.GENERAL


def test_general_agent_with_highest_level_is_chosen(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "g-low", {}, general=1)
    ready(acd, clock, "g-high", {}, general=4)
    result = acd.offer_call("c1", business="b", skill="bill")
    assert isinstance(result, Assignment) and result.agent_id == "g-high"


def test_vip_gets_the_highest_level_agent(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "lvl2", {"bill": 2})
    ready(acd, clock, "lvl5", {"bill": 5})
    ready(acd, clock, "lvl3", {"bill": 3})
    vip = acd.offer_call("v", business="b", skill="bill", priority=Priority.VIP)
    assert isinstance(vip, Assignment) and vip.agent_id == "lvl5"
    ordinary = acd.offer_call("o", business="b", skill="bill")
    assert isinstance(ordinary, Assignment) and ordinary.agent_id == "lvl2"  # longest idle


def test_key_customer_on_a_transferred_call_still_gets_the_best(
    acd: Acd, clock: ManualClock
) -> None:
    ready(acd, clock, "lvl2", {"bill": 2})
    ready(acd, clock, "lvl4", {"bill": 4})
    result = acd.offer_call(
        "t", business="b", skill="bill", priority=Priority.TRANSFERRED, vip=True
    )
    assert isinstance(result, Assignment) and result.agent_id == "lvl4"


def test_ties_go_to_the_longest_idle_agent(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "second", {"bill": 3})
    ready(acd, clock, "third", {"bill": 3})
    clock.advance(10)
    acd.not_ready("second", "away")
    acd.agent_ready("second")  # now idle for the shortest time
    ready(acd, clock, "g1", {}, general=2)
    ready(acd, clock, "g2", {}, general=2)
    picks = []
    for i, prio in enumerate([Priority.VIP, Priority.ORDINARY]):
        result = acd.offer_call(f"c{i}", business="b", skill="bill", priority=prio)
        assert isinstance(result, Assignment)
        picks.append(result.agent_id)
    assert picks == ["third", "second"]
    general = acd.offer_call("c9", business="b", skill="bill")
    assert isinstance(general, Assignment) and general.agent_id == "g1"


def test_ring_no_answer_requeues_at_the_head_and_agent_not_ready(
    acd: Acd, clock: ManualClock
) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    first = acd.offer_call("early", business="b", skill="bill")
    assert isinstance(first, Assignment)
    queue(acd, clock, "x1", arrival=clock.now() - 1000)  # arrived long before, same class
    requeued = acd.ring_no_answer("a1", "early")
    assert isinstance(requeued.then, Queued)
    assert acd.agent("a1").state is AgentState.NOT_READY
    assert acd.agent("a1").reason == RING_NO_ANSWER
    acd.check_invariants()
    ready(acd, clock, "a2", {"bill": 1})
    assert acd.call("early").agent_id == "a2"  # head of its class, ahead of x1


def test_ring_no_answer_places_the_call_on_another_idle_agent(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    ready(acd, clock, "a2", {"bill": 3})
    first = acd.offer_call("c", business="b", skill="bill")
    assert isinstance(first, Assignment) and first.agent_id == "a1"
    requeued = acd.ring_no_answer("a1", "c")
    assert isinstance(requeued.then, Assignment) and requeued.then.agent_id == "a2"


def test_ready_agent_takes_the_best_waiting_call_it_can_serve(acd: Acd, clock: ManualClock) -> None:
    queue(acd, clock, "bill-ord", skill="bill")
    queue(acd, clock, "net-vip", Priority.VIP, skill="net")
    queue(acd, clock, "bill-high", Priority.HIGH, skill="bill")
    assignment = ready(acd, clock, "a1", {"bill": 2})
    assert assignment is not None and assignment.call_id == "bill-high"
    general = ready(acd, clock, "g1", {}, general=1)
    assert general is not None and general.call_id == "net-vip"


def test_caller_hang_ups_in_each_state(acd: Acd, clock: ManualClock) -> None:
    queue(acd, clock, "q")
    assert acd.hang_up("q").reason is EndReason.ABANDONED
    ready(acd, clock, "a1", {"bill": 3})
    acd.offer_call("ringing", business="b", skill="bill")
    queue(acd, clock, "next")
    ended = acd.hang_up("ringing")
    assert ended.reason is EndReason.ABANDONED and ended.next is not None
    assert ended.next.call_id == "next"
    acd.answer("a1", "next")
    done = acd.hang_up("next")
    assert done.reason is EndReason.COMPLETED and done.agent_state is AgentState.WRAP_UP
    assert acd.call("next").state is CallState.ENDED
    acd.check_invariants()


def test_logout_while_ringing_puts_the_call_back(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    acd.offer_call("c", business="b", skill="bill")
    update = acd.logout("a1")
    assert update.state is AgentState.LOGGED_OUT and update.requeued is not None
    assert acd.call("c").state is CallState.QUEUED
    acd.check_invariants()


def test_transfer_out_and_overflow(acd: Acd, clock: ManualClock) -> None:
    queue(acd, clock, "w")
    assert acd.remove_call("w", EndReason.OVERFLOWED).reason is EndReason.OVERFLOWED
    ready(acd, clock, "a1", {"bill": 3})
    acd.offer_call("c", business="b", skill="bill")
    with pytest.raises(Conflict):
        acd.remove_call("c", EndReason.TRANSFERRED_OUT)  # still ringing
    acd.answer("a1", "c")
    ended = acd.remove_call("c", EndReason.TRANSFERRED_OUT)
    assert ended.agent_state is AgentState.WRAP_UP
    with pytest.raises(InvalidInput):
        acd.remove_call("c", EndReason.COMPLETED)


def test_handle_time_average_and_expected_wait(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    acd.offer_call("c", business="b", skill="bill")
    acd.answer("a1", "c")
    clock.advance(200)
    acd.agent_hang_up("a1")
    acd.wrap_up_done("a1")
    assert acd.aht("bill") == pytest.approx(200)  # the first sample replaces the default
    assert acd.ewt("bill") == 0.0  # a1 is ready
    acd.offer_call("c2", business="b", skill="bill")
    queue(acd, clock, "w1")
    queue(acd, clock, "w2")
    assert acd.expected_wait("w2") == pytest.approx(2 * acd.aht("bill"))
    figures = acd.queue_figures("bill")
    assert (figures.waiting, figures.agents_ringing) == (2, 1)
    assert figures.longest_wait_s == pytest.approx(1.0)  # w1 came 1 s ago
    assert figures.ewt_s == pytest.approx(3 * acd.aht("bill"))
    assert acd.business_figures()["b-bill"].waiting == 2


def test_errors_are_precise_and_change_nothing(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    ready(acd, clock, "a2", {"bill": 3})
    acd.offer_call("c", business="b", skill="bill")
    before = (acd.agent("a1"), acd.agent("a2"), acd.call("c"), acd.queue_figures("bill"))
    attempts: list[tuple[type[Exception], Callable[[], object]]] = [
        (NotFound, lambda: acd.answer("ghost", "c")),
        (NotFound, lambda: acd.hang_up("nope")),
        (Conflict, lambda: acd.answer("a2", "c")),  # not offered to a2
        (Conflict, lambda: acd.agent_ready("a1")),  # ringing
        (Conflict, lambda: acd.agent_ready("a2")),  # already ready
        (Conflict, lambda: acd.login("a1", {"bill": 1})),
        (Conflict, lambda: acd.offer_call("c", business="b", skill="bill")),
        (Conflict, lambda: acd.agent_hang_up("a1")),
        (Conflict, lambda: acd.wrap_up_done("a2")),
        (InvalidInput, lambda: acd.login("a3", {"bill": 9})),
        (InvalidInput, lambda: acd.login("a3", {})),
        (InvalidInput, lambda: acd.not_ready("a2", "")),
        (InvalidInput, lambda: acd.offer_call("d", business="b", skill="bill", priority=7)),  # type: ignore[arg-type]
    ]
    for kind, attempt in attempts:
        with pytest.raises(kind):
            attempt()
        assert (
            acd.agent("a1"),
            acd.agent("a2"),
            acd.call("c"),
            acd.queue_figures("bill"),
        ) == before
    acd.answer("a1", "c")
    with pytest.raises(Conflict, match="cannot log out"):
        acd.logout("a1")  # on a call
    acd.hang_up("c")
    with pytest.raises(Conflict, match="already ended"):
        acd.hang_up("c")
    acd.check_invariants()


def test_answer_racing_a_hang_up_is_refused(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    acd.offer_call("c", business="b", skill="bill")
    acd.hang_up("c")
    with pytest.raises(Conflict, match="already ended"):
        acd.answer("a1", "c")
    assert acd.agent("a1").state is AgentState.READY
    acd.check_invariants()


def test_handle_time_is_a_plain_mean_while_samples_are_few(acd: Acd, clock: ManualClock) -> None:
    ready(acd, clock, "a1", {"bill": 3})
    for n, handled in enumerate((100.0, 300.0, 200.0), start=1):
        acd.offer_call(f"c{n}", business="b", skill="bill")
        acd.answer("a1", f"c{n}")
        clock.advance(handled)
        acd.agent_hang_up("a1")
        acd.wrap_up_done("a1")
    assert acd.aht("bill") == pytest.approx(200.0)  # (100 + 300 + 200) / 3
    for n in range(4, 12):  # past 1/n < alpha the newest call weighs alpha
        acd.offer_call(f"c{n}", business="b", skill="bill")
        acd.answer("a1", f"c{n}")
        clock.advance(100.0)
        acd.agent_hang_up("a1")
        acd.wrap_up_done("a1")
    before = acd.aht("bill")
    acd.offer_call("last", business="b", skill="bill")
    acd.answer("a1", "last")
    clock.advance(400.0)
    acd.agent_hang_up("a1")
    acd.wrap_up_done("a1")
    assert acd.aht("bill") == pytest.approx(before + 0.2 * (400.0 - before))
