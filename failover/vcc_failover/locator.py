"""Finding the hub leader through etcd.

The leader hub holds the key :data:`LEADER_KEY` (under its election lease) whose value is
JSON ``{"node": ..., "grpc": "host:port", "token": N}``. Sites and the CLI read it to
know where to send writes and lookups, and read it again after a NOT_LEADER answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from vcc_domain.errors import Unavailable
from vcc_failover.lease import get_prefix
from vcc_proto.names import LEADER_KEY as LEADER_KEY

# After etcd could not be reached, lookups for this long fail at once with the same
# error. Every caller (LeaderClient) retries with its own back-off, and each lookup opens
# an etcd client: with etcd unreachable, the background loops of a site asking again and
# again cost ~5 % of its CPU (py-spy under `vcc bench site`). "No leader elected" is not
# held: a new leader is worth seeing at once.
FAIL_HOLD_S = 1.0


class EtcdHubLocator:
    """Reads the leader record; concurrent lookups share one etcd read."""

    def __init__(
        self,
        endpoints: list[str],
        *,
        retry_for_s: float = 2.0,
        fail_hold_s: float = FAIL_HOLD_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoints = endpoints
        self._retry_for_s = retry_for_s
        self._fail_hold_s = fail_hold_s
        self._monotonic = monotonic
        self._inflight: asyncio.Future[str] | None = None
        self._failed: tuple[float, Unavailable] | None = None  # (until, error)

    async def leader_endpoint(self) -> str:
        if not self._endpoints:
            raise Unavailable("no etcd endpoints configured to find the hub leader")
        if self._failed is not None:
            until, error = self._failed
            if self._monotonic() < until:
                raise Unavailable(str(error.message))
            self._failed = None
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._read())
            self._inflight.add_done_callback(_retrieve)  # no "never retrieved" warning
        return await asyncio.shield(self._inflight)

    async def _read(self) -> str:
        try:
            found = await get_prefix(self._endpoints, LEADER_KEY, retry_for_s=self._retry_for_s)
        except Unavailable as exc:
            self._failed = (self._monotonic() + self._fail_hold_s, exc)
            raise
        raw = found.get(LEADER_KEY)
        if not raw:
            raise Unavailable("no hub leader is elected right now")
        try:
            endpoint = str(json.loads(raw)["grpc"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"malformed hub leader record in etcd: {raw[:80]!r}") from exc
        return endpoint


def _retrieve(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()
