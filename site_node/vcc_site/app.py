"""Composition root of a site node: builds every part with plain constructors.

A site node serves its city's callers and agents: the Access, AgentDesk and Remote gRPC
services over the site's own database, plus its etcd lease (liveness and endpoint in the
routing map), its NATS connection, Prometheus metrics and the standard health service.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import cast

from prometheus_client import Gauge, Info

from vcc_domain.clock import Clock
from vcc_domain.errors import ConfigError
from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_failover.leadership import HubLocator, StaticHubLocator
from vcc_failover.locator import EtcdHubLocator
from vcc_failover.sites import STATIC_ENV, SiteEndpoints, parse_static
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
from vcc_replication.background import BackgroundNats
from vcc_site.adapters.grpc_site import Republisher, republisher_in, site_services
from vcc_site.adapters.grpc_workorders import work_order_services
from vcc_site.adapters.remote_customers import GrpcHomeSiteReader, GrpcHubCopyReader
from vcc_site.components import START_ORDER, Component, SiteContext
from vcc_site.components.workorders import calendar_from_config
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import RemoteCustomers, publish_profiles
from vcc_site.service.desk import DeskService
from vcc_site.service.notices import NoticeDispatcher, WebhookNotifier
from vcc_site.service.ownership import start_settling
from vcc_site.service.recovery import recover, seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.service.transfer import RemoteTransfer
from vcc_site.service.workorders import WorkOrderService  # work orders (issue 9)
from vcc_site.store.api import SiteStore
from vcc_site.store.sql import SqlSiteStore

log = logging.getLogger(__name__)

SITE_UP = Gauge("vcc_site_up", "1 while the site node process is serving", ["site"])
SITE_INFO = Info("vcc_site", "Static facts about this site node")

SITE_KEY_PREFIX = "/vcc/sites/"
DEFAULT_CUSTOMERS = 2000
REMOTE_READ_BUDGET_MS = 300  # the most a remote customer read may add to call setup
CUSTOMER_CACHE_MS = 2000  # how long a remote read's result is reused
SETTLE_FIRST_S = 2.0  # calls taken over before a crash: wait this long for the origins
# to say who owns them before serving (the rest is asked about in the background)


@dataclass
class SiteNode:
    config: NodeConfig
    site_id: str
    province: Province
    state: NodeState
    core: SiteCore
    access: AccessService
    desk: DeskService
    fatal: asyncio.Event = field(default_factory=asyncio.Event)
    workorders: WorkOrderService | None = None

    def build_services(self, republisher: Republisher | None = None) -> list[ServedService]:
        return [node_service(NodeInfoServicer(self.state)),
                *site_services(self.core, self.access, self.desk, republisher),
                *(work_order_services(self.workorders) if self.workorders else [])]


def load_site(config: NodeConfig, site_id: str, store: SiteStore,
              clock: Clock | None = None) -> SiteNode:
    """Build a site node over ``store`` (nothing is started)."""
    province = load_province_file(config.province_file)
    if site_id not in {s.id for s in province.sites}:
        known = ", ".join(s.id for s in province.sites)
        raise ConfigError(f"unknown site {site_id!r}; the province has {known}", field="--site")
    state = NodeState(kind="site", site_id=site_id, node_id=config.node_id or f"site-{site_id}")
    fatal = asyncio.Event()
    core = SiteCore(province, site_id, store, clock or clock_from_env(),
                    on_fatal=lambda _exc: fatal.set())
    access = AccessService(core, SelfService(core))
    orders = WorkOrderService(core, calendar_from_config(config))
    webhook = config.extra.get("notify_webhook") or os.environ.get("VCC_NOTIFY_WEBHOOK", "")
    if webhook:
        orders.notices = NoticeDispatcher(WebhookNotifier(webhook))
    return SiteNode(config, site_id, province, state, core, access, DeskService(core), fatal,
                    orders)


async def run_site(config: NodeConfig, site_id: str) -> None:
    """Run a site node until SIGTERM/SIGINT (or a fatal storage failure)."""
    configure_logging(config.log_level, config.log_file, config.log_format)
    site_var.set(site_id)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await SqlSiteStore.open(config.database_url or config.sqlite_url(f"site-{site_id}"),
                                    site_id)
    node = load_site(config, site_id, store)
    customers = int(config.extra.get("seed_customers", DEFAULT_CUSTOMERS))
    await seed_site(node.core, customers)
    await publish_profiles(node.core)
    taken_over = await recover(node.core)  # asked about once the components run

    stop = asyncio.Event()
    install_stop_signals(stop)
    grpc_port = config.grpc_port or free_tcp_port(config.host)
    node.state.grpc_endpoint = f"{config.advertise_host}:{grpc_port}"
    node.state.metrics_endpoint = f"{config.advertise_host}:{config.metrics_port}"
    nats = BackgroundNats(list(config.nats_urls), name=f"site-{site_id}")
    nats.start()
    ctx = SiteContext(config=config, site_id=site_id, core=node.core, store=store, nats=nats,
                      hub=hub_locator(config), state=node.state)
    readers = remote_readers(config, site_id, ctx.hub)
    budget_ms, cache_ms = remote_read_limits(config, node.province)
    node.access.remote = RemoteCustomers(node.core, readers[0], readers[1], budget_ms=budget_ms,
                                         hub_budget_ms=budget_ms, cache_ms=cache_ms)
    ctx.extras["call_lock"] = node.access._lock  # the overflow monitor moves calls under it
    ctx.extras["workorders"] = node.workorders  # forwarder and overdue scan: components
    components = await start_components(ctx)
    node.desk.remote_transfer = remote_transfer_in(ctx.extras)
    settling = start_settling(node.core, taken_over)  # their origins say who owns them;
    await asyncio.wait({settling}, timeout=SETTLE_FIRST_S)  # most answer at once
    services = node.build_services(republisher_in(ctx.extras)) + [
        svc for c in components for svc in c.services()]
    host = GrpcHost(config.host, grpc_port, services)
    await host.start()
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    lease = BackgroundLease(list(config.etcd_endpoints), SITE_KEY_PREFIX + site_id,
                            _registration(node), config.lease_ttl_s)
    lease.start()
    figures = asyncio.create_task(_publish_figures(node.core), name="figures")
    SITE_INFO.info({"site": site_id, "grpc": node.state.grpc_endpoint})
    SITE_UP.labels(site_id).set(1)
    await host.set_serving(True)
    settle_heap()
    log.info("site %s serving on %s", site_id, node.state.grpc_endpoint)
    try:
        done = {asyncio.create_task(stop.wait()), asyncio.create_task(node.fatal.wait())}
        await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("site %s stopping", site_id)
        SITE_UP.labels(site_id).set(0)
        figures.cancel()
        settling.cancel()
        await host.stop()
        node.core.cancel_timers()
        await node.core.drain()
        for component in reversed(components):
            await component.stop()
        await nats.stop()
        await lease.stop()
        for reader in readers:
            await reader.close()
        await store.close()
    if node.fatal.is_set():
        raise SystemExit("site stopped after a storage failure; see the log")


async def start_components(ctx: SiteContext) -> list[Component]:
    started: list[Component] = []
    for name in START_ORDER:
        module = importlib.import_module(f"vcc_site.components.{name}")
        started.append(await module.start(ctx))
    return started


def remote_readers(config: NodeConfig, site_id: str,
                   hub: HubLocator) -> tuple[GrpcHomeSiteReader, GrpcHubCopyReader]:
    """Readers of customers homed elsewhere: other sites (endpoints from etcd, or the
    static map ``site_endpoints`` / ``VCC_SITE_ENDPOINTS``) and the hub's copy."""
    static = config.extra.get("site_endpoints") or os.environ.get(STATIC_ENV, "")
    endpoints = SiteEndpoints(list(config.etcd_endpoints), parse_static(static))
    return GrpcHomeSiteReader(site_id, endpoints), GrpcHubCopyReader(site_id, hub)


