"""Log lines carry the call, agent and site from context variables: JSON and text formats,
``call_context``, and the gRPC interceptor that sets them per request (unary and
server-streaming) without leaking them into the next request."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from vcc_domain.errors import ConfigError
from vcc_proto.observability import (
    ContextFilter,
    JsonFormatter,
    agent_var,
    call_context,
    call_var,
    configure_logging,
)
from vcc_proto.served import field_path
from vcc_proto.server import GrpcHost, ServedService
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg


def _record(msg: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("vcc.test", logging.INFO, __file__, 1, msg, args, None)
    ContextFilter().filter(record)
    return record


def test_json_lines_carry_the_context_and_mask_numbers() -> None:
    with call_context("call_1", "KM-0001"):
        record = _record("caller %s waits", "13912345678")
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == {"ts", "level", "logger", "site", "call_id", "agent", "msg"}
    assert (line["call_id"], line["agent"], line["level"]) == ("call_1", "KM-0001", "INFO")
    assert "13912345678" not in line["msg"] and line["ts"].endswith("Z")
    assert call_var.get() == "-" and agent_var.get() == "-"  # reset after the block
    with call_context("call_2", site="DL"):
        assert _record("x").site == "DL"  # type: ignore[attr-defined]
    assert _record("x").site == "-"  # type: ignore[attr-defined]


def test_unknown_log_format_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="xml"):
        configure_logging("INFO", None, "xml")


def test_field_paths_follow_message_fields() -> None:
    assert field_path(s.CallAction.DESCRIPTOR, ("call_id",)) == ("call_id",)
    assert field_path(h.BrokerTransferRequest.DESCRIPTOR, ("call_id", "context.call_id")) == (
        "context",
        "call_id",
    )
    assert field_path(s.SessionRef.DESCRIPTOR, ("call_id", "context.call_id")) is None


class _Access(sg.AccessServicer):
    """Answers with the log context the handler saw."""

    async def GetCall(self, request: s.CallRef, context: Any) -> s.CallView:
        return s.CallView(call_id=call_var.get(), agent_id=agent_var.get())

    async def OfferCall(self, request: s.OfferCallRequest, context: Any) -> s.CallStep:
        return s.CallStep(call_id=call_var.get())


class _Desk(sg.AgentDeskServicer):
    async def Events(self, request: s.SessionRef, context: Any) -> AsyncIterator[s.AgentEvent]:
        for _ in range(2):
            yield s.AgentEvent(offer=s.Offer(call_id=call_var.get()))


async def test_interceptor_sets_the_call_per_request() -> None:
    host = GrpcHost(
        "127.0.0.1",
        0,
        [
            ServedService("vcc_proto.v1.Access", _Access(), sg.add_AccessServicer_to_server),
            ServedService("vcc_proto.v1.AgentDesk", _Desk(), sg.add_AgentDeskServicer_to_server),
        ],
    )
    port = await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            access = sg.AccessStub(channel)
            seen = await access.GetCall(s.CallRef(call_id="call_A"))
            assert seen.call_id == "call_A"
            again = await access.GetCall(s.CallRef(call_id="call_B"))
            assert again.call_id == "call_B"
            plain = await access.OfferCall(s.OfferCallRequest(caller_number="1"))
            assert plain.call_id == "-", "a request without a call ID sees none"
            desk = sg.AgentDeskStub(channel)
            stream = [e.offer.call_id async for e in desk.Events(s.SessionRef(session_token="t"))]
            assert stream == ["-", "-"]  # SessionRef names no call
    finally:
        await host.stop()
