"""A NATS connection kept in the background, so a process starts and serves without it.

A site must keep serving its callers when the broker is down (ARCHITECTURE §3.9), so no
process waits for NATS before it is healthy. ``BackgroundNats`` connects with retries,
runs ``on_connected`` once per connection (e.g. to declare streams), and exposes
``connected`` for health and metrics (``vcc_nats_connected``).

A watchdog keeps the connection: nats-py reconnects by itself across a server restart,
but a connection it closes for good (a protocol error, a closed socket it does not
retry) stays closed. When that happens ``ready`` is cleared, the gauge drops to 0, and a
new client is connected (``on_connected`` runs again, ``generation`` counts up), so
whoever holds a subscription drops it and subscribes again on the new client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client import Gauge

from vcc_proto.access import Credentials
from vcc_replication.jetstream import connect

log = logging.getLogger(__name__)

OnConnected = Callable[[JetStreamContext], Awaitable[None]]


CONNECTED = Gauge("vcc_nats_connected", "1 while the NATS connection is up", ["name"])
CLOSED_CHECK_S = 5.0  # the watchdog's look at the client, besides nats-py's closed callback


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
        self._closed = asyncio.Event()  # set by nats-py when the current client closed
        self.client: NatsClient | None = None
        self.ready = asyncio.Event()
        self.generation = 0  # connections made so far (a new one: subscribe again)
        self.lost = asyncio.Event()  # set (and replaced) when the current client closed

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
        while True:
            await self._connect()
            await self._until_closed()
            client, self.client = self.client, None
            self.ready.clear()
            lost, self.lost = self.lost, asyncio.Event()
            lost.set()
            CONNECTED.labels(self._name).set(0)
            log.error("NATS connection closed for good (%s); connecting again", self._name)
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    async def _connect(self) -> None:
        self._closed.clear()
        while self.client is None:
            try:
                self.client = await connect(
                    self._url,
                    self._name,
                    credentials=self._credentials,
                    closed_cb=self._on_closed,
                )
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(self._retry_every_s)
        while self._on_connected is not None and not self.client.is_closed:
            try:
                await self._on_connected(self.client.jetstream())
                break
            except Exception as exc:
                log.warning("NATS setup failed (%s); retrying", exc)
                await asyncio.sleep(self._retry_every_s)
        self.generation += 1
        self.ready.set()
        CONNECTED.labels(self._name).set(1)
        log.info("NATS connected")

    async def _on_closed(self) -> None:
        self._closed.set()

    async def _until_closed(self) -> None:
        """Until the client is closed (nats-py gave up on it); reconnecting is not closed."""
        while self.client is not None and not self.client.is_closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), CLOSED_CHECK_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.drain()
            self.client = None
        CONNECTED.labels(self._name).set(0)
