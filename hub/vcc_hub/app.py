"""Composition root of the provincial hub.

The hub keeps the shared directory and business models, brokers routing between sites,
and consolidates statistics and settlement. This module wires the gRPC host, metrics,
the hub's database, its etcd registration and its NATS connection (creating the
province's JetStream streams), then builds its parts in order with plain constructors
(:func:`start_parts`), each given its settings and the parts it uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass

from nats.js import JetStreamContext
from prometheus_client import Gauge, Info

from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_failover.etcd_auth import use_credentials
from vcc_hub.components import Component, HubContext
from vcc_hub.components.directory import DirectoryComponent, start_directory
from vcc_hub.components.events import HubEvents, start_events
from vcc_hub.components.ha import start_ha
from vcc_hub.components.people import PeopleComponent, start_people
from vcc_hub.components.reports import ReportsComponent, start_reports
from vcc_hub.components.routing import RoutingComponent, start_routing
from vcc_hub.settings import HubNodeSettings, load_hub_settings
from vcc_hub.web.server import ConsoleServer, console_tls, start_console
from vcc_proto.names import hub_key
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, site_var, start_metrics_server
from vcc_proto.pki import identity
from vcc_proto.server import (
    GrpcHost,
    ServedService,
    free_tcp_port,
    install_stop_signals,
    settle_heap,
)
from vcc_proto.transport import open_transport
from vcc_replication import fencing
from vcc_replication.background import BackgroundNats
from vcc_replication.db import make_engine, ping
from vcc_replication.streams import ensure_directory_consumers, ensure_province_streams

log = logging.getLogger(__name__)

HUB_UP = Gauge("vcc_hub_up", "1 while the hub process is serving", ["node"])
HUB_LEADER = Gauge(
    "vcc_hub_leader", "1 while this hub process leads the province, else 0", ["node"]
)
HUB_INFO = Info("vcc_hub", "Static facts about this hub process")


@dataclass
class Hub:
    config: NodeConfig
    province: Province
    state: NodeState

    def build_services(self) -> list[ServedService]:
        return [node_service(NodeInfoServicer(self.state))]


def load_hub(config: NodeConfig) -> Hub:
    province = load_province_file(config.province_file)
    state = NodeState(kind="hub", site_id="", node_id=config.node_id or "hub-1")
    return Hub(config=config, province=province, state=state)


@dataclass
class HubParts:
    """The hub's running parts, in start order."""

    ha: Component
    directory: DirectoryComponent
    events: HubEvents
    routing: RoutingComponent
    reports: ReportsComponent
    people: PeopleComponent

    def in_start_order(self) -> list[Component]:
        return [self.ha, self.directory, self.events, self.routing, self.reports, self.people]

    def services(self) -> list[ServedService]:
        return [svc for part in self.in_start_order() for svc in part.services()]

    async def stop(self) -> None:
        for part in reversed(self.in_start_order()):
            await part.stop()


async def start_parts(ctx: HubContext, settings: HubNodeSettings) -> HubParts:
    """Start the hub's parts in order: HA first (it decides leadership, which the others
    consult for every write), then the directory, which routing and reports read."""
    leadership, ha = await start_ha(ctx)
    directory = await start_directory(ctx, leadership)
    events = await start_events(ctx, leadership, settings.sites, settings.events)
    routing = start_routing(ctx, directory.service, settings.sites, settings.routing)
    reports = await start_reports(ctx, leadership, directory.service, settings.reports)
    people = await start_people(ctx, directory.service)
    return HubParts(ha, directory, events, routing, reports, people)


async def run_hub(config: NodeConfig, settings: HubNodeSettings | None = None) -> None:
    """Run a hub process until SIGTERM/SIGINT (``settings``: default from the
    environment)."""
    settings = settings or load_hub_settings()
    configure_logging(config.log_level, config.log_file, config.log_format)
    use_credentials(settings.etcd_user.credentials())  # every etcd client of the process
    hub = load_hub(config)
    site_var.set(hub.state.node_id)
    transport = open_transport(settings.tls, identity("hub", hub.state.node_id))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url or config.sqlite_url("hub"))
    await ping(engine)
    await fencing.migrate(engine)

    stop = asyncio.Event()
    install_stop_signals(stop)
    grpc_port = config.grpc_port or free_tcp_port(config.host)
    hub.state.grpc_endpoint = f"{config.advertise_host}:{grpc_port}"
    hub.state.metrics_endpoint = f"{config.advertise_host}:{config.metrics_port}"

    async def on_connected(js: JetStreamContext) -> None:
        await ensure_province_streams(js, config.stream_replicas, settings.streams)
        await ensure_directory_consumers(js, [site.id for site in hub.province.sites])

    nats = BackgroundNats(
        list(config.nats_urls),
        name=hub.state.node_id,
        on_connected=on_connected,
        credentials=settings.nats_user.credentials(),
    )
    nats.start()
    ctx = HubContext(
        config=config,
        province=hub.province,
        engine=engine,
        nats=nats,
        state=hub.state,
        clock=settings.time.clock(),
    )
    parts = await start_parts(ctx, settings)
    services = hub.build_services() + parts.services()
    host = GrpcHost(
        config.host, grpc_port, services, tls=transport.server, authz=parts.people.authz()
    )
    await host.start()
    console = await start_hub_console(hub, settings, grpc_port, transport.secure)
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    lease = BackgroundLease(
        list(config.etcd_endpoints),
        hub_key(hub.state.node_id),
        _registration(hub),
        config.lease_ttl_s,
    )
    lease.start()
    HUB_INFO.info({"node": hub.state.node_id, "grpc": hub.state.grpc_endpoint})
    HUB_UP.labels(hub.state.node_id).set(1)
    HUB_LEADER.labels(hub.state.node_id).set_function(lambda: 1 if hub.state.is_leader else 0)
    await host.set_serving(True)
    settle_heap()
    log.info("hub %s serving on %s", hub.state.node_id, hub.state.grpc_endpoint)
    try:
        await stop.wait()
    finally:
        HUB_UP.labels(hub.state.node_id).set(0)
        if console is not None:
            await console.stop()
        await host.stop()
        await parts.stop()
        await nats.stop()
        await lease.stop()
        await engine.dispose()


async def start_hub_console(
    hub: Hub, settings: HubNodeSettings, grpc_port: int, secure: bool
) -> ConsoleServer | None:
    """The province console pages, a client of this hub's gRPC port (None: not asked
    for); ``secure``: the port requires mutual TLS, so the pages present their operator
    certificate."""
    if not settings.console.enabled:
        return None
    config = hub.config
    return await start_console(
        settings.console,
        hub.province,
        config.host,
        grpc_port,
        config.advertise_host,
        console_tls(settings.console, secure),
    )


def _registration(hub: Hub) -> str:
    return json.dumps(
        {
            "node": hub.state.node_id,
            "grpc": hub.state.grpc_endpoint,
            "metrics": hub.state.metrics_endpoint,
            "pid": os.getpid(),
            "started_at": time.time(),
        }
    )
