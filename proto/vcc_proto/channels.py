"""gRPC channels of a process: one per endpoint in a :class:`ChannelPool`, or one at a time
with :func:`open_channel`, over mutual TLS when the process has a client certificate.

A process has one identity, so its client credentials are set once where it starts
(:func:`use_client_tls`: the hub, site and edge from their ``--tls-dir``, the launcher and
the operator commands from the province's operator certificate) and every channel it opens
afterwards presents them; without them channels are plaintext. Each new channel is built
from the certificate files as they are then (a rotated certificate is used by the channels
opened after it)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from vcc_proto.tls import ClientTls

_process_tls: list[ClientTls | None] = [None]


def use_client_tls(tls: ClientTls | None) -> ClientTls | None:
    """Make ``tls`` the credentials of every channel opened from now on (None: plaintext);
    returns the previous ones so a caller can put them back."""
    previous = _process_tls[0]
    _process_tls[0] = tls
    return previous


def client_tls() -> ClientTls | None:
    """The process's client credentials (None: plaintext)."""
    return _process_tls[0]


_trunk_tls: list[ClientTls | None] = [None]


def use_trunk_tls(tls: ClientTls | None) -> ClientTls | None:
    """The credentials a process standing in for the telephony side (the demo's callers,
    a load generator) presents when it hands calls to the edge (``Edge.PlaceCall``, which
    asserts the caller's number: only a ``trunk`` identity may); the previous ones."""
    previous = _trunk_tls[0]
    _trunk_tls[0] = tls
    return previous


def trunk_tls() -> ClientTls | None:
    """The process's trunk credentials (None: its own, :func:`client_tls`)."""
    return _trunk_tls[0]


def open_channel(
    target: str, options: list[tuple[str, Any]] | None = None, tls: ClientTls | None = None
) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel to ``target``: mutual TLS with ``tls`` or the process's
    credentials, else plaintext."""
    tls = tls or client_tls()
    if tls is None:
        return grpc.aio.insecure_channel(target, options)
    return tls.channel(target, options)


def open_sync_channel(target: str) -> grpc.Channel:
    """A blocking channel to ``target`` with the process's credentials (else plaintext)."""
    tls = client_tls()
    if tls is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, tls.credentials(), tls.options())


# A pooled channel retries a lost peer after at most this long (gRPC's default grows to
# 120 s: a site back from a restart would be skipped for minutes).
POOL_OPTIONS: list[tuple[str, Any]] = [("grpc.max_reconnect_backoff_ms", 1000)]


class ChannelPool:
    """One channel per endpoint (``tls``: these credentials, else the process's).

    A channel found in TRANSIENT_FAILURE is replaced by a fresh one, which connects at
    once: without that, a peer that came back (a restarted site the routing map already
    names) would be refused until the old channel's reconnect back-off ran out. Under
    mutual TLS nothing else would reconnect it early: channels with their own credentials
    share no connection."""

    def __init__(self, tls: ClientTls | None = None) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tls = tls
        self._retired: set[asyncio.Task[None]] = set()

    def get(self, endpoint: str) -> grpc.aio.Channel:
        channel = self._channels.get(endpoint)
        if channel is not None and (
            channel.get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE
        ):
            self._retire(channel)
            channel = None
        if channel is None:
            channel = self._channels[endpoint] = open_channel(endpoint, POOL_OPTIONS, tls=self._tls)
        return channel

    def _retire(self, channel: grpc.aio.Channel) -> None:
        # closed in the background, with a grace period for calls still on it
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in a loop: nothing runs on it, let it be collected
            return
        task = loop.create_task(channel.close(grace=5.0))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
        if self._retired:
            await asyncio.gather(*self._retired, return_exceptions=True)
