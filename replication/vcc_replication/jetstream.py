"""Thin JetStream adapter: connect, declare streams, publish with dedup ids, pull with acks.

Publishing is idempotent through the ``Nats-Msg-Id`` header: a retry after a lost ack is
dropped by the server inside the stream's duplicate window and acknowledged with the
original sequence. Retries cover the window in which the server restarts (timeouts, no
responders, JetStream not ready yet); anything else surfaces at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from vcc_domain.errors import Unavailable
from vcc_proto.access import Credentials, inbox_prefix
from vcc_proto.broker_tls import nats_tls_options

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
STREAM_IN_USE = 10058  # JetStream: stream name already in use with a different config

RETRYABLE: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


def _quiet_errors(name: str, every_s: float = 30.0) -> Callable[[Exception], Awaitable[None]]:
    """An error callback logging NATS connection errors as one line, at most every ``every_s``."""
    last = [-every_s]

    async def on_error(exc: Exception) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            log.warning("NATS (%s): %s", name, exc or type(exc).__name__)

    return on_error


async def connect(
    url: str,
    name: str,
    *,
    connect_timeout_s: float = 10.0,
    credentials: Credentials | None = None,
    closed_cb: Callable[[], Awaitable[None]] | None = None,
) -> NatsClient:
    """Connect (as ``credentials``' user, if given) and keep reconnecting forever, every
    half second, across server restarts; ``tls://`` URLs over TLS trusting the province
    CA of the process's certificate (:mod:`vcc_proto.broker_tls`)."""
    tls = nats_tls_options(url)
    try:
        return await nats.connect(
            servers=url.split(","),
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            ping_interval=5,
            max_outstanding_pings=2,
            error_cb=_quiet_errors(name),
            inbox_prefix=inbox_prefix(credentials),
            closed_cb=closed_cb,
            user=credentials.user if credentials is not None else None,
            password=credentials.password if credentials is not None else None,
            **tls,
        )
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise Unavailable(f"NATS at {url} unreachable: {exc!r}") from exc


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: Sequence[str],
    *,
    replicas: int = 1,
    duplicate_window_s: float = 120.0,
    max_age_s: float | None = None,
    max_bytes: int | None = None,
    max_msg_size: int | None = None,
) -> None:
    """Create the stream, or bring an existing one to this configuration (``None``
    limits: none; the oldest messages go first when the age or size limit is reached)."""
    config = StreamConfig(
        name=name,
        subjects=list(subjects),
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=duplicate_window_s,
        max_age=max_age_s,
        max_bytes=max_bytes,
        max_msg_size=max_msg_size,
    )
    async for attempt in _retrying(30.0):
        with attempt:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != STREAM_IN_USE:
                    raise
                await js.update_stream(config)


async def publish(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    msg_id: str,
    *,
    timeout_s: float = 2.0,
    give_up_after_s: float = 60.0,
) -> int:
    """Publish once (deduplicated by ``msg_id``) and return the stream sequence."""
    try:
        async for attempt in _retrying(give_up_after_s):
            with attempt:
                ack = await js.publish(
                    subject, payload, timeout=timeout_s, headers={MSG_ID_HEADER: msg_id}
                )
                return int(ack.seq)
    except RETRYABLE as exc:
        raise Unavailable(f"JetStream did not acknowledge {subject} {msg_id}: {exc!r}") from exc
    raise AssertionError("unreachable")


class PullConsumer:
    """A durable pull consumer with explicit acks (one subscription, many fetches)."""

    def __init__(self, sub: JetStreamContext.PullSubscription) -> None:
        self._sub = sub

    @classmethod
    async def bind(
        cls, js: JetStreamContext, stream: str, durable: str, subject_filter: str
    ) -> PullConsumer:
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subject_filter,
        )
        async for attempt in _retrying(30.0):
            with attempt:
                sub = await js.pull_subscribe(
                    subject_filter, durable=durable, stream=stream, config=config
                )
        return cls(sub)

    async def fetch(self, batch: int, max_wait_s: float) -> list[Msg]:
        """Up to ``batch`` messages; an empty list when none arrive within ``max_wait_s``.

        Also empty while the server restarts: the caller's loop simply fetches again.
        """
        try:
            return await self._sub.fetch(batch, timeout=max_wait_s)
        except RETRYABLE:
            return []

    async def close(self) -> None:
        await self._sub.unsubscribe()


async def fetch(
    js: JetStreamContext,
    stream: str,
    durable: str,
    subject_filter: str,
    batch: int,
    max_wait_s: float,
) -> list[Msg]:
    """One fetch from a durable consumer (created on first use); ack each message."""
    consumer = await PullConsumer.bind(js, stream, durable, subject_filter)
    try:
        return await consumer.fetch(batch, max_wait_s)
    finally:
        await consumer.close()


def msg_id_of(msg: Msg) -> str | None:
    return (msg.headers or {}).get(MSG_ID_HEADER)


def _retrying(give_up_after_s: float) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_delay(give_up_after_s),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception_type(RETRYABLE),
        reraise=True,
    )
