"""An etcd registration kept in the background, so a process serves without etcd.

Losing etcd takes a site out of the routing map (others will take its callers) but must
not stop it serving the callers it already has, so the lease is started and re-tried in
the background and never blocks readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vcc_failover.lease import LeaseKeeper

log = logging.getLogger(__name__)


class BackgroundLease:
    def __init__(
        self, endpoints: list[str], key: str, value: str, ttl_s: float, retry_every_s: float = 1.0
    ) -> None:
        self.keeper = LeaseKeeper(endpoints, key, value, ttl_s)
        self._retry_every_s = retry_every_s
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()

    @property
    def healthy(self) -> bool:
        return bool(self.keeper.healthy)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="etcd-lease")

    async def _run(self) -> None:
        while True:
            try:
                await self.keeper.start()
                break
            except Exception as exc:
                log.warning("etcd registration failed (%s); retrying", exc)
                await asyncio.sleep(self._retry_every_s)
        self.registered.set()
        log.info("registered in etcd")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.keeper.stop()
