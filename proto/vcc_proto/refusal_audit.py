"""Audit rows for calls the authorization table refused, bounded against floods.

A refused call is an attempt on something: who tried what, and why it was refused, goes
to the node's audit table (a site's ``audit``, the hub's people audit). An attacker must
not be able to fill that table, so refusals are aggregated per (actor, method) and per
minute: the first refusal of a pair in a minute is written at once (with its reason);
the others of that minute are only counted and written as one summary row (``count``
refusals) when the minute is over (at the next refusal, or when the node calls
:meth:`RefusalAudit.flush` from its periodic work). At most ``max_keys`` pairs are kept
per minute; beyond them refusals are counted under the actor ``*`` and method ``*``.
So a minute writes at most ``2 * max_keys + 1`` rows whatever the number of requests.

The actor is the identity the caller presented (``site/QJ``, ``person:KM-0131 via
ops/desk``) or ``anonymous``. :class:`RefusalAudit` itself does no I/O: its ``sink``
(given by the node) writes the rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

WINDOW_MS = 60_000
MAX_KEYS = 256
ANY = "*"
MAX_FIELD = 200


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """One audit row: ``count`` refusals of ``method`` for ``actor`` (the first of a
    minute has count 1 and its reason; a summary the number of the others)."""

    at_ms: int
    actor: str
    method: str
    code: str
    reason: str
    count: int = 1

    @property
    def detail(self) -> str:
        if self.count == 1:
            return f"{self.code}: {self.reason}"[:MAX_FIELD]
        return f"{self.code}: {self.count} more refused in the minute"[:MAX_FIELD]


Sink = Callable[[list[RefusalRow]], Awaitable[None]]


def _wall_ms() -> int:
    return int(time.time() * 1000)


class RefusalAudit:
    """Aggregates refusals per (actor, method) per minute; ``sink`` writes the rows."""

    def __init__(
        self,
        sink: Sink | None = None,
        now_ms: Callable[[], int] = _wall_ms,
        *,
        window_ms: int = WINDOW_MS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.sink = sink
        self.now_ms = now_ms
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._window = -1
        self._extra: dict[tuple[str, str], tuple[str, int]] = {}  # key -> (code, count)

    def note(self, actor: str, method: str, code: str, reason: str) -> list[RefusalRow]:
        """The rows to write now for one refusal (pure: no I/O)."""
        now = self.now_ms()
        rows = self._roll(now)
        key = (actor[:MAX_FIELD] or "anonymous", method[:MAX_FIELD])
        seen = self._extra.get(key)
        if seen is not None:
            self._extra[key] = (code, seen[1] + 1)
            return rows
        if len(self._extra) >= self.max_keys:
            _code, count = self._extra.get((ANY, ANY), (code, 0))
            self._extra[(ANY, ANY)] = (code, count + 1)
            return rows
        self._extra[key] = (code, 0)
        rows.append(RefusalRow(now, key[0], key[1], code, reason[:MAX_FIELD]))
        return rows

    def due(self) -> list[RefusalRow]:
        """The summaries of a minute that is over (pure)."""
        return self._roll(self.now_ms())

    def _roll(self, now: int) -> list[RefusalRow]:
        window = now // self.window_ms
        if window == self._window:
            return []
        ended = self._window * self.window_ms + self.window_ms - 1
        rows = [
            RefusalRow(ended, actor, method, code, "", count)
            for (actor, method), (code, count) in self._extra.items()
            if count > 0
        ]
        self._window, self._extra = window, {}
        return rows

    async def record(self, actor: str, method: str, code: str, reason: str) -> None:
        """Note one refusal and write what is due."""
        await self._write(self.note(actor, method, code, reason))

    async def flush(self) -> None:
        """Write the summaries of a minute that is over (the node calls it periodically)."""
        await self._write(self.due())

    async def _write(self, rows: list[RefusalRow]) -> None:
        if not rows:
            return
        if self.sink is None:
            for row in rows:
                log.warning(
                    "refused: %s calling %s: %s (x%d)", row.actor, row.method, row.detail, row.count
                )
            return
        try:
            await self.sink(rows)
        except Exception as exc:  # an audit failure must not turn a refusal into INTERNAL
            log.error("refused calls not audited (%d rows): %s", len(rows), exc)
