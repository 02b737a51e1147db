"""Queue figures and the expected-wait estimate (method: see ``acd.py``'s docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vcc_site.domain.agents import STAFFED, AgentState, StaffCounts
from vcc_site.domain.queue import CallQueue, Priority


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Figures of one skill's queue; agents are those who can serve it (its specialists
    and every general agent, each counted once)."""

    skill: str | None
    waiting: int
    waiting_by_class: tuple[int, ...]  # indexed by Priority
    longest_wait_s: float
    agents_ready: int
    agents_ringing: int
    agents_busy: int
    agents_wrap_up: int
    agents_not_ready: int
    aht_s: float
    ewt_s: float  # for a newly arriving ORDINARY caller


@dataclass(frozen=True, slots=True)
class BusinessFigures:
    business: str
    waiting: int
    longest_wait_s: float


def expected_wait(staff: StaffCounts, skill: str | None, aht: float, ahead: int) -> float:
    """0 if an agent who can serve ``skill`` is READY, else (ahead + 1) * aht / max(1, n)
    with n the agents who can serve it and are READY, RINGING, BUSY or in WRAP_UP."""
    serving = staff.serving(skill)
    if serving[AgentState.READY] > 0:
        return 0.0
    staffed = sum(serving[s] for s in STAFFED)
    return (ahead + 1) * aht / max(1, staffed)


def queue_figures(
    skill: str | None, queue: CallQueue, staff: StaffCounts, aht: float, now: float
) -> QueueFigures:
    oldest = queue.oldest_arrival()
    serving = staff.serving(skill)
    return QueueFigures(
        skill=skill,
        waiting=len(queue),
        waiting_by_class=tuple(queue.class_counts),
        longest_wait_s=0.0 if oldest is None else max(0.0, now - oldest),
        agents_ready=serving[AgentState.READY],
        agents_ringing=serving[AgentState.RINGING],
        agents_busy=serving[AgentState.BUSY],
        agents_wrap_up=serving[AgentState.WRAP_UP],
        agents_not_ready=serving[AgentState.NOT_READY],
        aht_s=aht,
        ewt_s=expected_wait(staff, skill, aht, queue.ahead_of_new(Priority.ORDINARY)),
    )


def business_figures(all_calls: CallQueue, now: float) -> dict[str, BusinessFigures]:
    """Waiting calls and longest wait per business (scans the waiting calls)."""
    count: dict[str, int] = {}
    oldest: dict[str, float] = {}
    for call in all_calls.live.values():
        count[call.business] = count.get(call.business, 0) + 1
        oldest[call.business] = min(oldest.get(call.business, math.inf), call.arrival)
    return {b: BusinessFigures(b, n, max(0.0, now - oldest[b])) for b, n in count.items()}
