"""Composition root of the access edge process (``vcc edge``).

The edge serves the ``Edge`` gRPC service (callers place calls, key digits, hang up;
tools read the ledger), the ``Node`` service, health and reflection, Prometheus metrics,
and writes the final state of every call to a JSON-lines ledger in its data directory.
Open calls are swept periodically (a site that is gone loses its calls). Every part is
built here with plain constructors from one frozen :class:`EdgeSettings`, read from
flags and ``VCC_*`` variables by :func:`read_edge_settings` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_domain.province import load_province_file
from vcc_failover.sites import parse_static
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, start_metrics_server
from vcc_proto.server import GrpcHost, free_tcp_port, install_stop_signals, settle_heap
from vcc_site.edge.grpc_edge import edge_services
from vcc_site.edge.service import AccessEdge

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """Everything the edge process is told; see :data:`EDGE_SETTINGS` for each one."""

    province_file: Path
    data_dir: Path = Path(".vcc/data")
    etcd_endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    host: str = "127.0.0.1"
    advertise_host: str = ""
    grpc_port: int = 0
    metrics_port: int = 0
    node_id: str = "edge"
    log_file: Path | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    site_endpoints: str = ""
    rpc_timeout_s: float = 2.0
    route_refresh_s: float = 0.5
    sweep_every_s: float = 2.0
    probe_every_s: float = 10.0

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / f"{self.node_id}-ledger.jsonl"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the edge: its field, variable, meaning (defaults: the dataclass)."""

    name: str
    env: str
    help: str
    parse: Callable[[str], Any] = str


def _endpoints(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


def _path_or_none(text: str) -> Path | None:
    return Path(text) if text else None


EDGE_SETTINGS: tuple[Setting, ...] = (
    Setting("province_file", "VCC_PROVINCE", "Province file (TOML).", Path),
    Setting("data_dir", "VCC_DATA_DIR", "Where the edge writes its ledger.", Path),
    Setting("etcd_endpoints", "VCC_ETCD", "etcd endpoint(s) host:port, comma separated.",
            _endpoints),
    Setting("host", "VCC_HOST", "Address to listen on."),
    Setting("advertise_host", "VCC_ADVERTISE_HOST", "Host others use to reach the edge "
            "(default: --host)."),
    Setting("grpc_port", "VCC_GRPC_PORT", "gRPC port (0 = any free port).", int),
    Setting("metrics_port", "VCC_METRICS_PORT", "Prometheus /metrics port (0 = none).", int),
    Setting("node_id", "VCC_NODE_ID", "Stable name of this process."),
    Setting("log_file", "VCC_LOG_FILE", "Write logs here instead of stderr.", _path_or_none),
    Setting("log_level", "VCC_LOG_LEVEL", "Log level (DEBUG, INFO, ...)."),
    Setting("log_format", "VCC_LOG_FORMAT", "Log lines as text or json."),
    Setting("site_endpoints", "VCC_SITE_ENDPOINTS", "Fixed site endpoints "
            "KM=host:port,... (default: the registrations in etcd)."),
    Setting("rpc_timeout_s", "VCC_EDGE_RPC_TIMEOUT_S", "Deadline of each call to a site.", float),
    Setting("route_refresh_s", "VCC_EDGE_ROUTE_REFRESH_S", "Routing map re-read at most this "
            "often (0 = every call).", float),
    Setting("sweep_every_s", "VCC_EDGE_SWEEP_EVERY_S", "Open calls of sites that are gone "
            "are marked lost this often (0 = only when asked).", float),
    Setting("probe_every_s", "VCC_EDGE_PROBE_EVERY_S", "Every open call is read from its "
            "site this often (0 = only when asked).", float),
)


def read_edge_settings(flags: Mapping[str, str | None], env: Mapping[str, str]) -> EdgeSettings:
    """The edge's settings from raw text: a flag given (by setting name) wins over its
    ``VCC_*`` variable, which wins over the default. A value that does not parse is a
    clear ConfigError naming the flag or variable."""
    values: dict[str, Any] = {}
    for setting in EDGE_SETTINGS:
        flag = flags.get(setting.name)
        source = flag_name(setting) if flag is not None else setting.env
        raw = (flag if flag is not None else env.get(setting.env, "")).strip()
        if not raw:
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}={raw!r}: {exc}", field=source) from exc
    if "province_file" not in values:
        raise ConfigError("the edge needs a province file (--province or VCC_PROVINCE)",
                          field="--province")
    settings = EdgeSettings(**values)
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log format must be text or json, not {settings.log_format!r}",
                          field="--log-format")
    return settings


def flag_name(setting: Setting) -> str:
    """The command-line flag of a setting (``--province``, ``--etcd``, ``--grpc-port``)."""
    short = {"province_file": "province", "etcd_endpoints": "etcd"}
    return "--" + short.get(setting.name, setting.name).replace("_", "-")


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
