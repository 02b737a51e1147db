"""Calls the access edge gave up on while their site may still have them.

When a site does not answer a caller's step within the edge's deadline, the edge books
the call lost (the caller is gone for it). The site may be alive and slow, though, and
still hold the call; a call center must end every call with one final record, so the
edge hangs such a call up at its site, at once and again at every sweep, until the site
answers (the call ends there with its final CDR, or had already ended) or is no longer
registered (a site that restarts ends its old calls itself, as ``site_lost``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

HangUp = Callable[[str, str], Awaitable[bool]]
"""Hang call ID up at site (following a move): True once done, False to retry later."""


class Orphans:
    def __init__(self, hang_up: HangUp) -> None:
        self._hang_up = hang_up
        self.calls: dict[str, str] = {}  # call ID -> the site that may still have it
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, call_id: str, site: str) -> None:
        """Hang ``call_id`` up at ``site`` now (in the background) and at every sweep."""
        self.calls[call_id] = site
        task = asyncio.create_task(self._end(call_id, site), name=f"orphan:{call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep(self, registered: set[str]) -> None:
        for call_id, site in list(self.calls.items()):
            if site not in registered:
                self.calls.pop(call_id, None)  # its restart ends the call (site_lost)
            else:
                await self._end(call_id, site)

    async def _end(self, call_id: str, site: str) -> None:
        try:
            done = await self._hang_up(call_id, site)
        except Exception:  # a sweep retries it
            log.warning("hanging up call %s at %s failed", call_id, site, exc_info=True)
            return
        if done:
            self.calls.pop(call_id, None)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
