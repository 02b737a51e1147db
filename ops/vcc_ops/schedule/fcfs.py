"""A fast simulated run of a schedule: the same model as :mod:`vcc_ops.schedule.replay`,
computed by the first-come-first-served recursion instead of driving the ACD event by
event, tens of times faster (so many seeded runs fit in a test).

One queue, identical agents, callers served in arrival order: each caller, in order, gets
the agent that is free soonest (the longest idle when several are, as the ACD picks),
unless the caller's patience runs out first (gone from the queue, nobody's time taken) or
while it rings (the agent is free again at once). Agents follow their shifts as in the
replay: on the phone from the shift's start (or the run's), leaving at its end or after
the call in hand, and taking the whole break when it is due or, if busy then, after the
call and its wrap-up. Arrivals are Poisson at each interval's rate, talk and patience
exponential, ring delay and wrap-up fixed; a caller counts in the interval of arrival,
answered within the target if the agent picks up (after the ring) within ``target_s``.

What it leaves out of the replay, which only matters to the second: an agent whose ringing
caller hangs up takes the break or leaves before the next queued caller rather than after.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence

from vcc_domain.schedule import WEEK, Schedule
from vcc_ops.schedule.model import INTERVAL_S, CallModel
from vcc_ops.schedule.replay import Measured

_Agent = tuple[float, float, float]  # break due, shift end, break length (seconds)


def fcfs_replay(
    schedule: Schedule,
    model: CallModel,
    first: int,
    last: int,
    *,
    warmup: int = 4,
    seeds: Sequence[int] = (1,),
) -> dict[int, Measured]:
    """Like :func:`vcc_ops.schedule.replay.replay`: intervals ``[first, last)`` after
    ``warmup`` intervals, once per seed, the callers of each interval summed."""
    begin = first - warmup
    agents, ready = _agents(schedule, begin, last)
    tally = {i: [0, 0] for i in range(first, last)}
    for seed in seeds:
        _run(schedule, model, agents, list(ready), begin, last, seed, tally)
    return {i: Measured(*tally[i]) for i in range(first, last)}


def _agents(
    schedule: Schedule, begin: int, end: int
) -> tuple[list[_Agent], list[tuple[float, int, bool]]]:
    """Each shift occurrence overlapping the run: (break due, end, break length), and the
    heap of (free from, agent, break taken)."""
    agents: list[_Agent] = []
    ready: list[tuple[float, int, bool]] = []
    for shift in schedule.shifts:
        r = shift.rules
        for week in (-WEEK, 0, WEEK):  # a shift repeats every week
            start, stop = shift.start + week, shift.start + week + r.shift_intervals
            if stop <= begin or start >= end:
                continue
            on = max(start, begin) * INTERVAL_S
            brk = r.break_intervals * INTERVAL_S
            b1 = (shift.break_start + week + r.break_intervals) * INTERVAL_S
            due = max((shift.break_start + week) * INTERVAL_S, on)
            taken = not (b1 > on and brk > 0)
            ready.append((on, len(agents), taken))
            agents.append((due, stop * INTERVAL_S, brk))
    heapq.heapify(ready)
    return agents, ready


def _arrivals(schedule: Schedule, rng: random.Random, t: float, stop: float) -> Iterator[float]:
    """Poisson arrivals at each interval's rate (memoryless across the boundary)."""
    while t < stop:
        interval = int(t // INTERVAL_S)
        rate = schedule.calls[interval % WEEK] / INTERVAL_S
        boundary = (interval + 1) * INTERVAL_S
        gap = rng.expovariate(rate) if rate > 0 else math.inf
        if t + gap < boundary:
            t += gap
            if t < stop:
                yield t
        else:
            t = boundary


def _run(
    schedule: Schedule,
    m: CallModel,
    agents: list[_Agent],
    ready: list[tuple[float, int, bool]],
    begin: int,
    end: int,
    seed: int,
    tally: dict[int, list[int]],
) -> None:
    talks = random.Random(f"{seed}:talk")
    patiences = random.Random(f"{seed}:patience")
    arrivals = random.Random(f"{seed}:arrivals")
    for arrival in _arrivals(schedule, arrivals, begin * INTERVAL_S, end * INTERVAL_S):
        talk = talks.expovariate(1.0 / m.aht_s)
        patience = math.inf if m.patience_s is None else patiences.expovariate(1 / m.patience_s)
        gives_up = arrival + patience
        agent = _soonest(ready, agents, arrival)
        row = tally.get(int(arrival // INTERVAL_S))
        if row is not None:
            row[0] += 1
        if agent is None:
            continue  # nobody left on the phone
        start, free, j, taken = agent
        if start > gives_up:  # gone before an agent was free: the agent stays as it was
            heapq.heappush(ready, (free, j, taken))
            continue
        answered = start + m.ring_delay_s
        if gives_up < answered:  # hung up while it rang
            heapq.heappush(ready, (gives_up, j, taken))
            continue
        if row is not None and answered - arrival <= m.target_s:
            row[1] += 1
        heapq.heappush(ready, (answered + talk + m.wrapup_s, j, taken))


def _soonest(
    ready: list[tuple[float, int, bool]], agents: list[_Agent], at: float
) -> tuple[float, float, int, bool] | None:
    """The agent free soonest from ``at`` (its break taken and the gone removed first),
    taken off the heap: (when it can take the call, free since, agent, break taken)."""
    while ready:
        free, j, taken = ready[0]
        due, stop, brk = agents[j]
        when = max(free, at)
        if not taken and when >= due:  # the break comes first: from when it is free
            heapq.heapreplace(ready, (max(due, free) + brk, j, True))
            continue
        heapq.heappop(ready)
        if when >= stop:
            continue  # the shift is over
        return when, free, j, taken
    return None
