"""The call's life at one site (``vcc_site.domain.call``), example by example."""

from __future__ import annotations

import pytest

from vcc_domain.errors import Conflict, InvalidInput
from vcc_site.domain.call import (
    CallAnswered,
    CallHeld,
    CallLeft,
    CallLife,
    CallOffered,
    CallQueued,
    CallState,
    CallTransferredIn,
    ConsultClosed,
    ConsultOpened,
    LegEnded,
    LegKind,
)


def talking(at: int = 1_000) -> CallLife:
    life = CallLife("call_1", "KM", at)
    life.queue(at)
    life.offer("KM-0001", "leg_1", LegKind.INITIAL, at + 100)
    life.answer(at + 400)
    return life


def test_stored_states_are_the_old_strings() -> None:
    assert {s.stored for s in CallState} == {
        "ivr",
        "queued",
        "offered",
        "connected",
        "held",
        "ended",
    }
    assert CallState.CONSULTING.stored == "held"
    assert CallState.TRANSFERRED_OUT.stored == "ended"


def test_a_call_from_arrival_to_its_final_end() -> None:
    life = CallLife("call_1", "KM", 1_000)
    assert life.queue(1_200).events == (CallQueued(1_200),)
    assert life.offer("KM-0001", "leg_1", LegKind.INITIAL, 1_300).events == (
        CallOffered("leg_1", "KM-0001", 1_300),
    )
    assert life.answer(1_700).events == (CallAnswered("leg_1", "KM-0001", 1_700),)
    assert life.hold(2_000).state is CallState.HELD
    assert life.resume(2_500).state is CallState.CONNECTED
    step = life.end(5_700, "completed")
    assert step.state is CallState.ENDED
    ended, left = step.events
    assert isinstance(ended, LegEnded) and ended.leg.ended_at_ms == 5_700
    assert ended.leg.answered_at_ms == 1_700 and ended.leg.end_reason == "completed"
    assert left == CallLeft("completed", answered=True, final=True, at_ms=5_700)
    assert (life.ring_ms, life.hold_ms, life.talk_ms) == (400, 500, 3_500)
    assert life.agent_id == "KM-0001" and life.leg is None and len(life.legs) == 1


def test_a_ring_no_answer_ends_the_leg_and_the_call_waits_again() -> None:
    life = CallLife("call_1", "KM", 1_000)
    life.offer("KM-0001", "leg_1", LegKind.INITIAL, 1_000)  # an agent was free at once
    step = life.take_back(13_000, "no_answer")
    assert step.state is CallState.QUEUED and life.agent_id == "" and life.leg is None
    assert life.ring_ms == 12_000 and life.legs[0].end_reason == "no_answer"
    life.queue(13_000)
    assert life.queued_at_ms == 13_000


def test_an_unanswered_end_is_an_abandon_without_an_agent() -> None:
    life = CallLife("call_1", "KM", 1_000)
    life.queue(1_000)
    life.offer("KM-0001", "leg_1", LegKind.INITIAL, 2_000)
    left = life.end(3_000, "abandoned").events[-1]
    assert isinstance(left, CallLeft) and not left.answered and left.final
    assert life.agent_id == "" and life.ring_ms == 1_000 and life.answered_at_ms == 0


@pytest.mark.parametrize("reason", ["transferred_out", "overflowed"])
def test_a_call_that_left_the_site_is_not_final_here(reason: str) -> None:
    step = talking().end(9_000, reason)
    assert step.state is CallState.TRANSFERRED_OUT and not step.state.live
    left = step.events[-1]
    assert isinstance(left, CallLeft) and not left.final


def test_a_consultation_holds_the_caller_and_its_end_keeps_them_held() -> None:
    life = talking()
    step = life.open_consult("leg_2", 2_000)
    assert step.state is CallState.CONSULTING
    assert step.events == (CallHeld(2_000), ConsultOpened("leg_2", 2_000))
    with pytest.raises(Conflict):
        life.open_consult("leg_3", 2_100)
    assert life.close_consult(3_000).events == (ConsultClosed("leg_2", 3_000),)
    assert life.state is CallState.HELD and life.hold_started_ms == 2_000
    assert life.close_consult(3_100).events == ()  # none open: nothing


def test_a_conference_is_connected_with_its_consultation_open() -> None:
    life = talking()
    life.open_consult("leg_2", 2_000)
    assert life.resume(2_500).state is CallState.CONNECTED and life.consult_leg == "leg_2"
    assert life.hold(2_600).state is CallState.CONSULTING


def test_a_consult_leg_is_never_final_until_it_becomes_the_call() -> None:
    leg, first = CallLife.transferred_in("call_1", "DL", 1_000, "KM", "leg_2", 2_000, consult=True)
    assert first.events == (CallTransferredIn("KM", "leg_2", 2_000),)
    other = CallLife.transferred_in("call_1", "DL", 1_000, "KM", "leg_2", 2_000, consult=True)[0]
    left = other.end(3_000, "abandoned").events[-1]
    assert isinstance(left, CallLeft) and not left.final
    leg.own("KM", "leg_2", 3_000)
    left = leg.end(4_000, "abandoned").events[-1]
    assert isinstance(left, CallLeft) and left.final
    with pytest.raises(Conflict):
        talking().own("KM", "leg_2", 5_000)


def test_legs_taken_over_start_after_the_senders_last_even_with_a_slow_clock() -> None:
    life, _ = CallLife.transferred_in(
        "call_1", "DL", 1_000, "KM", "leg_2", 4_000, prior_end_ms=9_000
    )
    life.offer("DL-0001", "leg_2", LegKind.TRANSFER, 5_000)
    assert life.offered_at_ms == 9_000


def test_a_call_takes_over_its_consult_leg_here() -> None:
    call = talking()
    call.open_consult("leg_2", 2_000)
    shadow, _ = CallLife.transferred_in("call_1", "KM", 1_000, "KM", "leg_2", 2_000, consult=True)
    shadow.offer("KM-0002", "leg_2", LegKind.CONSULT, 2_000)
    shadow.answer(2_500)
    call.release(3_000, "transferred")
    step = call.adopt(shadow, 3_000)
    assert step.state is CallState.CONNECTED and call.agent_id == "KM-0002"
    assert call.leg is not None and call.leg.leg_id == "leg_2"
    assert call.hold_started_ms == 0 and call.consult_leg == ""
    assert shadow.state is CallState.ENDED and shadow.leg is None


@pytest.mark.parametrize(
    "attempt",
    [
        lambda life: life.answer(5_000),
        lambda life: life.take_back(5_000, "no_answer"),
        lambda life: life.resume(5_000),
        lambda life: life.offer("KM-0002", "leg_9", LegKind.INITIAL, 5_000),
        lambda life: life.open_consult("", 5_000),
        lambda life: life.end(5_000, ""),
        lambda life: life.adopt(CallLife("call_2", "KM", 0), 5_000),
    ],
)
def test_a_refused_transition_changes_nothing(attempt) -> None:  # type: ignore[no-untyped-def]
    life = talking()
    before = repr(life)
    with pytest.raises((Conflict, InvalidInput)):
        attempt(life)
    assert repr(life) == before


def test_an_ended_call_cannot_end_again() -> None:
    life = talking()
    life.end(9_000, "completed")
    with pytest.raises(Conflict):
        life.end(9_500, "completed")
