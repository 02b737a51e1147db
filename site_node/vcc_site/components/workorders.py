"""Site component: work orders in the background (issue 9).

Takes the node's :class:`~vcc_site.service.workorders.WorkOrderService` from
``ctx.extras["workorders"]``, gives it a forwarder to other sites' ``WorkOrders.Accept``
(endpoints from etcd ``/vcc/sites/<X>`` or the static map ``site_endpoints`` /
``VCC_SITE_ENDPOINTS``), and runs every ``work_order_scan_s`` seconds (default 60) the
overdue scan (escalate and chase) and the retry of orders waiting for their home site.

The calendar: :func:`calendar_from_config` (``holidays`` / ``workdays`` as comma-separated
ISO dates in the node's extra settings or ``VCC_HOLIDAYS`` / ``VCC_WORKDAYS``; default the
2025 national schedule).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from vcc_domain.calendar import CN_2025, WorkCalendar, calendar_from_lists
from vcc_failover.sites import STATIC_ENV, SiteEndpoints, parse_static
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.server import ServedService
from vcc_site.adapters.grpc_workorders import GrpcWorkOrderForwarder
from vcc_site.components import Component, NoComponent, SiteContext
from vcc_site.service.workorders import WorkOrderService

log = logging.getLogger(__name__)
SCAN_EVERY_S = 60.0


def calendar_from_config(config: NodeConfig) -> WorkCalendar:
    holidays = config.extra.get("holidays") or os.environ.get("VCC_HOLIDAYS", "")
    workdays = config.extra.get("workdays") or os.environ.get("VCC_WORKDAYS", "")
    if not holidays and not workdays:
        return CN_2025
    return calendar_from_lists(holidays.split(","), workdays.split(","))


async def _loop(service: WorkOrderService, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await service.scan_overdue()
            await service.retry_forwarding()
        except Exception:
            log.exception("work orders: background scan failed")


class WorkOrderRunner:
    def __init__(self, service: WorkOrderService, forwarder: GrpcWorkOrderForwarder,
                 every_s: float) -> None:
        self.forwarder = forwarder
        self.task = asyncio.create_task(_loop(service, every_s), name="work-orders")

    def services(self) -> list[ServedService]:
        return []  # WorkOrders is served by the node itself (SiteNode.build_services)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.forwarder.close()


async def start(ctx: SiteContext) -> Component:
    service = ctx.extras.get("workorders")
    if not isinstance(service, WorkOrderService):
        return NoComponent()
    static = ctx.config.extra.get("site_endpoints") or os.environ.get(STATIC_ENV, "")
    forwarder = GrpcWorkOrderForwarder(SiteEndpoints(list(ctx.config.etcd_endpoints),
                                                     parse_static(static)))
    service.forwarder = forwarder
    raw = ctx.config.extra.get("work_order_scan_s", "")
    every = float(raw) if raw else SCAN_EVERY_S
    return WorkOrderRunner(service, forwarder, every)
