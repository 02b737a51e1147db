"""Hub component: statistics, service-quality index and settlement (``Reports`` service).

Configuration (``NodeConfig.extra`` key, else environment variable):

* ``reports_interval_min`` / ``VCC_REPORTS_INTERVAL_MIN`` — interval length (15).
* ``short_abandon_s`` / ``VCC_SHORT_ABANDON_S`` — short-abandon threshold (5).
* ``sqi`` / ``VCC_SQI`` — JSON for :class:`vcc_domain.sqi.SqiConfig` (weights, targets).
* ``reports_poll_s`` / ``VCC_REPORTS_POLL_S`` — aggregation poll when idle (0.5).
"""

from __future__ import annotations

import json
import os

from vcc_domain.directory_doc import validate
from vcc_domain.province import Province
from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import StatsConfig
from vcc_hub.adapters.grpc_reports import ReportsServicer
from vcc_hub.components import Component, HubContext
from vcc_hub.service.aggregator import Aggregator
from vcc_hub.service.directory import DirectoryService
from vcc_hub.store.report_tables import MIGRATIONS
from vcc_proto.server import ServedService
from vcc_proto.v1 import hub_pb2_grpc


class ProvinceCache:
    """The province of the directory's current version (the start file before any)."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.version = -1
        self.province = ctx.province

    async def __call__(self) -> Province:
        directory = self.ctx.extras.get("directory")
        if not isinstance(directory, DirectoryService):
            return self.province
        snap = await directory.snapshot()
        if snap.version != self.version and snap.version > 0:
            self.province = validate(snap.document)
            self.version = snap.version
        return self.province


class ReportsComponent:
    def __init__(self, aggregator: Aggregator, servicer: ReportsServicer) -> None:
        self.aggregator = aggregator
        self.servicer = servicer

    def services(self) -> list[ServedService]:
        return [ServedService("vcc_proto.v1.Reports", self.servicer,
                              hub_pb2_grpc.add_ReportsServicer_to_server)]

    async def stop(self) -> None:
        await self.aggregator.stop()


def _setting(ctx: HubContext, key: str, env: str, default: str) -> str:
    return ctx.config.extra.get(key) or os.environ.get(env) or default


async def start(ctx: HubContext) -> Component:
    await MIGRATIONS.upgrade(ctx.engine)
    config = StatsConfig(
        interval_ms=int(float(_setting(ctx, "reports_interval_min", "VCC_REPORTS_INTERVAL_MIN",
                                       "15")) * 60_000),
        short_abandon_ms=int(float(_setting(ctx, "short_abandon_s", "VCC_SHORT_ABANDON_S",
                                            "5")) * 1000))
    sqi = SqiConfig.from_mapping(json.loads(_setting(ctx, "sqi", "VCC_SQI", "{}")))
    province = ProvinceCache(ctx)
    aggregator = Aggregator(ctx.engine, lambda: ctx.leadership, ctx.clock, province, config,
                            poll_s=float(_setting(ctx, "reports_poll_s", "VCC_REPORTS_POLL_S",
                                                  "0.5")))
    aggregator.start()
    component = ReportsComponent(aggregator, ReportsServicer(aggregator, province, ctx.clock,
                                                             sqi))
    ctx.extras["reports"] = component
    return component
