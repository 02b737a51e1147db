"""Hub component: site events (consumer, inbox, gap repair, ``Replication`` service) and the
customer copies they keep (``Customers`` service)."""

from __future__ import annotations

from vcc_failover.leadership import Leadership
from vcc_failover.sites import SiteEndpointSettings
from vcc_hub.adapters.event_metrics import LAG
from vcc_hub.adapters.grpc_customers import CustomersServicer
from vcc_hub.adapters.grpc_replication import ReplicationServicer
from vcc_hub.adapters.grpc_workorders import ProvinceWorkOrdersServicer
from vcc_hub.adapters.nats_events import EventsConsumer, SiteDirectory
from vcc_hub.components import HubContext
from vcc_hub.settings import EventsSettings
from vcc_hub.store.event_tables import MIGRATIONS
from vcc_proto.server import ServedService
from vcc_proto.v1 import hub_pb2_grpc
from vcc_replication.sqlite_direct import SqliteDirect, sqlite_file


class HubEvents:
    def __init__(
        self,
        consumer: EventsConsumer,
        servicer: ReplicationServicer,
        customers: CustomersServicer,
        orders: ProvinceWorkOrdersServicer,
    ) -> None:
        self.consumer = consumer
        self.servicer = servicer
        self.customers = customers
        self.orders = orders

    def services(self) -> list[ServedService]:
        return [
            ServedService(
                "vcc_proto.v1.Replication",
                self.servicer,
                hub_pb2_grpc.add_ReplicationServicer_to_server,
            ),
            ServedService(
                "vcc_proto.v1.Customers",
                self.customers,
                hub_pb2_grpc.add_CustomersServicer_to_server,
            ),
            ServedService(
                "vcc_proto.v1.ProvinceWorkOrders",
                self.orders,
                hub_pb2_grpc.add_ProvinceWorkOrdersServicer_to_server,
            ),
        ]

    async def stop(self) -> None:
        await self.consumer.stop()


async def start_events(
    ctx: HubContext, leadership: Leadership, sites: SiteEndpointSettings, settings: EventsSettings
) -> HubEvents:
    await MIGRATIONS.upgrade(ctx.engine)
    directory = SiteDirectory(list(ctx.config.etcd_endpoints), sites.static_map())
    path = sqlite_file(ctx.engine)
    consumer = EventsConsumer(
        ctx.engine,
        ctx.nats,
        lambda: leadership,
        ctx.clock,
        directory,
        grace_s=settings.gap_grace_s,
        direct=SqliteDirect(path) if path else None,  # on SQLite: commits on the loop thread
    )
    LAG.bound_to(site.id for site in ctx.province.sites)  # lag series: one per site
    consumer.start()
    return HubEvents(
        consumer,
        ReplicationServicer(ctx.engine, consumer, ctx.clock),
        CustomersServicer(ctx.engine),
        ProvinceWorkOrdersServicer(ctx.engine, ctx.province, ctx.clock),
    )
