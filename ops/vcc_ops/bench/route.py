"""``vcc bench route``: routing decisions of the pure ACD in one process.

The ACD is loaded with ``agents`` logged-in agents (a fifth of them general agents) and
``waiting`` queued calls over ``businesses`` skills, every agent busy or ringing. Then a
steady-state loop runs until ``decisions`` routing decisions have been timed, each with
``time.perf_counter_ns``:

* an agent finishes a call and its wrap-up: ``wrap_up_done`` picks the best waiting call
  it can serve (timed), which it answers;
* a new caller arrives: ``offer_call`` picks an agent or queues the call (timed), which
  keeps the number waiting steady;
* 2% of offers are not answered: ``ring_no_answer`` requeues the call at the head and
  places it again (timed), then the agent's ``agent_ready`` takes a call (timed);
* 5% of the time a waiting caller abandons (not timed; leaves stale heap entries) and
  a new caller is offered (timed).

Hang-ups and answers are not routing decisions and are not timed.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from vcc_domain.clock import ManualClock
from vcc_site.domain import Acd, Assignment, CallState, Priority, Queued

_PRIORITIES = [
    Priority.TRANSFERRED,
    Priority.VIP,
    Priority.HIGH,
    Priority.MIDDLE,
    Priority.ORDINARY,
    Priority.BLACKLIST,
]
_WEIGHTS = [2, 5, 10, 20, 58, 5]


class _Load:
    """The ACD under test plus the bookkeeping the driver needs (busy agents, callers)."""

    def __init__(self, agents: int, businesses: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = ManualClock()
        self.acd = Acd(self.clock)
        self.skills = [f"biz{i:02d}" for i in range(businesses)]
        self.busy: list[str] = []
        self.queued: list[str] = []
        self.next_call = 0
        for i in range(agents):
            self._login(f"agent{i:05d}")

    def _login(self, agent_id: str) -> None:
        rng = self.rng
        general = rng.randint(1, 5) if rng.random() < 0.2 else 0
        count = rng.randint(0, 1) if general else rng.randint(1, 3)
        skills = {s: rng.randint(1, 5) for s in rng.sample(self.skills, count)}
        self.acd.login(agent_id, skills, general)
        self.acd.agent_ready(agent_id)

    def offer(self) -> Assignment | Queued:
        rng = self.rng
        self.clock.advance(0.001)
        self.next_call += 1
        call_id = f"call{self.next_call:09d}"
        skill = None if rng.random() < 0.02 else rng.choice(self.skills)
        priority = rng.choices(_PRIORITIES, _WEIGHTS)[0]
        return self.acd.offer_call(
            call_id, business=skill or "general", skill=skill, priority=priority
        )

    def settle(self, result: Assignment | Queued | None) -> None:
        """Answer an assignment (the agent is busy) or remember a queued caller."""
        if isinstance(result, Assignment):
            self.acd.answer(result.agent_id, result.call_id)
            self.busy.append(result.agent_id)
        elif isinstance(result, Queued):
            self.queued.append(result.call_id)

    def take_busy(self) -> str:
        i = self.rng.randrange(len(self.busy))
        self.busy[i], self.busy[-1] = self.busy[-1], self.busy[i]
        return self.busy.pop()

    def abandon_one(self) -> bool:
        while self.queued:
            i = self.rng.randrange(len(self.queued))
            self.queued[i], self.queued[-1] = self.queued[-1], self.queued[i]
            call_id = self.queued.pop()
            if self.acd.call(call_id).state is CallState.QUEUED:
                self.acd.hang_up(call_id)
                return True
        return False


def _timed(samples: list[int], op: Any, *args: Any) -> Any:
    t0 = time.perf_counter_ns()
    result = op(*args)
    samples.append(time.perf_counter_ns() - t0)
    return result


def _cycle(load: _Load, samples: list[int]) -> None:
    """One agent finishes a call and takes the next; one new caller arrives."""
    acd = load.acd
    if load.busy:
        agent_id = load.take_busy()
        acd.agent_hang_up(agent_id)
        load.settle(_timed(samples, acd.wrap_up_done, agent_id))
    if load.rng.random() < 0.05 and load.abandon_one():
        load.settle(_timed(samples, load.offer))  # a new caller replaces the one who left
    result = _timed(samples, load.offer)
    if isinstance(result, Assignment) and load.rng.random() < 0.02:
        requeued = _timed(samples, acd.ring_no_answer, result.agent_id, result.call_id)
        load.settle(requeued.then)
        load.settle(_timed(samples, acd.agent_ready, result.agent_id))
    else:
        load.settle(result)


def run_route_bench(
    agents: int = 2000,
    waiting: int = 10000,
    businesses: int = 20,
    decisions: int = 50000,
    seed: int = 1,
) -> dict[str, Any]:
    """Build the loaded ACD, time ``decisions`` routing decisions, return the figures."""
    load = _Load(agents, businesses, seed)
    while load.acd.waiting < waiting:
        load.settle(load.offer())
    waiting_before = load.acd.waiting
    samples: list[int] = []
    wall0 = time.perf_counter_ns()
    while len(samples) < decisions:
        _cycle(load, samples)
    wall_s = (time.perf_counter_ns() - wall0) / 1e9
    load.acd.check_invariants()
    ordered = sorted(samples)
    return {
        "decisions": len(samples),
        "decisions_per_s": round(len(samples) / (sum(samples) / 1e9)),
        "decision_p50_ms": round(ordered[len(ordered) // 2] / 1e6, 4),
        "decision_p99_ms": round(ordered[int(len(ordered) * 0.99)] / 1e6, 4),
        "decision_max_ms": round(ordered[-1] / 1e6, 4),
        "loop_decisions_per_s": round(len(samples) / wall_s),
        "agents": agents,
        "waiting_calls": waiting_before,
        "waiting_calls_end": load.acd.waiting,
        "businesses": businesses,
        "seed": seed,
    }


def median_of_runs(runs: int = 3, **kwargs: Any) -> dict[str, Any]:
    """Run the bench ``runs`` times (seeds seed, seed+1, ...); the median of each figure."""
    seed = int(kwargs.pop("seed", 1))
    results = [run_route_bench(seed=seed + i, **kwargs) for i in range(runs)]
    out = dict(results[0])
    for key in (
        "decisions_per_s",
        "decision_p50_ms",
        "decision_p99_ms",
        "decision_max_ms",
        "loop_decisions_per_s",
    ):
        out[key] = statistics.median(r[key] for r in results)
    out["runs"] = runs
    out["per_run"] = results
    return out
