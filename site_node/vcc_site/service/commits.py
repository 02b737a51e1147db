"""Handing units of work to the store in order, and best-effort background work.

:class:`~vcc_site.service.core.SiteCore` is one: its use cases change memory without
awaiting and :meth:`Commits.submit` their unit of work in the same step. If the store
ever fails to commit, memory and disk have diverged: ``on_fatal`` stops the site.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from vcc_site.store.api import SiteStore, UnitOfWork

log = logging.getLogger(__name__)


class Commits:
    def __init__(
        self, store: SiteStore, on_fatal: Callable[[BaseException], None] = lambda _exc: None
    ) -> None:
        self.store = store
        self._on_fatal = on_fatal
        self._pending: set[asyncio.Future[list[int]]] = set()
        self._background: set[asyncio.Task[None]] = set()

    def submit(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """Hand a unit of work to the store now; await the result for durability.

        Units are handed over in the order ``submit`` is called (the store queues each
        at once, ``SiteStore.enqueue``).
        """
        fut = self.store.enqueue(uow)
        self._pending.add(fut)
        fut.add_done_callback(self._committed)
        return fut

    def _committed(self, fut: asyncio.Future[list[int]]) -> None:
        self._pending.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:  # every unit was built after memory changed: they now disagree
            log.critical("commit failed; memory and database diverged: %r", exc)
            self._on_fatal(exc)

    async def drain(self) -> None:
        """Wait for every submitted unit of work (used at shutdown and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def background(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run a best-effort task (a report to another site); failures are logged."""

        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:  # best effort, logged
                log.warning("%s failed: %r", what, exc)

        task = asyncio.ensure_future(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
