"""Site component: work orders in the background (issue 9).

Gives the node's :class:`~vcc_site.service.workorders.WorkOrderService` a forwarder to
other sites' ``WorkOrders.Accept`` (endpoints from etcd ``/vcc/sites/<X>`` or the static
map ``VCC_SITE_ENDPOINTS``), and runs every ``VCC_WORK_ORDER_SCAN_S`` seconds (default 60)
the overdue scan (escalate and chase) and the retry of orders waiting for their home site.
The calendar comes from :class:`~vcc_site.settings.WorkOrderSettings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from vcc_failover.sites import SiteEndpointSettings
from vcc_proto.server import ServedService
from vcc_site.adapters.grpc_workorders import GrpcWorkOrderForwarder
from vcc_site.service.workorders import WorkOrderService
from vcc_site.settings import WorkOrderSettings

log = logging.getLogger(__name__)


async def _loop(service: WorkOrderService, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await service.scan_overdue()
            await service.retry_forwarding()
        except Exception:
            log.exception("work orders: background scan failed")


class WorkOrderRunner:
    def __init__(
        self, service: WorkOrderService, forwarder: GrpcWorkOrderForwarder, every_s: float
    ) -> None:
        self.forwarder = forwarder
        self.task = asyncio.create_task(_loop(service, every_s), name="work-orders")

    def services(self) -> list[ServedService]:
        return []  # WorkOrders is served by the node itself (SiteNode.build_services)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.forwarder.close()


def start_work_orders(
    service: WorkOrderService,
    etcd_endpoints: Sequence[str],
    sites: SiteEndpointSettings,
    settings: WorkOrderSettings,
) -> WorkOrderRunner:
    forwarder = GrpcWorkOrderForwarder(sites.endpoints(etcd_endpoints))
    service.forwarder = forwarder
    return WorkOrderRunner(service, forwarder, settings.scan_s)
