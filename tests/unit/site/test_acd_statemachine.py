"""A Hypothesis state machine over the ACD: random logins, readies, offers, answers,
hang-ups, logouts, ring-no-answers, abandons and wrap-ups.

Checked after every step: the ACD's own invariants (no call held by two agents, no agent
holding two calls, indexes in step, no READY agent idle beside a call it could serve);
every call that has ended went through exactly one terminal transition; a failed
operation raised a ``VccError`` and changed nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from vcc_domain.clock import ManualClock
from vcc_domain.errors import VccError
from vcc_site.domain import (
    Acd,
    AgentState,
    AgentUpdate,
    AgentView,
    Assignment,
    CallEnded,
    CallState,
    EndReason,
    Priority,
    Requeued,
)

AGENTS = [f"a{i}" for i in range(5)]
SKILLS = ["s1", "s2", "s3"]
agent_ids = st.sampled_from([*AGENTS, "ghost"])
skills = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2)


class AcdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.acd = Acd(self.clock, aht_default_s=60.0)
        self.calls: list[str] = []
        self.ended: Counter[str] = Counter()  # terminal transitions seen per call

    # -- helpers ------------------------------------------------------------------------

    def snapshot(self) -> tuple[Any, ...]:
        agents: list[AgentView | None] = []
        for aid in AGENTS:
            try:
                agents.append(self.acd.agent(aid))
            except VccError:
                agents.append(None)
        figures = [self.acd.queue_figures(s) for s in [*SKILLS, None]]
        calls = [self.acd.call(c) for c in self.calls]
        return (tuple(agents), tuple(calls), tuple(figures), self.acd.waiting)

    def attempt(self, op: Callable[[], object]) -> None:
        before = self.snapshot()
        try:
            result = op()
        except VccError:
            assert self.snapshot() == before, "a failed operation changed the state"
            return
        self.record(result)

    def record(self, result: object) -> None:
        """Count terminal transitions and check what a result claims."""
        if isinstance(result, CallEnded):
            self.ended[result.call_id] += 1
            assert self.acd.call(result.call_id).end_reason is result.reason
            self.record(result.next)
        elif isinstance(result, Assignment):
            view = self.acd.agent(result.agent_id)
            assert view.state is AgentState.RINGING and view.call_id == result.call_id
        elif isinstance(result, Requeued):
            self.record(result.then)
        elif isinstance(result, AgentUpdate):
            self.record(result.requeued)

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.calls, "call-unknown"]))

    # -- rules --------------------------------------------------------------------------

    @rule(agent=agent_ids, sk=skills, general=st.integers(0, 3))
    def login(self, agent: str, sk: dict[str, int], general: int) -> None:
        self.attempt(lambda: self.acd.login(agent, sk, general))

    @rule(agent=agent_ids)
    def ready(self, agent: str) -> None:
        self.attempt(lambda: self.acd.agent_ready(agent))

    @rule(agent=agent_ids, reason=st.sampled_from(["away", "break", ""]))
    def not_ready(self, agent: str, reason: str) -> None:
        self.attempt(lambda: self.acd.not_ready(agent, reason))

    @rule(agent=agent_ids)
    def logout(self, agent: str) -> None:
        self.attempt(lambda: self.acd.logout(agent))

    @rule(agent=agent_ids)
    def wrap_up_done(self, agent: str) -> None:
        self.attempt(lambda: self.acd.wrap_up_done(agent))

    @rule(
        skill=st.sampled_from([*SKILLS, None]),
        priority=st.sampled_from(Priority),
        vip=st.booleans(),
        early=st.integers(0, 100),
    )
    def offer(self, skill: str | None, priority: Priority, vip: bool, early: int) -> None:
        call_id = f"c{len(self.calls)}"
        arrival = self.clock.now() - early
        self.attempt(
            lambda: self.acd.offer_call(
                call_id, business="biz", skill=skill, priority=priority, arrival=arrival, vip=vip
            )
        )
        self.calls.append(call_id)

    @precondition(lambda self: bool(self.calls))
    @rule(agent=agent_ids, data=st.data())
    def answer(self, agent: str, data: st.DataObject) -> None:
        call = self.pick(data)
        self.attempt(lambda: self.acd.answer(agent, call))

    @precondition(lambda self: bool(self.calls))
    @rule(agent=agent_ids, data=st.data())
    def ring_no_answer(self, agent: str, data: st.DataObject) -> None:
        call = self.pick(data)
        self.attempt(lambda: self.acd.ring_no_answer(agent, call))

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data())
    def caller_hangs_up(self, data: st.DataObject) -> None:
        call = self.pick(data)
        self.attempt(lambda: self.acd.hang_up(call))

    @rule(agent=agent_ids)
    def agent_hangs_up(self, agent: str) -> None:
        self.attempt(lambda: self.acd.agent_hang_up(agent))

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data(), reason=st.sampled_from(EndReason))
    def remove(self, data: st.DataObject, reason: EndReason) -> None:
        call = self.pick(data)
        self.attempt(lambda: self.acd.remove_call(call, reason))

    @rule(seconds=st.integers(0, 30))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def consistent(self) -> None:
        self.acd.check_invariants()

    @invariant()
    def one_terminal_transition_per_ended_call(self) -> None:
        for call_id in self.calls:
            ended = self.acd.call(call_id).state is CallState.ENDED
            assert self.ended[call_id] == (1 if ended else 0), call_id

    def teardown(self) -> None:
        """Hang up everything still active: every offered call ends exactly once."""
        for call_id in self.calls:
            if self.acd.call(call_id).state is not CallState.ENDED:
                self.record(self.acd.hang_up(call_id))
        self.acd.check_invariants()
        assert all(self.ended[c] == 1 for c in self.calls)
        for aid in AGENTS:
            try:
                view = self.acd.agent(aid)
            except VccError:
                continue
            assert view.call_id is None


AcdMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
TestAcdStateMachine = AcdMachine.TestCase
