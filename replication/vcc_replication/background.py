"""A NATS connection kept in the background, so a process starts and serves without it.

A site must keep serving its callers when the broker is down (ARCHITECTURE §3.9), so no
process waits for NATS before it is healthy. ``BackgroundNats`` connects with retries,
runs ``on_connected`` once per connection (e.g. to declare streams), and exposes
``connected`` for health and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from vcc_proto.access import Credentials
from vcc_replication.jetstream import connect

log = logging.getLogger(__name__)

OnConnected = Callable[[JetStreamContext], Awaitable[None]]


class BackgroundNats:
    def __init__(
        self,
        urls: list[str],
        *,
        name: str,
        on_connected: OnConnected | None = None,
        retry_every_s: float = 1.0,
        credentials: Credentials | None = None,
    ) -> None:
        self._credentials = credentials
        self._url = ",".join(urls)
        self._name = name
        self._on_connected = on_connected
        self._retry_every_s = retry_every_s
        self._task: asyncio.Task[None] | None = None
        self.client: NatsClient | None = None
        self.ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self.client is None:
            raise RuntimeError("NATS is not connected yet")
        return self.client.jetstream()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"nats-{self._name}")

    async def _run(self) -> None:
        while self.client is None:
            try:
                self.client = await connect(self._url, self._name, credentials=self._credentials)
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(self._retry_every_s)
        while self._on_connected is not None:
            try:
                await self._on_connected(self.client.jetstream())
                break
            except Exception as exc:
                log.warning("NATS setup failed (%s); retrying", exc)
                await asyncio.sleep(self._retry_every_s)
        self.ready.set()
        log.info("NATS connected")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.drain()
            self.client = None
