"""The ``Edge`` gRPC service: the access edge's calls and ledger for callers and tools.

Thin: decode the request, call :class:`~vcc_site.edge.service.AccessEdge`, encode the
reply. A site's refusal reaches the caller as its project error (``@grpc_errors``).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from vcc_domain.errors import InvalidInput
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors, translate_rpc_errors
from vcc_proto.v1 import edge_pb2 as e
from vcc_proto.v1 import edge_pb2_grpc
from vcc_proto.v1 import site_pb2 as s
from vcc_site.edge.ledger import EdgeCall
from vcc_site.edge.service import AccessEdge

Ctx: TypeAlias = Any  # grpc.aio.ServicerContext (untyped in grpcio)

STATE_OF = {
    "ivr": e.EDGE_CALL_STATE_IVR,
    "queued": e.EDGE_CALL_STATE_QUEUED,
    "offered": e.EDGE_CALL_STATE_OFFERED,
    "connected": e.EDGE_CALL_STATE_CONNECTED,
    "held": e.EDGE_CALL_STATE_HELD,
    "ended": e.EDGE_CALL_STATE_ENDED,
    "lost": e.EDGE_CALL_STATE_LOST,
    "refused": e.EDGE_CALL_STATE_REFUSED,
}
STATE_NAME = {v: k for k, v in STATE_OF.items()}


def to_message(call: EdgeCall) -> e.EdgeCall:
    return e.EdgeCall(
        call_id=call.call_id,
        caller_number=call.caller,
        area_code=call.area_code,
        site_id=call.site_id,
        offered_at_ms=round(call.offered_at * 1000),
        state=STATE_OF[call.state],
        reason=call.reason,
        tried=call.tried,
        ended_at_ms=round(call.ended_at * 1000),
        at_site_id=call.at_site,
        version=call.version,
    )


def from_message(msg: e.EdgeCall) -> EdgeCall:
    return EdgeCall(
        call_id=msg.call_id,
        caller=msg.caller_number,
        area_code=msg.area_code,
        site_id=msg.site_id,
        offered_at=msg.offered_at_ms / 1000,
        state=STATE_NAME.get(msg.state, "refused"),
        reason=msg.reason,
        tried=list(msg.tried),
        ended_at=msg.ended_at_ms / 1000,
        at_site=msg.at_site_id,
        version=msg.version,
    )


def _step(call: EdgeCall, step: s.CallStep | None) -> e.EdgeStep:
    reply = e.EdgeStep(call=to_message(call))
    if step is not None:
        reply.step.CopyFrom(step)
    return reply


def _need(call_id: str) -> str:
    if not call_id:
        raise InvalidInput("call_id is required", field="call_id")
    return call_id


class EdgeServicer(edge_pb2_grpc.EdgeServicer):
    def __init__(self, edge: AccessEdge) -> None:
        self.edge = edge

    @grpc_errors
    async def PlaceCall(self, request: e.PlaceCallRequest, context: Ctx) -> e.EdgeStep:
        if not request.caller_number or not request.dialed_code:
            raise InvalidInput("caller_number and dialed_code are required", field="caller_number")
        with translate_rpc_errors():
            call, step = await self.edge.place(
                request.caller_number, request.dialed_code, request.area_code
            )
        return _step(call, step)

    @grpc_errors
    async def SendDigits(self, request: e.EdgeDigitsRequest, context: Ctx) -> e.EdgeStep:
        with translate_rpc_errors():
            call, step = await self.edge.send_digits(_need(request.call_id), request.digits)
        return _step(call, step)

    @grpc_errors
    async def HangUp(self, request: e.EdgeCallRef, context: Ctx) -> e.EdgeCall:
        with translate_rpc_errors():
            return to_message(await self.edge.hang_up(_need(request.call_id)))

    @grpc_errors
    async def ReleaseCall(self, request: e.ReleaseCallRequest, context: Ctx) -> e.EdgeCall:
        return to_message(self.edge.ended(_need(request.call_id), request.reason or "released"))

    @grpc_errors
    async def GetCall(self, request: e.EdgeCallRef, context: Ctx) -> e.EdgeCall:
        return to_message(self.edge.book.get(_need(request.call_id)))

    @grpc_errors
    async def Sweep(self, request: e.SweepRequest, context: Ctx) -> e.SweepReply:
        lost = await self.edge.sweep(probe_live=request.probe_live)
        return e.SweepReply(lost=[to_message(call) for call in lost])

    @grpc_errors
    async def ListCalls(self, request: e.ListCallsRequest, context: Ctx) -> e.ListCallsReply:
        book = self.edge.book
        calls = book.changed_after(request.after_version, request.open_only)
        return e.ListCallsReply(calls=[to_message(call) for call in calls], version=book.version)

    @grpc_errors
    async def GetCounts(self, request: e.GetCountsRequest, context: Ctx) -> e.EdgeCounts:
        reply = e.EdgeCounts(by_state=self.edge.counts())
        for call in self.edge.ledger.values():
            if call.site_id:
                reply.placed_by_site[call.site_id] += 1
            if call.state == "lost":
                reply.lost_by_site[call.where] += 1
        return reply


def edge_services(edge: AccessEdge) -> list[ServedService]:
    name = e.DESCRIPTOR.services_by_name["Edge"].full_name
    return [ServedService(name, EdgeServicer(edge), edge_pb2_grpc.add_EdgeServicer_to_server)]