def remote_read_limits(config: NodeConfig, province: Province) -> tuple[int, int]:
    """How long a remote customer read may hold up call setup, and how long results are
    cached: at most 300 ms (or the province's ``remote_read_timeout_ms`` if lower) at the
    home site, the same again at the hub (budget, cache ms); overridable by ``VCC_REMOTE_READ_BUDGET_MS`` and
    ``VCC_CUSTOMER_CACHE_MS``."""
    def setting(name: str, default: int) -> int:
        raw = config.extra.get(name.lower()) or os.environ.get(f"VCC_{name}", "")
        return int(raw) if raw.strip().isdigit() else default

    budget = setting("REMOTE_READ_BUDGET_MS",
                     min(REMOTE_READ_BUDGET_MS, province.routing.remote_read_timeout_ms))
    return budget, setting("CUSTOMER_CACHE_MS", CUSTOMER_CACHE_MS)


def remote_transfer_in(extras: dict[str, object]) -> RemoteTransfer | None:
    """The hub transfer client the ``transfer`` component registered, if any."""
    found = extras.get("remote_transfer")
    return cast(RemoteTransfer, found) if callable(found) else None


def hub_locator(config: NodeConfig) -> HubLocator:
    """How this site finds the hub leader: a fixed endpoint if configured, else etcd."""
    fixed = config.extra.get("hub_endpoint", "")
    if fixed:
        return StaticHubLocator(fixed)
    return EtcdHubLocator(list(config.etcd_endpoints))


def _registration(node: SiteNode) -> str:
    return json.dumps({
        "site": node.site_id,
        "grpc": node.state.grpc_endpoint,
        "metrics": node.state.metrics_endpoint,
        "pid": os.getpid(),
        "started_at": time.time(),
    })


async def _publish_figures(core: SiteCore) -> None:
    while True:
        with contextlib.suppress(Exception):
            core.publish_figures()
        await asyncio.sleep(1.0)
