"""The gRPC server metrics interceptor on a real ``grpc.aio`` server (loopback).

A tiny generic service answers OK, aborts the way our servicers do (``context.abort``),
raises, and streams; the counters and the latency histogram must show each call with its
method and status code, and the instrumented handler must be built once per method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from vcc_proto.rpc_metrics import RpcMetrics
from vcc_proto.server import GrpcHost, ServedService

SERVICE = "vcc_test.Probe"


def _same(x: bytes) -> bytes:
    return x


async def ok(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


async def refused(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no")
    raise AssertionError("unreachable")


async def broken(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    raise RuntimeError("bug")


async def three(
    request: bytes, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    for i in range(3):
        yield bytes([i])


def _handlers() -> grpc.GenericRpcHandler:
    unary = {
        name: grpc.unary_unary_rpc_method_handler(fn, _same, _same)
        for name, fn in (("Ok", ok), ("Refused", refused), ("Broken", broken))
    }
    stream = {"Three": grpc.unary_stream_rpc_method_handler(three, _same, _same)}
    return grpc.method_handlers_generic_handler(SERVICE, {**unary, **stream})


def _handled(method: str, code: str, grpc_type: str = "unary") -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": grpc_type, "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


def _timed(method: str, grpc_type: str = "unary") -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_handling_seconds_count",
        {"grpc_type": grpc_type, "grpc_service": SERVICE, "grpc_method": method},
    )
    return value or 0.0


@pytest.fixture
async def probe() -> AsyncIterator[tuple[grpc.aio.Channel, RpcMetrics]]:
    interceptor = RpcMetrics()
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, interceptor
    await server.stop(None)


async def _call(channel: grpc.aio.Channel, method: str) -> grpc.StatusCode:
    call = channel.unary_unary(f"/{SERVICE}/{method}", _same, _same)
    try:
        await call(b"x", timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_counts_each_call_by_method_and_status(
    probe: tuple[grpc.aio.Channel, RpcMetrics],
) -> None:
    channel, _ = probe
    before = {
        (m, c): _handled(m, c)
        for m, c in (("Ok", "OK"), ("Refused", "FAILED_PRECONDITION"), ("Broken", "UNKNOWN"))
    }
    timed_before = _timed("Ok")
    assert await _call(channel, "Ok") == grpc.StatusCode.OK
    assert await _call(channel, "Ok") == grpc.StatusCode.OK
    assert await _call(channel, "Refused") == grpc.StatusCode.FAILED_PRECONDITION
    assert await _call(channel, "Broken") == grpc.StatusCode.UNKNOWN
    assert _handled("Ok", "OK") - before[("Ok", "OK")] == 2
    assert (
        _handled("Refused", "FAILED_PRECONDITION") - before[("Refused", "FAILED_PRECONDITION")] == 1
    )
    assert _handled("Broken", "UNKNOWN") - before[("Broken", "UNKNOWN")] == 1
    assert _timed("Ok") - timed_before == 2
    assert _handled("Refused", "OK") == 0


async def test_streams_count_messages_and_completion(
    probe: tuple[grpc.aio.Channel, RpcMetrics],
) -> None:
    channel, _ = probe
    sent = (
        REGISTRY.get_sample_value(
            "grpc_server_msg_sent_total",
            {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "Three"},
        )
        or 0.0
    )
    done = _handled("Three", "OK", "server_stream")
    got = [
        m async for m in channel.unary_stream(f"/{SERVICE}/Three", _same, _same)(b"", timeout=10)
    ]
    assert got == [b"\x00", b"\x01", b"\x02"]
    after = REGISTRY.get_sample_value(
        "grpc_server_msg_sent_total",
        {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "Three"},
    )
    assert after == sent + 3
    assert _handled("Three", "OK", "server_stream") == done + 1


async def test_handler_is_instrumented_once_per_method(
    probe: tuple[grpc.aio.Channel, RpcMetrics],
) -> None:
    channel, interceptor = probe
    await _call(channel, "Ok")
    first = interceptor._cache[f"/{SERVICE}/Ok"][1]
    await _call(channel, "Ok")
    assert interceptor._cache[f"/{SERVICE}/Ok"][1] is first


async def test_unknown_methods_are_not_counted(probe: tuple[grpc.aio.Channel, RpcMetrics]) -> None:
    channel, interceptor = probe
    assert await _call(channel, "Nope") == grpc.StatusCode.UNIMPLEMENTED
    assert f"/{SERVICE}/Nope" not in interceptor._cache
    assert _handled("Nope", "UNIMPLEMENTED") == 0


async def test_a_host_counts_the_methods_it_registers() -> None:
    """A :class:`GrpcHost` wraps each method once when it registers it (no interceptor):
    its calls are counted and timed like the interceptor's."""

    def add(_servicer: object, server: Any) -> None:
        server.add_generic_rpc_handlers((_handlers(),))

    host = GrpcHost("127.0.0.1", 0, [ServedService(SERVICE, None, add)])
    port = await host.start()
    try:
        ok, refused, timed = (
            _handled("Ok", "OK"),
            _handled("Refused", "FAILED_PRECONDITION"),
            _timed("Ok"),
        )
        sent = _sent("Three")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await _call(channel, "Ok") == grpc.StatusCode.OK
            assert await _call(channel, "Refused") == grpc.StatusCode.FAILED_PRECONDITION
            three = channel.unary_stream(f"/{SERVICE}/Three", _same, _same)
            assert len([m async for m in three(b"", timeout=10)]) == 3
        assert _handled("Ok", "OK") == ok + 1
        assert _handled("Refused", "FAILED_PRECONDITION") == refused + 1
        assert _timed("Ok") == timed + 1
        assert _sent("Three") == sent + 3
    finally:
        await host.stop()


def _sent(method: str) -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_msg_sent_total",
        {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": method},
    )
    return value or 0.0
