"""Composition root of the access edge process (``vcc edge``).

The edge serves the ``Edge`` gRPC service (callers place calls, key digits, hang up;
tools read the ledger), the ``Node`` service, health and reflection, Prometheus metrics,
and writes the final state of every call to a JSON-lines ledger in its data directory.
Open calls are swept periodically (a site that is gone loses its calls). Every part is
built here with plain constructors from the process options (``NodeConfig``) and the
edge's frozen settings (:mod:`vcc_site.edge.settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from vcc_domain.province import load_province_file
from vcc_failover.etcd_auth import use_credentials
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, start_metrics_server
from vcc_proto.pki import identity
from vcc_proto.server import GrpcHost, free_tcp_port, install_stop_signals, settle_heap
from vcc_proto.transport import open_transport
from vcc_site.edge.grpc_edge import edge_services
from vcc_site.edge.service import AccessEdge
from vcc_site.edge.settings import EdgeNodeSettings, EdgeSettings

log = logging.getLogger(__name__)


def build_edge(config: NodeConfig, settings: EdgeNodeSettings) -> AccessEdge:
    province = load_province_file(config.province_file)
    return AccessEdge(
        list(config.etcd_endpoints),
        province,
        static_endpoints=settings.sites.static_map(),
        rpc_timeout_s=settings.edge.rpc_timeout_s,
        ledger_path=ledger_path(config),
        route_refresh_s=settings.edge.route_refresh_s,
    )


def ledger_path(config: NodeConfig) -> Path:
    """Where the edge appends the final state of every call (JSON lines)."""
    return config.data_dir / f"{config.node_id or 'edge'}-ledger.jsonl"


async def run_edge(config: NodeConfig, settings: EdgeNodeSettings) -> None:
    """Run the access edge until SIGTERM/SIGINT."""
    configure_logging(config.log_level, config.log_file, config.log_format)
    use_credentials(settings.etcd_user.credentials())  # every etcd client of the process
    transport = open_transport(settings.tls, identity("edge", config.node_id or "edge"))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    edge = build_edge(config, settings)
    stop = asyncio.Event()
    install_stop_signals(stop)
    port = config.grpc_port or free_tcp_port(config.host)
    state = NodeState(
        kind="edge",
        site_id="",
        node_id=config.node_id or "edge",
        grpc_endpoint=f"{config.advertise_host}:{port}",
        metrics_endpoint=f"{config.advertise_host}:{config.metrics_port}"
        if config.metrics_port
        else "",
    )
    host = GrpcHost(
        config.host,
        port,
        [node_service(NodeInfoServicer(state)), *edge_services(edge)],
        tls=transport.server,
    )
    await host.start()
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    sweeper = asyncio.create_task(sweep_forever(edge, settings.edge), name="sweep")
    await host.set_serving(True)
    settle_heap()
    log.info(
        "edge %s serving on %s; ledger %s", state.node_id, state.grpc_endpoint, ledger_path(config)
    )
    try:
        await stop.wait()
    finally:
        log.info("edge %s stopping", state.node_id)
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await host.stop()
        await edge.close()


async def sweep_forever(edge: AccessEdge, settings: EdgeSettings) -> None:
    """Sweep open calls every ``sweep_every_s``; read each from its site every
    ``probe_every_s``. A failed pass (etcd away) is tried again on the next tick."""
    every = settings.sweep_every_s
    if every <= 0:
        return
    loop = asyncio.get_running_loop()
    next_probe = loop.time() + settings.probe_every_s
    while True:
        await asyncio.sleep(every)
        probe = settings.probe_every_s > 0 and loop.time() >= next_probe
        if probe:
            next_probe = loop.time() + settings.probe_every_s
        try:
            await edge.sweep(probe_live=probe)
        except Exception:  # a sweep must never stop the edge; the next one retries
            log.warning("edge sweep failed; retrying in %.1f s", every, exc_info=True)
