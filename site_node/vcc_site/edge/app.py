"""Composition root of the access edge process (``vcc edge``).

The edge serves the ``Edge`` gRPC service (callers place calls, key digits, hang up;
tools read the ledger), the ``Node`` service, health and reflection, Prometheus metrics,
and writes the final state of every call to a JSON-lines ledger in its data directory.
Open calls are swept periodically (a site that is gone loses its calls). Every part is
built here with plain constructors from one frozen
:class:`~vcc_site.edge.settings.EdgeSettings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vcc_domain.province import load_province_file
from vcc_failover.sites import parse_static
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, start_metrics_server
from vcc_proto.server import GrpcHost, free_tcp_port, install_stop_signals, settle_heap
from vcc_site.edge.grpc_edge import edge_services
from vcc_site.edge.service import AccessEdge
from vcc_site.edge.settings import EdgeSettings

log = logging.getLogger(__name__)


def build_edge(settings: EdgeSettings) -> AccessEdge:
    province = load_province_file(settings.province_file)
    return AccessEdge(list(settings.etcd_endpoints), province,
                      static_endpoints=parse_static(settings.site_endpoints),
                      rpc_timeout_s=settings.rpc_timeout_s, ledger_path=settings.ledger_path,
                      route_refresh_s=settings.route_refresh_s)


async def run_edge(settings: EdgeSettings) -> None:
    """Run the access edge until SIGTERM/SIGINT."""
    configure_logging(settings.log_level, settings.log_file, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    edge = build_edge(settings)
    stop = asyncio.Event()
    install_stop_signals(stop)
    port = settings.grpc_port or free_tcp_port(settings.host)
    advertise = settings.advertise_host or settings.host
    state = NodeState(kind="edge", site_id="", node_id=settings.node_id,
                      grpc_endpoint=f"{advertise}:{port}",
                      metrics_endpoint=f"{advertise}:{settings.metrics_port}"
                      if settings.metrics_port else "")
    host = GrpcHost(settings.host, port,
                    [node_service(NodeInfoServicer(state)), *edge_services(edge)])
    await host.start()
    if settings.metrics_port:
        start_metrics_server(settings.metrics_port, settings.host)
    sweeper = asyncio.create_task(sweep_forever(edge, settings), name="sweep")
    await host.set_serving(True)
    settle_heap()
    log.info("edge %s serving on %s; ledger %s", settings.node_id, state.grpc_endpoint,
             settings.ledger_path)
    try:
        await stop.wait()
    finally:
        log.info("edge %s stopping", settings.node_id)
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
