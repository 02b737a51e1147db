"""The hub's ``Routing`` gRPC service: thin over the broker and the overflow advisor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from typing import Any, TypeAlias

from vcc_domain.province import Province
from vcc_hub.adapters.transfer_broker import TransferBroker
from vcc_hub.domain.overflow import Board, OverflowAdvisor, QueueFigures
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

Ctx: TypeAlias = Any  # grpc.aio.ServicerContext (untyped in grpcio)

WATCH_GAP_S = 0.25  # a watcher gets at most one board this often (reports come in bursts)
STALE_CHECK_S = 1.0  # how often a quiet watcher checks whether a site turned stale


class RoutingServicer(hg.RoutingServicer):
    def __init__(
        self,
        broker: TransferBroker,
        advisor: OverflowAdvisor,
        province: Callable[[], Awaitable[Province]],
    ) -> None:
        self.broker = broker
        self.advisor = advisor
        self.province = province
        self._changed = asyncio.Event()  # set (and replaced) at every report

    def _bump(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @grpc_errors
    async def BrokerTransfer(
        self, request: h.BrokerTransferRequest, context: Ctx
    ) -> c.TransferResult:
        return await self.broker.broker(
            request.request_id,
            request.context,
            request.from_site_id,
            request.target,
            within_s=context.time_remaining(),  # the sending site waits no longer
        )

    @grpc_errors
    async def AdviseOverflow(
        self, request: h.AdviseOverflowRequest, context: Ctx
    ) -> h.OverflowAdvice:
        advice = self.advisor.advise(
            await self.province(), request.site_id, request.business_id, request.local_ewt_ms
        )
        return h.OverflowAdvice(
            advised_site_id=advice.advised_site_id,
            predicted_ewt_ms=advice.predicted_ewt_ms,
            reason=advice.reason,
        )

    @grpc_errors
    async def ReportQueueFigures(
        self, request: h.ReportQueueFiguresRequest, context: Ctx
    ) -> h.ReportQueueFiguresReply:
        self.advisor.report(
            await self.province(), request.site_id, [figures_from_proto(f) for f in request.figures]
        )
        self._bump()
        return h.ReportQueueFiguresReply()

    @grpc_errors
    async def GetBoard(self, request: h.GetBoardRequest, context: Ctx) -> h.Board:
        board = board_to_proto(self.advisor.board(await self.province(), list(request.site_ids)))
        board.as_of_ms = round(time.time() * 1000)
        return board

    @grpc_errors
    async def WatchBoard(self, request: h.GetBoardRequest, context: Ctx) -> AsyncIterator[h.Board]:
        """The board now, then after each burst of reports, or when the stale sites change
        though no report came (a site that stops reporting is news too)."""
        sites = list(request.site_ids)
        while True:
            changed = self._changed
            board = self.advisor.board(await self.province(), sites)
            out = board_to_proto(board)
            out.as_of_ms = round(time.time() * 1000)
            yield out
            while not await self._until_change(changed):
                if self.advisor.board(await self.province(), sites).stale_site_ids != (
                    board.stale_site_ids
                ):
                    break
            await asyncio.sleep(WATCH_GAP_S)

    @staticmethod
    async def _until_change(changed: asyncio.Event) -> bool:
        """True once ``changed`` is set, False after a quiet STALE_CHECK_S."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), STALE_CHECK_S)
        return changed.is_set()


FIGURE_FIELDS = tuple(f.name for f in fields(QueueFigures))  # the same names in common.proto


def figures_from_proto(msg: c.QueueFigures) -> QueueFigures:
    return QueueFigures(*(getattr(msg, name) for name in FIGURE_FIELDS))


def figures_to_proto(figures: QueueFigures) -> c.QueueFigures:
    return c.QueueFigures(**{name: getattr(figures, name) for name in FIGURE_FIELDS})


def board_to_proto(board: Board) -> h.Board:
    out = h.Board(stale_site_ids=board.stale_site_ids)
    for row in board.rows:
        out.rows.append(h.BoardRow(figures=figures_to_proto(row.figures), age_ms=row.age_ms))
    return out


def routing_service(servicer: RoutingServicer) -> ServedService:
    return ServedService("vcc_proto.v1.Routing", servicer, hg.add_RoutingServicer_to_server)
