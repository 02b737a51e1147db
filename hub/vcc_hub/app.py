"""Composition root of the provincial hub.

The hub keeps the shared directory and business models, brokers routing between sites,
and consolidates statistics and settlement. This module wires the gRPC host, metrics,
the hub's database, its etcd registration and its NATS connection (creating the
province's JetStream streams); the directory, routing and report services plug into
``build_services``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass

from nats.js import JetStreamContext
from prometheus_client import Gauge, Info

from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_failover.leadership import StaticLeadership
from vcc_hub.components import START_ORDER, Component, HubContext
from vcc_proto.nodeconfig import NodeConfig, clock_from_env
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, site_var, start_metrics_server
from vcc_proto.server import (
    GrpcHost,
    ServedService,
    free_tcp_port,
    install_stop_signals,
    settle_heap,
)
from vcc_replication import fencing
from vcc_replication.background import BackgroundNats
from vcc_replication.db import make_engine, ping
from vcc_replication.streams import ensure_province_streams

log = logging.getLogger(__name__)

HUB_UP = Gauge("vcc_hub_up", "1 while the hub process is serving", ["node"])
HUB_INFO = Info("vcc_hub", "Static facts about this hub process")

HUB_KEY_PREFIX = "/vcc/hubs/"


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


async def start_components(ctx: HubContext) -> list[Component]:
    """Start every hub component in order (``ha`` first: it decides leadership)."""
    started: list[Component] = []
    for name in START_ORDER:
        module = importlib.import_module(f"vcc_hub.components.{name}")
        started.append(await module.start(ctx))
    return started


async def run_hub(config: NodeConfig) -> None:
    """Run a hub process until SIGTERM/SIGINT."""
    configure_logging(config.log_level, config.log_file, config.log_format)
    hub = load_hub(config)
    site_var.set(hub.state.node_id)
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
        await ensure_province_streams(js, replicas=config.stream_replicas)

    nats = BackgroundNats(list(config.nats_urls), name=hub.state.node_id,
                          on_connected=on_connected)
    nats.start()
    ctx = HubContext(config=config, province=hub.province, engine=engine, nats=nats,
                     state=hub.state, leadership=StaticLeadership(hub.state.grpc_endpoint),
                     clock=clock_from_env())
    components = await start_components(ctx)
    services = hub.build_services() + [svc for c in components for svc in c.services()]
    host = GrpcHost(config.host, grpc_port, services)
    await host.start()
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    lease = BackgroundLease(list(config.etcd_endpoints), HUB_KEY_PREFIX + hub.state.node_id,
                            _registration(hub), config.lease_ttl_s)
    lease.start()
    HUB_INFO.info({"node": hub.state.node_id, "grpc": hub.state.grpc_endpoint})
    HUB_UP.labels(hub.state.node_id).set(1)
    await host.set_serving(True)
    settle_heap()
    log.info("hub %s serving on %s", hub.state.node_id, hub.state.grpc_endpoint)
    try:
        await stop.wait()
    finally:
        HUB_UP.labels(hub.state.node_id).set(0)
        await host.stop()
        for component in reversed(components):
            await component.stop()
        await nats.stop()
        await lease.stop()
        await engine.dispose()


def _registration(hub: Hub) -> str:
    return json.dumps({
        "node": hub.state.node_id,
        "grpc": hub.state.grpc_endpoint,
        "metrics": hub.state.metrics_endpoint,
        "pid": os.getpid(),
        "started_at": time.time(),
    })
