"""One gRPC channel per endpoint, reused across calls and closed together.

With a :class:`vcc_proto.tls.ClientTls` the channels use mutual TLS; each new channel is
built from the node's certificate files as they are then (a rotated certificate is used by
the channels opened after it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from vcc_proto.tls import ClientTls


class ChannelPool:
    def __init__(self, tls: ClientTls | None = None) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tls = tls

    def get(self, endpoint: str) -> grpc.aio.Channel:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = (
                grpc.aio.insecure_channel(endpoint)
                if self._tls is None
                else self._tls.channel(endpoint)
            )
        return channel

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
