"""The hub's ``Routing`` gRPC service: thin over the broker and the overflow advisor."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from vcc_domain.province import Province
from vcc_hub.routing.broker import TransferBroker
from vcc_hub.routing.overflow import OverflowAdvisor
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

Ctx: TypeAlias = Any  # grpc.aio.ServicerContext (untyped in grpcio)


class RoutingServicer(hg.RoutingServicer):
    def __init__(self, broker: TransferBroker, advisor: OverflowAdvisor,
                 province: Callable[[], Awaitable[Province]]) -> None:
        self.broker = broker
        self.advisor = advisor
        self.province = province

    @grpc_errors
    async def BrokerTransfer(self, request: h.BrokerTransferRequest, context: Ctx) -> c.TransferResult:
        return await self.broker.broker(request.request_id, request.context,
                                        request.from_site_id, request.target)

    @grpc_errors
    async def AdviseOverflow(self, request: h.AdviseOverflowRequest, context: Ctx) -> h.OverflowAdvice:
        return self.advisor.advise(await self.province(), request)

    @grpc_errors
    async def ReportQueueFigures(self, request: h.ReportQueueFiguresRequest,
                                 context: Ctx) -> h.ReportQueueFiguresReply:
        self.advisor.report(await self.province(), request.site_id, list(request.figures))
        return h.ReportQueueFiguresReply()

    @grpc_errors
    async def GetBoard(self, request: h.GetBoardRequest, context: Ctx) -> h.Board:
        board = self.advisor.board(await self.province(), list(request.site_ids))
        board.as_of_ms = round(time.time() * 1000)
        return board


def routing_service(servicer: RoutingServicer) -> ServedService:
    return ServedService("vcc_proto.v1.Routing", servicer, hg.add_RoutingServicer_to_server)
