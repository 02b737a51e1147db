"""A pooled channel whose peer went away is replaced, so a peer that is back is reached at once."""

from __future__ import annotations

import asyncio

import grpc

from vcc_proto.channels import ChannelPool
from vcc_proto.ports import free_port


async def _until_state(channel: grpc.aio.Channel, wanted: grpc.ChannelConnectivity) -> None:
    async with asyncio.timeout(60):
        state = channel.get_state(try_to_connect=True)
        while state is not wanted:
            await channel.wait_for_state_change(state)
            state = channel.get_state(try_to_connect=True)


async def test_a_channel_in_transient_failure_is_replaced_and_a_healthy_one_kept() -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nothing listens there
    pool = ChannelPool()
    try:
        first = pool.get(endpoint)
        await _until_state(first, grpc.ChannelConnectivity.TRANSIENT_FAILURE)
        second = pool.get(endpoint)
        assert second is not first
        assert pool.get(endpoint) is second  # not yet failed: kept

        server = grpc.aio.server()
        server.add_insecure_port(endpoint)
        await server.start()
        try:
            await _until_state(second, grpc.ChannelConnectivity.READY)
            assert pool.get(endpoint) is second
        finally:
            await server.stop(None)
    finally:
        await pool.close()
