"""Every project error crosses a real grpc.aio server and comes back as itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from vcc_domain.errors import (
    ConfigError,
    ErrorKind,
    Locked,
    NotLeader,
    VccError,
)
from vcc_proto import status
from vcc_proto.v1 import site_pb2, site_pb2_grpc

FIELD = "agents[3].home_site"
MESSAGE = "未知站点 unknown site 'XX'"
LEADER = "127.0.0.1:50051"
UNTIL_MS = 1_700_000_060_000


def make_error(kind: ErrorKind) -> VccError:
    """The error the test server raises for a kind (with details where the kind uses them)."""
    cls = status.CLASS_OF_KIND[kind]
    if kind is ErrorKind.LOCKED:
        return cls(MESSAGE, field=FIELD, until_ms=UNTIL_MS, failures=5)
    if kind is ErrorKind.NOT_LEADER:
        return cls(MESSAGE, field=FIELD, leader=LEADER)
    return cls(MESSAGE, field=FIELD)


class FailingAccess(site_pb2_grpc.AccessServicer):
    """GetCall raises the error whose kind is the call_id; "boom" raises a plain bug."""

    @status.grpc_errors
    async def GetCall(self, request: site_pb2.CallRef, context: Any) -> site_pb2.CallView:
        if request.call_id == "boom":
            raise RuntimeError("secret internals")
        if request.call_id == "config":
            raise ConfigError("must be positive", field="sites.KM.seats")
        if request.call_id == "plain":
            raise VccError("no field here")
        if request.call_id == "ok":
            return site_pb2.CallView(call_id="ok")
        raise make_error(ErrorKind(request.call_id))


class FailingDesk(site_pb2_grpc.AgentDeskServicer):
    """Events yields one event, then fails as the token says."""

    @status.grpc_errors
    async def Events(
        self, request: site_pb2.SessionRef, context: Any
    ) -> AsyncIterator[site_pb2.AgentEvent]:
        yield site_pb2.AgentEvent(seq=1)
        raise make_error(ErrorKind(request.session_token))


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    # Partial servicers on purpose: the RPCs left out answer UNIMPLEMENTED.
    site_pb2_grpc.add_AccessServicer_to_server(FailingAccess(), server)  # type: ignore[abstract]
    site_pb2_grpc.add_AgentDeskServicer_to_server(FailingDesk(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        await server.stop(grace=None)


def assert_same(got: VccError, sent: VccError) -> None:
    assert type(got) is type(sent)
    assert got.kind is sent.kind
    assert got.message == sent.message
    assert got.field == sent.field
    assert got.details == sent.details
    assert str(got) == str(sent)


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
async def test_unary_error_round_trip(channel: grpc.aio.Channel, kind: ErrorKind) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCall(site_pb2.CallRef(call_id=kind.value), timeout=5)
    error = caught.value
    assert error.code() == status.STATUS_OF_KIND[kind]
    assert FIELD in (error.details() or "")
    assert_same(status.from_rpc_error(error), make_error(kind))


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
async def test_streaming_error_round_trip(channel: grpc.aio.Channel, kind: ErrorKind) -> None:
    stub = site_pb2_grpc.AgentDeskStub(channel)
    seen: list[int] = []
    with pytest.raises(VccError) as caught, status.translate_rpc_errors():
        async for event in stub.Events(site_pb2.SessionRef(session_token=kind.value), timeout=5):
            seen.append(event.seq)
    assert seen == [1]
    assert_same(caught.value, make_error(kind))


async def test_locked_message_says_until_when(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCall(site_pb2.CallRef(call_id="locked"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "locked until 2023-11-14T22:14:20+00:00" in (caught.value.details() or "")
    err = status.from_rpc_error(caught.value)
    assert isinstance(err, Locked)
    assert err.details["until_ms"] == UNTIL_MS


async def test_not_leader_names_leader_in_metadata(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCall(site_pb2.CallRef(call_id="not_leader"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (status.LEADER_KEY, LEADER) in list(caught.value.trailing_metadata() or ())
    assert status.leader_of(caught.value) == LEADER
    err = status.from_rpc_error(caught.value)
    assert isinstance(err, NotLeader)
    assert err.details["leader"] == LEADER


async def test_subclass_travels_as_its_kind(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(VccError) as caught, status.translate_rpc_errors():
        await stub.GetCall(site_pb2.CallRef(call_id="config"), timeout=5)
    err = caught.value
    assert type(err) is status.CLASS_OF_KIND[ErrorKind.INVALID]
    assert (err.field, err.message) == ("sites.KM.seats", "must be positive")


async def test_error_without_field(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(VccError) as caught, status.translate_rpc_errors():
        await stub.GetCall(site_pb2.CallRef(call_id="plain"), timeout=5)
    assert caught.value.kind is ErrorKind.INTERNAL
    assert caught.value.field is None
    assert caught.value.message == "no field here"


async def test_unexpected_exception_is_internal_without_leaking(
    channel: grpc.aio.Channel,
) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCall(site_pb2.CallRef(call_id="boom"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret internals" not in (caught.value.details() or "")
    assert status.from_rpc_error(caught.value).kind is ErrorKind.INTERNAL


async def test_success_passes_through(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)
    with status.translate_rpc_errors():
        reply = await stub.GetCall(site_pb2.CallRef(call_id="ok"), timeout=5)
    assert reply.call_id == "ok"


async def test_status_without_our_metadata_maps_by_code(channel: grpc.aio.Channel) -> None:
    stub = site_pb2_grpc.AccessStub(channel)  # HangUp is not implemented by FailingAccess
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.HangUp(site_pb2.CallRef(call_id="x"), timeout=5)
    err = status.from_rpc_error(caught.value)
    assert err.kind is ErrorKind.INTERNAL
    assert err.details["grpc_code"] == "UNIMPLEMENTED"


async def test_unreachable_server_is_unavailable() -> None:
    async with grpc.aio.insecure_channel("127.0.0.1:1") as chan:
        stub = site_pb2_grpc.AccessStub(chan)
        with pytest.raises(VccError) as caught, status.translate_rpc_errors():
            await stub.GetCall(site_pb2.CallRef(call_id="x"), timeout=2)
    assert caught.value.kind is ErrorKind.UNAVAILABLE


def test_every_kind_has_a_status_and_a_class() -> None:
    assert set(status.STATUS_OF_KIND) == set(ErrorKind)
    assert set(status.CLASS_OF_KIND) == set(ErrorKind)
    for kind, cls in status.CLASS_OF_KIND.items():
        assert cls.kind is kind


def test_decorator_refuses_sync_methods() -> None:
    def not_async(self: object, request: object, context: object) -> None:
        return None

    with pytest.raises(TypeError):
        status.grpc_errors(not_async)
