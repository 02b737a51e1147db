"""Hold a key in etcd under a lease that expires when its holder dies.

``LeaseKeeper`` grants a lease, puts the key with it and refreshes the lease every third
of the TTL. When the lease is gone (etcd lost it, or this process was paused longer than
the TTL) it grants a new one and puts the key again. A holder killed with SIGKILL stops
refreshing, so etcd deletes the key within the TTL: that is how the other side learns of
a death. Client errors are wrapped once, here, as :class:`vcc_domain.errors.Unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence

import grpc
from etcd3aio import Etcd3Client, EtcdError, prefix_range_end
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from vcc_domain.errors import Unavailable
from vcc_failover.aio import cancel_and_wait
from vcc_failover.etcd_auth import process_credentials, sign_in_as
from vcc_proto.access import Credentials
from vcc_proto.broker_tls import etcd_hostports, etcd_tls_options

log = logging.getLogger(__name__)

ETCD_ERRORS: tuple[type[BaseException], ...] = (EtcdError, grpc.RpcError, TimeoutError, OSError)


# gRPC backs off up to 2 minutes between reconnects; a lease of a few seconds needs the
# connection back within a fraction of its TTL once etcd returns.
FAST_RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
# gRPC also takes the minimum back-off as the time a connection attempt may take. Over TLS
# the attempt includes the handshake, which on a busy machine (or through the drills'
# proxies) can exceed 200 ms: every attempt would then be cut short and retried at once.
TLS_CONNECT = (("grpc.min_reconnect_backoff_ms", 3000),)


def new_client(
    endpoints: Sequence[str],
    *,
    rpc_max_attempts: int = 3,
    credentials: Credentials | None = None,
) -> Etcd3Client:
    """An etcd client that reconnects within a second of etcd coming back, signed in as
    ``credentials`` (default: the process's etcd user, if it has one); ``https://``
    endpoints over TLS trusting the province CA (:mod:`vcc_proto.broker_tls`)."""
    hostports, secure = etcd_hostports(endpoints)
    options = etcd_tls_options(hostports) if secure else {}
    client = Etcd3Client(hostports, rpc_max_attempts=rpc_max_attempts, **options)
    # etcd3aio exposes no channel options; its connection manager keeps them in a list.
    reconnect = dict(FAST_RECONNECT) | (dict(TLS_CONNECT) if secure else {})
    client._manager.grpc_options.extend(reconnect.items())
    user = credentials or process_credentials()
    if user is not None:
        sign_in_as(client, user)
    return client


def lease_ttl_seconds(ttl_s: float) -> int:
    """etcd lease TTLs are whole seconds, at least 1: round up."""
    return max(1, math.ceil(ttl_s))


class LeaseKeeper:
    """Keep ``key = value`` alive in etcd under a lease of ``ttl_s`` seconds."""

    def __init__(
        self,
        endpoints: Sequence[str],
        key: str,
        value: str,
        ttl_s: float = 2.0,
        *,
        on_loss: Callable[[], None] | None = None,
        start_timeout_s: float = 15.0,
    ) -> None:
        self.endpoints = list(endpoints)
        self.key = key
        self.value = value
        self.ttl = lease_ttl_seconds(ttl_s)
        self.on_loss = on_loss
        self.start_timeout_s = start_timeout_s
        self.lease_id: int | None = None
        self.registrations = 0
        self.lost = asyncio.Event()
        self._client: Etcd3Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_refresh = 0.0
        self._healthy = False

    @property
    def healthy(self) -> bool:
        """True while the key is known to be held (refreshed within the TTL)."""
        return self._healthy and time.monotonic() - self._last_refresh < self.ttl

    async def start(self) -> None:
        """Register (with bounded retries) and start refreshing in the background."""
        self._client = new_client(self.endpoints, rpc_max_attempts=1)
        await self._client.connect()
        try:
            async for attempt in _retrying(self.start_timeout_s):
                with attempt:
                    await self._register()
        except ETCD_ERRORS as exc:
            await self._close_client()
            raise Unavailable(
                f"etcd at {','.join(self.endpoints)} did not accept lease for {self.key}: {exc}"
            ) from exc
        self._task = asyncio.create_task(self._refresh_loop(), name=f"lease:{self.key}")

    async def stop(self) -> None:
        """Stop refreshing and revoke the lease, which deletes the key at once."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._client is not None and self._client.lease is not None and self.lease_id:
            with contextlib.suppress(*ETCD_ERRORS):
                await self._client.lease.revoke(self.lease_id, timeout=self.ttl)
        self._healthy = False
        await self._close_client()

    async def _close_client(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _register(self) -> None:
        assert self._client is not None and self._client.lease is not None
        assert self._client.kv is not None
        timeout = float(max(2, self.ttl))
        grant = await self._client.lease.grant(self.ttl, timeout=timeout)
        await self._client.kv.put(self.key, self.value, lease=grant.ID, timeout=timeout)
        self.lease_id = int(grant.ID)
        self.registrations += 1
        self._mark_refreshed()
        log.info("registered %s under lease %x (ttl %d s)", self.key, grant.ID, self.ttl)

    def _mark_refreshed(self) -> None:
        self._last_refresh = time.monotonic()
        self._healthy = True
        self.lost.clear()

    async def _keepalive_once(self) -> bool:
        """Refresh the lease once; False if etcd says the lease no longer exists."""
        assert self._client is not None and self._client.lease is not None
        assert self.lease_id is not None
        call = self._client.lease.keep_alive(self.lease_id)
        try:
            async with asyncio.timeout(max(1.0, self.ttl / 2)):
                response = await call.read()
        finally:
            call.cancel()
        if response is grpc.aio.EOF:
            raise EtcdError("keep-alive stream closed without a response")
        return int(response.TTL) > 0

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if await self._keepalive_once():
                    self._mark_refreshed()
                    continue
                self._signal_loss("lease expired")
                await self._register()
            except ETCD_ERRORS as exc:
                level = logging.DEBUG if self.lost.is_set() else logging.WARNING
                log.log(level, "lease refresh for %s failed: %s", self.key, _describe(exc))
                if not self.healthy:
                    self._signal_loss(f"no refresh within {self.ttl} s")

    def _signal_loss(self, reason: str) -> None:
        if self.lost.is_set():
            return
        log.warning("lease for %s lost: %s", self.key, reason)
        self._healthy = False
        self.lost.set()
        if self.on_loss is not None:
            self.on_loss()


async def get_prefix(
    endpoints: Sequence[str], prefix: str, *, retry_for_s: float = 10.0
) -> dict[str, str]:
    """Every key under ``prefix`` with its value, decoded as UTF-8.

    Retries for up to ``retry_for_s``: right after an etcd restart, gRPC may still hold
    the shared connection in its reconnect back-off and fail a fresh call at once.
    """
    try:
        async for attempt in _retrying(retry_for_s):
            with attempt:
                async with new_client(endpoints) as client:
                    assert client.kv is not None
                    end = prefix_range_end(prefix)
                    response = await client.kv.get(prefix, range_end=end, timeout=5)
    except ETCD_ERRORS as exc:
        raise Unavailable(f"etcd at {','.join(endpoints)} unreachable: {exc}") from exc
    return {kv.key.decode(): kv.value.decode() for kv in response.kvs}


async def wait_for_key_gone(
    endpoints: Sequence[str], key: str, *, within_s: float = 30.0, interval_s: float = 0.2
) -> None:
    """Poll until ``key`` is absent; TimeoutError if it is still there after ``within_s``."""
    async with asyncio.timeout(within_s):
        while key in await get_prefix(endpoints, key):  # noqa: ASYNC110 - polls etcd
            await asyncio.sleep(interval_s)


def _retrying(give_up_after_s: float) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_delay(give_up_after_s),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception_type(ETCD_ERRORS),
        reraise=True,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
