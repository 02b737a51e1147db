"""Per-session queues of desk events (offers, call and agent state changes, notices).

Each logged-in session has one bounded queue, created at login, so events that happen
before the desk opens its stream are not lost; the gRPC ``Events`` stream drains it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

MAX_PENDING = 1000


@dataclass(frozen=True, slots=True)
class DeskEvent:
    seq: int
    at_ms: int
    kind: str  # offer | call_state | agent_state | notice | closed
    data: dict[str, Any] = field(default_factory=dict)


class DeskEvents:
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[DeskEvent]] = {}
        self._seq = itertools.count(1)

    def open(self, session_id: str) -> None:
        self._queues[session_id] = asyncio.Queue(MAX_PENDING)

    def close(self, session_id: str, at_ms: int) -> None:
        queue = self._queues.pop(session_id, None)
        if queue is not None:
            self._put(queue, DeskEvent(next(self._seq), at_ms, "closed"))

    def publish(self, session_id: str, kind: str, at_ms: int, **data: Any) -> None:
        queue = self._queues.get(session_id)
        if queue is not None:
            self._put(queue, DeskEvent(next(self._seq), at_ms, kind, data))

    def _put(self, queue: asyncio.Queue[DeskEvent], event: DeskEvent) -> None:
        if queue.full():  # a desk that never reads: drop the oldest, keep the newest
            queue.get_nowait()
        queue.put_nowait(event)

    async def stream(self, session_id: str) -> AsyncIterator[DeskEvent]:
        queue = self._queues.get(session_id)
        if queue is None:
            return
        while True:
            event = await queue.get()
            yield event
            if event.kind == "closed":
                return
