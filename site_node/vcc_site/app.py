"""Composition root of a site node: builds every part with plain constructors.

A site node serves its city's callers and agents. This module wires the gRPC host,
metrics, the site's database, its etcd lease (liveness + endpoint in the routing map) and
its NATS connection; the call-handling services plug into ``build_services``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass

from prometheus_client import Gauge, Info

from vcc_domain.errors import ConfigError
from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, site_var, start_metrics_server
from vcc_proto.server import GrpcHost, ServedService, install_stop_signals
from vcc_replication.background import BackgroundNats
from vcc_replication.db import make_engine, ping

log = logging.getLogger(__name__)

SITE_UP = Gauge("vcc_site_up", "1 while the site node process is serving", ["site"])
SITE_INFO = Info("vcc_site", "Static facts about this site node")

SITE_KEY_PREFIX = "/vcc/sites/"


@dataclass
class SiteNode:
    config: NodeConfig
    site_id: str
    province: Province
    state: NodeState

    def build_services(self) -> list[ServedService]:
        return [node_service(NodeInfoServicer(self.state))]


def load_site(config: NodeConfig, site_id: str) -> SiteNode:
    province = load_province_file(config.province_file)
    if site_id not in {s.id for s in province.sites}:
        known = ", ".join(s.id for s in province.sites)
        raise ConfigError(f"unknown site {site_id!r}; the province has {known}", field="--site")
    state = NodeState(kind="site", site_id=site_id, node_id=config.node_id or site_id)
    return SiteNode(config=config, site_id=site_id, province=province, state=state)


async def run_site(config: NodeConfig, site_id: str) -> None:
    """Run a site node until SIGTERM/SIGINT."""
    configure_logging(config.log_level, config.log_file)
    site_var.set(site_id)
    node = load_site(config, site_id)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url or config.sqlite_url(f"site-{site_id}"))
    await ping(engine)

    stop = asyncio.Event()
    install_stop_signals(stop)
    host = GrpcHost(config.host, config.grpc_port, node.build_services())
    grpc_port = await host.start()
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    node.state.grpc_endpoint = f"{config.advertise_host}:{grpc_port}"
    node.state.metrics_endpoint = f"{config.advertise_host}:{config.metrics_port}"

    registration = json.dumps(
        {
            "site": site_id,
            "grpc": node.state.grpc_endpoint,
            "metrics": node.state.metrics_endpoint,
            "pid": os.getpid(),
            "started_at": time.time(),
        }
    )
    lease = BackgroundLease(
        list(config.etcd_endpoints), SITE_KEY_PREFIX + site_id, registration, config.lease_ttl_s
    )
    nats = BackgroundNats(list(config.nats_urls), name=f"site-{site_id}")
    lease.start()
    nats.start()
    SITE_INFO.info({"site": site_id, "grpc": node.state.grpc_endpoint})
    SITE_UP.labels(site_id).set(1)
    await host.set_serving(True)
    log.info("site %s serving on %s", site_id, node.state.grpc_endpoint)
    try:
        await stop.wait()
    finally:
        log.info("site %s stopping", site_id)
        SITE_UP.labels(site_id).set(0)
        await host.stop()
        await nats.stop()
        await lease.stop()
        await engine.dispose()
