"""Hub component: statistics, service-quality index and settlement (``Reports`` service).

Settings: :class:`vcc_hub.settings.ReportsSettings` (interval length, short-abandon
threshold, service-quality index definition, idle poll).
"""

from __future__ import annotations

from vcc_domain.directory_doc import validate
from vcc_domain.province import Province
from vcc_failover.leadership import Leadership
from vcc_hub.adapters.grpc_reports import ReportsServicer
from vcc_hub.components import HubContext
from vcc_hub.service.aggregator import Aggregator
from vcc_hub.service.directory import DirectoryService
from vcc_hub.settings import ReportsSettings
from vcc_hub.store.report_tables import MIGRATIONS
from vcc_proto.server import ServedService
from vcc_proto.v1 import hub_pb2_grpc


class ProvinceCache:
    """The province of the directory's current version (the start file before any)."""

    def __init__(self, province: Province, directory: DirectoryService) -> None:
        self.directory = directory
        self.version = -1
        self.province = province

    async def __call__(self) -> Province:
        snap = await self.directory.snapshot()
        if snap.version != self.version and snap.version > 0:
            self.province = validate(snap.document)
            self.version = snap.version
        return self.province


class ReportsComponent:
    def __init__(self, aggregator: Aggregator, servicer: ReportsServicer) -> None:
        self.aggregator = aggregator
        self.servicer = servicer

    def services(self) -> list[ServedService]:
        return [
            ServedService(
                "vcc_proto.v1.Reports", self.servicer, hub_pb2_grpc.add_ReportsServicer_to_server
            )
        ]

    async def stop(self) -> None:
        await self.aggregator.stop()


async def start_reports(
    ctx: HubContext, leadership: Leadership, directory: DirectoryService, settings: ReportsSettings
) -> ReportsComponent:
    await MIGRATIONS.upgrade(ctx.engine)
    province = ProvinceCache(ctx.province, directory)
    aggregator = Aggregator(
        ctx.engine,
        lambda: leadership,
        ctx.clock,
        province,
        settings.stats_config(),
        poll_s=settings.poll_s,
    )
    aggregator.start()
    return ReportsComponent(
        aggregator, ReportsServicer(aggregator, province, ctx.clock, settings.sqi_config())
    )
