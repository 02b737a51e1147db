"""Consistency checks of the ACD's state and indexes (used by tests; O(everything))."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from vcc_site.domain.agents import Agent, AgentState, IdleIndex, StaffCounts
from vcc_site.domain.queue import Call, CallQueue, CallState

_HOLDING = {AgentState.RINGING: CallState.OFFERED, AgentState.BUSY: CallState.CONNECTED}


def check_acd(
    agents: Mapping[str, Agent],
    calls: Mapping[str, Call],
    queues: Mapping[str | None, CallQueue],
    all_calls: CallQueue,
    idle: IdleIndex,
    staff: StaffCounts,
) -> None:
    """Raise AssertionError on any inconsistency: a call held by two agents, an agent
    holding two calls, a queue or index out of step, or a READY agent that could serve a
    waiting call."""
    _check_assignments(agents, calls)
    _check_queues(calls, queues, all_calls)
    ready = [a for a in agents.values() if a.state is AgentState.READY]
    idle.check(ready)
    _check_staff(agents, staff)
    for agent in ready:
        servable = (
            [all_calls]
            if agent.general_level > 0
            else [queues[s] for s in agent.skills if s in queues]
        )
        assert not any(len(q) for q in servable), (
            f"agent {agent.agent_id} is READY while a call it can serve is waiting"
        )


def _check_assignments(agents: Mapping[str, Agent], calls: Mapping[str, Call]) -> None:
    holders: dict[str, str] = {}
    for agent in agents.values():
        want = _HOLDING.get(agent.state)
        if want is None:
            assert agent.call_id is None, f"{agent.agent_id} {agent.state} holds a call"
            continue
        assert agent.call_id is not None, f"{agent.agent_id} {agent.state} without a call"
        assert agent.call_id not in holders, (
            f"call {agent.call_id} held by {holders[agent.call_id]} and {agent.agent_id}"
        )
        holders[agent.call_id] = agent.agent_id
        call = calls.get(agent.call_id)
        assert call is not None, f"{agent.agent_id} holds unknown call {agent.call_id}"
        assert call.state is want, f"{call.call_id} is {call.state}, agent is {agent.state}"
        assert call.agent_id == agent.agent_id, f"{call.call_id} points at {call.agent_id}"
    for call in calls.values():
        assert call.state is not CallState.ENDED, f"ended call {call.call_id} still active"
        if call.state is CallState.QUEUED:
            assert call.agent_id is None, f"queued {call.call_id} has an agent"
        else:
            assert holders.get(call.call_id) == call.agent_id, (
                f"{call.call_id} {call.state} is not held by {call.agent_id}"
            )


def _check_queues(
    calls: Mapping[str, Call], queues: Mapping[str | None, CallQueue], all_calls: CallQueue
) -> None:
    queued = {c.call_id for c in calls.values() if c.state is CallState.QUEUED}
    assert set(all_calls.live) == queued, "the queue of all calls differs from queued calls"
    all_calls.check()
    seen = 0
    for skill, queue in queues.items():
        queue.check()
        for call in queue.live.values():
            assert call.skill == skill, f"{call.call_id} in the queue of {skill}"
            assert call.token > 0, f"{call.call_id} queued without a token"
        seen += len(queue)
    assert seen == len(queued), f"{seen} calls in skill queues, {len(queued)} queued"


def _check_staff(agents: Mapping[str, Agent], staff: StaffCounts) -> None:
    expected = StaffCounts()
    for agent in agents.values():
        if agent.state is not AgentState.LOGGED_OUT:
            expected.move(agent, None, agent.state)
    for skill in set(expected.spec) | set(staff.spec):
        want = _nonzero(expected.spec.get(skill, Counter()))
        have = _nonzero(staff.spec.get(skill, Counter()))
        assert want == have, f"staff counts of {skill}: {have} != {want}"
    assert _nonzero(expected.general) == _nonzero(staff.general), "general staff counts are off"


def _nonzero(counter: Counter[AgentState]) -> dict[AgentState, int]:
    return {k: v for k, v in counter.items() if v}
