"""The hub's ``ProvinceWorkOrders`` gRPC service: reads of the province-wide copies of
every site's work orders (``vcc_hub.store.workorders``) and their figures."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.errors import InvalidInput
from vcc_domain.province import Province
from vcc_domain.workorder_figures import total
from vcc_domain.workorders import is_overdue
from vcc_hub.store.workorders import province_figures, province_orders
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.workorders import figure_msg, order_msg

Ctx: TypeAlias = Any
MAX_LIMIT = 10_000


class ProvinceWorkOrdersServicer(hg.ProvinceWorkOrdersServicer):
    def __init__(self, engine: AsyncEngine, province: Province, clock: Clock) -> None:
        self.engine = engine
        self.province = province
        self.clock = clock

    def _site(self, site_id: str) -> str:
        if site_id:
            self.province.site(site_id)  # NotFound for an unknown site
        return site_id

    @grpc_errors
    async def ListOrders(
        self, request: h.ListProvinceOrdersRequest, context: Ctx
    ) -> s.ListWorkOrdersReply:
        if not 0 <= request.limit <= MAX_LIMIT:
            raise InvalidInput(f"must be within 0..{MAX_LIMIT}", field="limit")
        site = self._site(request.owner_site_id)
        orders = await province_orders(self.engine, site=site, open_only=request.open_only)
        if request.overdue_only:
            now_ms = int(self.clock.now() * 1000)
            orders = [o for o in orders if is_overdue(o, now_ms)]
        limit = request.limit or 1000
        return s.ListWorkOrdersReply(orders=[order_msg(o) for o in orders[-limit:]])

    @grpc_errors
    async def GetFigures(
        self, request: h.ProvinceFiguresRequest, context: Ctx
    ) -> s.WorkOrderFiguresReply:
        site = self._site(request.owner_site_id)
        now_ms = int(self.clock.now() * 1000)
        rows = await province_figures(self.engine, now_ms, site)
        return s.WorkOrderFiguresReply(
            figures=[figure_msg(f) for f in [*rows, total(rows)]], as_of_ms=now_ms
        )
