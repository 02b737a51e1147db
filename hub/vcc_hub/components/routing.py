"""Hub component: the routing broker (``Routing``: transfers, overflow advice, figures).

Validates against the current directory (the directory component's latest snapshot,
parsed once per version; the province file the hub started with until there is one).
Site endpoints come from etcd ``/vcc/sites/<ID>`` or the static map ``VCC_SITE_ENDPOINTS``. Brokering writes nothing to the hub database: any hub answers.
"""

from __future__ import annotations

import logging

from vcc_domain.directory_doc import validate
from vcc_domain.province import Province
from vcc_failover.sites import SiteEndpointSettings
from vcc_hub.adapters.grpc_routing import RoutingServicer, routing_service
from vcc_hub.adapters.transfer_broker import TransferBroker
from vcc_hub.components import HubContext
from vcc_hub.domain.overflow import OverflowAdvisor
from vcc_hub.service.directory import DirectoryService
from vcc_hub.settings import RoutingSettings
from vcc_proto.server import ServedService

log = logging.getLogger(__name__)


class CurrentProvince:
    """The directory's latest version as a Province (re-parsed only when it changes)."""

    def __init__(self, ctx: HubContext, directory: DirectoryService) -> None:
        self.ctx = ctx
        self.directory = directory
        self._version = -1
        self._province = ctx.province

    async def __call__(self) -> Province:
        directory = self.directory
        version = self.ctx.state.directory_version
        if version != self._version or version <= 0:
            try:
                snap = await directory.snapshot()
                if snap.version != self._version and snap.document:
                    self._province = validate(snap.document, f"directory v{snap.version}")
                    self._version = snap.version
            except Exception as exc:  # keep routing on the last good version
                log.warning(
                    "routing: cannot read the directory (%s); using version %d", exc, self._version
                )
        return self._province


class RoutingComponent:
    def __init__(self, broker: TransferBroker, servicer: RoutingServicer) -> None:
        self.broker = broker
        self.servicer = servicer

    def services(self) -> list[ServedService]:
        return [routing_service(self.servicer)]

    async def stop(self) -> None:
        await self.broker.close()


def start_routing(
    ctx: HubContext,
    directory: DirectoryService,
    sites: SiteEndpointSettings,
    settings: RoutingSettings,
) -> RoutingComponent:
    province = CurrentProvince(ctx, directory)
    advisor = OverflowAdvisor()
    broker = TransferBroker(
        province,
        sites.endpoints(ctx.config.etcd_endpoints),
        ctx.clock,
        settings.transfer_accept_timeout_s,
        on_outcome=advisor.transfer_outcome,
    )
    return RoutingComponent(broker, RoutingServicer(broker, advisor, province))
