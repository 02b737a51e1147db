"""Calling the hub leader, wherever it is, through a leader change.

Sites and the CLI call the hub with :func:`call_leader` (or a long-lived
:class:`LeaderClient`). It finds the leader with a :class:`HubLocator`, runs
``fn(channel)`` on a ``grpc.aio`` channel to it, and when the answer says the leader has
moved — FAILED_PRECONDITION with ``vcc-leader`` metadata (NOT_LEADER), ABORTED
(FENCED: a deposed leader refused its own write) or UNAVAILABLE (the hub died or is
starting) — follows the named leader or asks the locator again, retrying with tenacity's
exponential backoff with jitter, bounded by ``attempts`` and ``deadline_s``.

gRPC errors are wrapped once, here, into :class:`~vcc_domain.errors.VccError`
(:func:`vcc_proto.status.from_rpc_error`); other errors pass through unchanged.

``fn`` may run more than once, also after a try whose outcome is unknown (UNAVAILABLE
when the leader died mid-call): a write must be idempotent, e.g. carry a request ID the
hub deduplicates.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import grpc.aio
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from vcc_domain.errors import Fenced, NotLeader, Unavailable, VccError
from vcc_failover.leadership import HubLocator
from vcc_proto.channels import ChannelPool
from vcc_proto.status import from_rpc_error

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE: tuple[type[VccError], ...] = (NotLeader, Unavailable, Fenced)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE)


class LeaderClient:
    """Keeps channels to hub endpoints and remembers where the leader was last seen."""

    def __init__(
        self,
        locator: HubLocator,
        *,
        attempts: int = 8,
        deadline_s: float = 15.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 1.0,
    ) -> None:
        self.locator = locator
        self.attempts = attempts
        self.deadline_s = deadline_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.endpoint: str | None = None  # the leader as last seen or named
        self.retries = 0
        self._channels = ChannelPool()

    def channel(self, endpoint: str) -> grpc.aio.Channel:
        return self._channels.get(endpoint)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._channels.close()

    async def call(
        self,
        fn: Callable[[grpc.aio.Channel], Awaitable[T]],
        *,
        attempts: int | None = None,
        deadline_s: float | None = None,
    ) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts or self.attempts)
            | stop_after_delay(deadline_s if deadline_s is not None else self.deadline_s),
            wait=wait_random_exponential(multiplier=self.backoff_initial_s, max=self.backoff_max_s),
            retry=retry_if_exception(_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(fn)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _once(self, fn: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
        endpoint = self.endpoint or await self.locator.leader_endpoint()
        self.endpoint = endpoint
        try:
            return await fn(self.channel(endpoint))
        except grpc.RpcError as error:
            err = from_rpc_error(error)
            if isinstance(err, NotLeader):
                named = str(err.details.get("leader") or "")
                # Follow the named leader once; if it names itself wrongly, ask etcd.
                self.endpoint = named if named and named != endpoint else None
            elif isinstance(err, Unavailable | Fenced):
                self.endpoint = None
            raise err from error

    def _before_sleep(self, state: object) -> None:
        self.retries += 1
        outcome = getattr(state, "outcome", None)
        exc = outcome.exception() if outcome is not None else None
        log.info("hub call: %s; retrying (leader hint %s)", exc, self.endpoint or "none")


async def call_leader(
    locator: HubLocator,
    fn: Callable[[grpc.aio.Channel], Awaitable[T]],
    *,
    attempts: int = 8,
    deadline_s: float = 15.0,
) -> T:
    """Run ``fn`` against the hub leader, following leader changes (see the module doc)."""
    client = LeaderClient(locator, attempts=attempts, deadline_s=deadline_s)
    try:
        return await client.call(fn)
    finally:
        await client.close()
