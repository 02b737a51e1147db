"""Waiting calls: priority classes, call records and priority queues with lazy deletion.

Queue order (best first) is the tuple ``(priority, head_key, arrival, token)``:

* ``priority``: the class, TRANSFERRED < VIP < HIGH < MIDDLE < ORDINARY < BLACKLIST.
* ``head_key``: 0 for a call queued normally; ``-n`` for a call put back at the head of
  its class (ring-no-answer, an agent leaving while it rang), where ``n`` grows with
  every such requeue, so the most recently requeued call is first in its class.
* ``arrival``: wall-clock arrival given by the caller (kept across overflow/transfer).
* ``token``: a unique, increasing number; breaks the remaining ties in insertion order.

Each queued call has one entry in its skill's queue and one in the queue of all calls
(what a general agent serves). Removing a call only drops it from ``live``; its heap
entries go stale and are skipped when they reach the top (or swept by ``_compact``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Priority(IntEnum):
    """Priority classes, best first (a lower value is served earlier)."""

    TRANSFERRED = 0
    VIP = 1
    HIGH = 2
    MIDDLE = 3
    ORDINARY = 4
    BLACKLIST = 5


class CallState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"  # ringing at one agent
    CONNECTED = "connected"  # talking to one agent
    ENDED = "ended"  # terminal


class EndReason(StrEnum):
    COMPLETED = "completed"  # answered, then hung up by either side
    ABANDONED = "abandoned"  # caller hung up before being answered
    TRANSFERRED_OUT = "transferred_out"  # left this ACD for another site or seat
    OVERFLOWED = "overflowed"  # moved to a better site while waiting
    LOST = "lost"  # lost with the site or the switch
    QUEUE_TIMEOUT = "queue_timeout"  # waited past the queue time limit; the site ended it


Entry = tuple[int, int, float, int, str]  # (priority, head_key, arrival, token, call_id)


@dataclass(slots=True, eq=False)
class Call:
    """The ACD's mutable record of an active call (never handed out; see ``CallView``)."""

    call_id: str
    business: str
    skill: str | None  # None: need not recognised, only general agents serve it
    priority: Priority
    arrival: float
    vip: bool  # VIP / key customer: wants the best-qualified agent
    state: CallState = CallState.QUEUED
    agent_id: str | None = None
    token: int = 0  # token of the live queue entries; 0 when not queued
    head_rank: int = 0  # > 0 once requeued at the head of its class

    def key(self) -> tuple[int, int, float, int]:
        return (int(self.priority), -self.head_rank, self.arrival, self.token)

    def entry(self) -> Entry:
        return (int(self.priority), -self.head_rank, self.arrival, self.token, self.call_id)


@dataclass(frozen=True, slots=True)
class CallView:
    """A read-only snapshot of a call."""

    call_id: str
    business: str
    skill: str | None
    priority: Priority
    arrival: float
    vip: bool
    state: CallState
    agent_id: str | None
    end_reason: EndReason | None = None

    @staticmethod
    def of(call: Call, end_reason: EndReason | None = None) -> CallView:
        return CallView(
            call.call_id,
            call.business,
            call.skill,
            call.priority,
            call.arrival,
            call.vip,
            call.state,
            call.agent_id,
            end_reason,
        )


class CallQueue:
    """One priority queue of waiting calls (a skill's, or the queue of all calls)."""

    __slots__ = ("_heap", "class_counts", "live")

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self.live: dict[str, Call] = {}
        self.class_counts = [0] * len(Priority)

    def __len__(self) -> int:
        return len(self.live)

    def push(self, call: Call) -> None:
        """Add a call whose ``token`` has just been set."""
        self.live[call.call_id] = call
        self.class_counts[call.priority] += 1
        heapq.heappush(self._heap, call.entry())

    def discard(self, call: Call) -> None:
        if self.live.pop(call.call_id, None) is not None:
            self.class_counts[call.priority] -= 1
            if len(self._heap) > 2 * len(self.live) + 64:
                self._compact()

    def peek(self) -> Call | None:
        """The best waiting call, dropping stale entries on the way."""
        heap, live = self._heap, self.live
        while heap:
            top = heap[0]
            call = live.get(top[4])
            if call is not None and call.token == top[3]:
                return call
            heapq.heappop(heap)
        return None

    def ahead_of(self, call: Call) -> int:
        """How many live calls are served before ``call`` (O(calls in its class))."""
        better = sum(self.class_counts[: call.priority])
        key = call.key()
        same = sum(1 for c in self.live.values() if c.priority == call.priority and c.key() < key)
        return better + same

    def ahead_of_new(self, priority: Priority) -> int:
        """How many live calls a newly arriving call of ``priority`` would wait behind."""
        return sum(self.class_counts[: priority + 1])

    def oldest_arrival(self) -> float | None:
        return min((c.arrival for c in self.live.values()), default=None)

    def _compact(self) -> None:
        self._heap = [c.entry() for c in self.live.values()]
        heapq.heapify(self._heap)

    def check(self) -> None:
        """Raise AssertionError if the counters or entries disagree with ``live``."""
        counts = [0] * len(Priority)
        for call in self.live.values():
            assert call.state is CallState.QUEUED, f"{call.call_id} queued but {call.state}"
            counts[call.priority] += 1
        assert counts == self.class_counts, f"class counts {self.class_counts} != {counts}"
        entries = set(self._heap)
        for call in self.live.values():
            assert call.entry() in entries, f"{call.call_id} has no live queue entry"


def best_call(
    all_calls: CallQueue | None, queues: Mapping[str | None, CallQueue], skills: Iterable[str]
) -> Call | None:
    """The best waiting call: the top of ``all_calls`` (for a general agent) if given,
    else the best of the tops of the queues of ``skills``."""
    if all_calls is not None:
        return all_calls.peek()
    best: Call | None = None
    for skill in skills:
        queue = queues.get(skill)
        top = queue.peek() if queue is not None else None
        if top is not None and (best is None or top.key() < best.key()):
            best = top
    return best
