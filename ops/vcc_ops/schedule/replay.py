"""A simulated run of a schedule: the real ACD on a virtual clock, agents signing in and
out with their shifts and taking their breaks, callers arriving at the forecast's rate of
each interval.

Like :mod:`vcc_ops.simulate.engine` (Poisson arrivals, exponential talk and patience, a
fixed ring delay and wrap-up; separate random streams), but with time-varying staffing
and load: an agent on a call when their break or shift end comes finishes the call and
its wrap-up first (then takes the whole break, or leaves). The run starts ``warmup`` intervals before the measured window so the
queue is in its usual state, and counts callers by the interval they arrived in:
offered, and answered within the target.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from vcc_domain.clock import ManualClock
from vcc_domain.schedule import WEEK, Schedule, Shift
from vcc_ops.schedule.model import INTERVAL_S, CallModel
from vcc_site.domain import Acd, AgentState, Assignment

SKILL = BUSINESS = "sim"
# event kinds; at one instant agents come and go before calls move
_ON, _BREAK, _BACK, _OFF, _ANSWER, _TALK_END, _WRAP_END, _PATIENCE, _ARRIVAL = range(9)


@dataclass(frozen=True, slots=True)
class Measured:
    offered: int
    within: int

    @property
    def service_level(self) -> float:
        return self.within / self.offered if self.offered else 1.0


class _Replay:
    def __init__(self, schedule: Schedule, model: CallModel, seed: int) -> None:
        self.s, self.m = schedule, model
        self.clock = ManualClock(start=0.0)
        self.acd = Acd(self.clock, aht_default_s=model.aht_s, ended_memory=1000)
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.arrivals = random.Random(f"{seed}:arrivals")
        self.talks = random.Random(f"{seed}:talk")
        self.patiences = random.Random(f"{seed}:patience")
        self.callers: dict[str, tuple[float, float, int]] = {}  # arrival, talk, interval
        self.talking: set[str] = set()
        self.pending: dict[str, int] = {}  # agent -> _BREAK or _OFF once free
        self.count = 0
        self.tally: dict[int, list[int]] = {}
        self.now = 0.0

    def push(self, when: float, kind: int, key: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, kind, self.seq, key))

    def run(self, first: int, last: int, warmup: int) -> dict[int, Measured]:
        begin, end = first - warmup, last
        t0 = begin * INTERVAL_S
        for k, shift in enumerate(self.s.shifts):
            self._agent_events(f"a{k:05d}", shift, begin, end)
        self._next_arrival(t0, end * INTERVAL_S)
        while self.heap:
            when, kind, _, key = heapq.heappop(self.heap)
            self.clock.advance(max(0.0, when - self.clock.monotonic()))
            self.now = when
            self._event(kind, key, end * INTERVAL_S)
        return {i: Measured(*self.tally.get(i, [0, 0])) for i in range(first, last)}

    def _agent_events(self, agent: str, shift: Shift, begin: int, end: int) -> None:
        r = shift.rules
        # the shift's occurrences that overlap the run (it repeats every week)
        for week in (-WEEK, 0, WEEK):
            start, stop = shift.start + week, shift.start + week + r.shift_intervals
            if stop <= begin or start >= end:
                continue
            on = max(start, begin) * INTERVAL_S
            b0, b1 = (
                (shift.break_start + week) * INTERVAL_S,
                (shift.break_start + week + r.break_intervals) * INTERVAL_S,
            )
            tag = f"{agent}/{week}"
            self.push(on, _ON, tag)
            if b1 > on and r.break_intervals:
                self.push(max(b0, on), _BREAK, tag)  # its end is set when it begins
            self.push(stop * INTERVAL_S, _OFF, tag)

    # -- events ---------------------------------------------------------------------------

    def _event(self, kind: int, key: str, stop_s: float) -> None:
        if kind == _ARRIVAL:
            self._arrive(stop_s)
        elif kind == _ON:
            self.acd.login(key, {SKILL: 1})
            self._assigned(self.acd.agent_ready(key), key)
        elif kind in (_BREAK, _OFF):
            self._leave(key, kind)
        elif kind == _BACK:
            if self._state(key) is AgentState.NOT_READY:
                self._assigned(self.acd.agent_ready(key), key)
        elif kind == _ANSWER:
            self._answer(key)
        elif kind == _TALK_END:
            self.talking.discard(key)
            del self.callers[key]
            ended = self.acd.hang_up(key)
            self.push(self.now + self.m.wrapup_s, _WRAP_END, ended.agent_id or "")
        elif kind == _WRAP_END:
            if not self._apply_pending(key):
                self._assigned(self.acd.wrap_up_done(key), key)
        else:
            self._patience_out(key)

    def _state(self, agent: str) -> AgentState:
        return self.acd.agent(agent).state

    def _leave(self, agent: str, kind: int) -> None:
        state = self._state(agent)
        if state is AgentState.READY or (kind == _OFF and state is AgentState.NOT_READY):
            self._go(agent, kind)
        elif kind == _OFF or state is not AgentState.NOT_READY:
            self.pending[agent] = kind  # after the call in hand

    def _go(self, agent: str, kind: int) -> None:
        if kind == _OFF:
            self.acd.logout(agent)
        else:  # the whole break, from when the agent is free
            self.acd.not_ready(agent, "break")
            self.push(self.now + self.s.shifts[0].rules.break_intervals * INTERVAL_S, _BACK, agent)

    def _apply_pending(self, agent: str) -> bool:
        kind = self.pending.pop(agent, None)
        if kind is None:
            return False
        self._go(agent, kind)
        return True

    def _arrive(self, stop_s: float) -> None:
        m, now = self.m, self.now
        self.count += 1
        call_id = f"c{self.count:09d}"
        interval = int(now // INTERVAL_S)
        talk = self.talks.expovariate(1.0 / m.aht_s)
        patience = (
            math.inf if m.patience_s is None else self.patiences.expovariate(1 / m.patience_s)
        )
        self.callers[call_id] = (now, talk, interval)
        self.tally.setdefault(interval, [0, 0])[0] += 1
        if patience != math.inf:
            self.push(now + patience, _PATIENCE, call_id)
        self._next_arrival(now, stop_s)
        result = self.acd.offer_call(call_id, business=BUSINESS, skill=SKILL, arrival=now)
        if isinstance(result, Assignment):
            self._assigned(result, result.agent_id)

    def _next_arrival(self, now: float, stop_s: float) -> None:
        """Poisson arrivals at each interval's rate (memoryless across the boundary)."""
        t = now
        while t < stop_s:
            interval = int(t // INTERVAL_S)
            rate = self.s.calls[interval % WEEK] / INTERVAL_S
            boundary = (interval + 1) * INTERVAL_S
            gap = self.arrivals.expovariate(rate) if rate > 0 else math.inf
            if t + gap < boundary:
                if t + gap < stop_s:
                    self.push(t + gap, _ARRIVAL)
                return
            t = boundary

    def _assigned(self, assignment: Assignment | None, agent: str) -> None:
        if assignment is None:
            self._apply_pending(agent)
            return
        if self.m.ring_delay_s > 0:
            self.push(self.now + self.m.ring_delay_s, _ANSWER, assignment.call_id)
        else:
            self._answer(assignment.call_id)

    def _answer(self, call_id: str) -> None:
        caller = self.callers.get(call_id)
        if caller is None or call_id in self.talking:
            return  # hung up while it rang
        arrival, talk, interval = caller
        agent = self.acd.call(call_id).agent_id or ""
        self.acd.answer(agent, call_id)
        self.talking.add(call_id)
        if self.now - arrival <= self.m.target_s:
            self.tally[interval][1] += 1
        self.push(self.now + talk, _TALK_END, call_id)

    def _patience_out(self, call_id: str) -> None:
        if call_id not in self.callers or call_id in self.talking:
            return
        del self.callers[call_id]
        ended = self.acd.hang_up(call_id)
        if ended.agent_id is not None:  # it rang: the agent is free again
            self._assigned(ended.next, ended.agent_id)


def replay(
    schedule: Schedule,
    model: CallModel,
    first: int,
    last: int,
    *,
    warmup: int = 4,
    seeds: Sequence[int] = (1,),
) -> dict[int, Measured]:
    """Simulate the schedule over intervals ``[first, last)`` of its week (after ``warmup``
    intervals), once per seed; the callers of each interval summed over the runs."""
    out: dict[int, Measured] = {}
    for seed in seeds:
        for i, m in _Replay(schedule, model, seed).run(first, last, warmup).items():
            held = out.get(i, Measured(0, 0))
            out[i] = Measured(held.offered + m.offered, held.within + m.within)
    return out
