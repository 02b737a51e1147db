"""Composition root of a site node: builds every part with plain constructors.

A site node serves its city's callers and agents: the Access, AgentDesk and Remote gRPC
services over the site's own database, plus its etcd lease (liveness and endpoint in the
routing map), its NATS connection, Prometheus metrics and the standard health service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field

from prometheus_client import Gauge, Info

from vcc_domain.clock import Clock
from vcc_domain.errors import ConfigError
from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_failover.etcd_auth import use_credentials
from vcc_failover.leadership import HubLocator, StaticHubLocator
from vcc_failover.locator import EtcdHubLocator
from vcc_failover.sites import SiteEndpointSettings
from vcc_proto.authz_interceptor import AuthzInterceptor, no_person
from vcc_proto.initial_secrets import read_hashes
from vcc_proto.names import site_key
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeInfoServicer, NodeState, node_service
from vcc_proto.observability import configure_logging, site_var, start_metrics_server
from vcc_proto.people_servicer import people_service
from vcc_proto.pki import identity
from vcc_proto.refusal_audit import RefusalAudit
from vcc_proto.server import (
    GrpcHost,
    ServedService,
    free_tcp_port,
    install_stop_signals,
    settle_heap,
)
from vcc_proto.status import ERRORS
from vcc_proto.transport import open_transport
from vcc_replication.background import BackgroundNats
from vcc_site.adapters.grpc_quality import quality_services
from vcc_site.adapters.grpc_site import Republisher, site_services
from vcc_site.adapters.grpc_workorders import work_order_services
from vcc_site.adapters.remote_customers import GrpcHomeSiteReader, GrpcHubCopyReader
from vcc_site.components import Component, NoComponent, SiteContext
from vcc_site.components.directory_sync import DirectorySyncComponent, start_directory_sync
from vcc_site.components.overflow import OverflowComponent
from vcc_site.components.relay import RelayComponent, start_relay
from vcc_site.components.transfer import HubTransfers, start_transfers
from vcc_site.components.workorders import start_work_orders
from vcc_site.service.access import AccessService
from vcc_site.service.assessment import AssessmentService
from vcc_site.service.callbacks import CallbackWork
from vcc_site.service.campaigns import HandoverService
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import RemoteCustomers, publish_profiles
from vcc_site.service.desk import DeskService
from vcc_site.service.moves import CallMoves
from vcc_site.service.notices import NoticeDispatcher, WebhookNotifier
from vcc_site.service.people import PeopleService
from vcc_site.service.quality import QualityService
from vcc_site.service.recordings import RecordingService, sweep_forever
from vcc_site.service.recovery import count_today, recover, seed_site
from vcc_site.service.refusals import refusal_audit
from vcc_site.service.selfservice import SelfService
from vcc_site.service.surveys import Surveys
from vcc_site.service.workorders import WorkOrderService  # work orders (issue 9)
from vcc_site.settings import (
    RemoteReadSettings,
    SiteNodeSettings,
    SiteSettings,
    load_site_settings,
)
from vcc_site.store.api import SiteStore
from vcc_site.store.sql import SqlSiteStore
from vcc_site.web.pages import SitePages, start_site_pages

log = logging.getLogger(__name__)

SITE_UP = Gauge("vcc_site_up", "1 while the site node process is serving", ["site"])
SITE_INFO = Info("vcc_site", "Static facts about this site node")


@dataclass
class SiteNode:
    config: NodeConfig
    site_id: str
    province: Province
    state: NodeState
    core: SiteCore
    access: AccessService
    desk: DeskService
    moves: CallMoves  # calls moving between sites
    fatal: asyncio.Event = field(default_factory=asyncio.Event)
    workorders: WorkOrderService | None = None
    people: PeopleService | None = None
    surveys: Surveys | None = None  # callers' ratings after the agent hangs up
    callbacks: CallbackWork | None = None
    handovers: HandoverService | None = None
    refusals: RefusalAudit | None = None  # audit of calls the authorization refused
    recordings: RecordingService | None = None  # call recordings kept here

    def build_services(self, republisher: Republisher | None = None) -> list[ServedService]:
        return [
            node_service(NodeInfoServicer(self.state)),
            *site_services(self.core, self.access, self.desk, self.moves, republisher),
            *(work_order_services(self.workorders, self.handovers) if self.workorders else []),
            *([people_service(self.people)] if self.people else []),
            *(self._quality() if self.surveys else []),
        ]

    def _quality(self) -> list[ServedService]:
        assert self.surveys is not None
        return quality_services(
            QualityService(self.core), AssessmentService(self.core), self.surveys, self.recordings
        )

    def authz(self) -> AuthzInterceptor:
        """The authorization check of a TLS port: node certificates and people's tokens."""
        if self.refusals is None:
            self.refusals = refusal_audit(self.core)
        return AuthzInterceptor(
            self.people.person_of if self.people else no_person, audit=self.refusals
        )


def load_site(
    config: NodeConfig,
    site_id: str,
    store: SiteStore,
    clock: Clock | None = None,
    settings: SiteNodeSettings | None = None,
) -> SiteNode:
    """Build a site node over ``store`` (nothing is started; ``settings``: the defaults)."""
    settings = settings or SiteNodeSettings()
    province = load_province_file(config.province_file)
    if site_id not in {s.id for s in province.sites}:
        known = ", ".join(s.id for s in province.sites)
        raise ConfigError(f"unknown site {site_id!r}; the province has {known}", field="--site")
    state = NodeState(kind="site", site_id=site_id, node_id=config.node_id or f"site-{site_id}")
    fatal = asyncio.Event()
    core = SiteCore(
        province, site_id, store, clock or settings.time.clock(), on_fatal=lambda _exc: fatal.set()
    )
    moves = CallMoves(core, answer_delay_s=settings.faults.transfer_answer_delay_ms / 1000)
    access = AccessService(core, SelfService(core), moves=moves)
    orders = WorkOrderService(core, settings.work_orders.calendar())
    if settings.notify.webhook:
        notifier = WebhookNotifier(settings.notify.webhook)
        orders.notices = NoticeDispatcher(notifier)
        access.selfservice.notifier = notifier  # one-time codes for setting a PIN
    desk = DeskService(core, moves)
    people = PeopleService(core)
    handovers = HandoverService(core, people.signed_in)  # leaders sign in to hand over
    people.leader_sign_out = handovers.release  # ... and out only once handed over
    callbacks = CallbackWork(core)  # callbacks are offered to agents like calls
    desk.callbacks = callbacks
    surveys = access.surveys = desk.surveys = Surveys(core)
    return SiteNode(
        config,
        site_id,
        province,
        state,
        core,
        access,
        desk,
        moves,
        fatal,
        orders,
        people,
        surveys=surveys,
        callbacks=callbacks,
        handovers=handovers,
        recordings=RecordingService(core, settings.recordings.folder_in(config.data_dir)),
    )


@dataclass
class SiteParts:
    """The site's parts that talk to the province, in start order."""

    directory: DirectorySyncComponent
    relay: RelayComponent
    transfers: HubTransfers
    overflow: OverflowComponent
    work_orders: Component

    def in_start_order(self) -> list[Component]:
        return [self.directory, self.relay, self.transfers, self.overflow, self.work_orders]

    async def stop(self) -> None:
        for part in reversed(self.in_start_order()):
            await part.stop()


async def start_parts(ctx: SiteContext, node: SiteNode, settings: SiteNodeSettings) -> SiteParts:
    """Start the site's province-facing parts in order: the directory (applied before
    serving), the outbox relay, the hub transfer client (given to the service moving calls
    between sites), overflow (asking that service to move waiting calls) and the
    work-order background."""
    directory = await start_directory_sync(ctx, settings.directory)
    relay = await start_relay(ctx, settings.relay)
    transfers = start_transfers(ctx, settings.sites)
    node.moves.remote_transfer, node.moves.peers = transfers.transfer, transfers.peers
    node.desk.board = transfers.board
    overflow = OverflowComponent(ctx, settings.overflow, node.moves)
    work_orders: Component = NoComponent()
    if node.workorders is not None:
        work_orders = start_work_orders(
            node.workorders, ctx.config.etcd_endpoints, settings.sites, settings.work_orders
        )
    return SiteParts(directory, relay, transfers, overflow, work_orders)


async def run_site(
    config: NodeConfig, site_id: str, settings: SiteNodeSettings | None = None
) -> None:
    """Run a site node until SIGTERM/SIGINT (or a fatal storage failure); ``settings``:
    default from the environment."""
    settings = settings or load_site_settings()
    configure_logging(config.log_level, config.log_file, config.log_format)
    use_credentials(settings.etcd_user.credentials())  # every etcd client of the process
    site_var.set(site_id)
    transport = open_transport(settings.tls, identity("site", site_id))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await SqlSiteStore.open(
        config.database_url or config.sqlite_url(f"site-{site_id}"), site_id
    )
    node = load_site(config, site_id, store, settings=settings)
    initial = read_hashes(config.data_dir, site_id)  # this site's people only
    await seed_site(node.core, settings.site.seed_customers, initial)
    await publish_profiles(node.core)
    taken_over = await recover(node.core)  # asked about once the components run
    log.info("the board counts %d calls ended here today", await count_today(node.core))

    stop = asyncio.Event()
    install_stop_signals(stop)
    grpc_port = config.grpc_port or free_tcp_port(config.host)
    node.state.grpc_endpoint = f"{config.advertise_host}:{grpc_port}"
    node.state.metrics_endpoint = f"{config.advertise_host}:{config.metrics_port}"
    nats = BackgroundNats(
        list(config.nats_urls), name=f"site-{site_id}", credentials=settings.nats_user.credentials()
    )
    nats.start()
    ctx = SiteContext(
        config=config,
        site_id=site_id,
        core=node.core,
        store=store,
        nats=nats,
        hub=hub_locator(config, settings.site),
        state=node.state,
    )
    readers = remote_readers(config, site_id, ctx.hub, settings.sites)
    node.access.remote = remote_customers(node, readers, settings.remote_read)
    parts = await start_parts(ctx, node, settings)
    settling = node.moves.settle(taken_over)  # their origins say who owns them;
    await asyncio.wait({settling}, timeout=settings.site.settle_first_s)  # most answer at once
    services = node.build_services(parts.relay.relay) + [
        svc for c in parts.in_start_order() for svc in c.services()
    ]
    host = GrpcHost(config.host, grpc_port, services, tls=transport.server, authz=node.authz())
    await host.start()
    if config.metrics_port:
        start_metrics_server(config.metrics_port, config.host)
    lease = BackgroundLease(
        list(config.etcd_endpoints), site_key(site_id), _registration(node), config.lease_ttl_s
    )
    lease.start()
    figures = asyncio.create_task(_every_second(node), name="figures")
    sweeping = [
        asyncio.create_task(sweep_forever(r, settings.recordings.sweep_s), name="recordings")
        for r in (node.recordings,)
        if r is not None
    ]
    SITE_INFO.info({"site": site_id, "grpc": node.state.grpc_endpoint})
    SITE_UP.labels(site_id).set(1)
    web: SitePages | None = None
    try:
        web = await start_site_pages(
            config,
            site_id,
            node.province,
            node.core.clock,
            settings.web,
            grpc_port,
            transport.secure,
        )
        await host.set_serving(True)
        settle_heap()
        log.info("site %s serving on %s", site_id, node.state.grpc_endpoint)
        done = {asyncio.create_task(stop.wait()), asyncio.create_task(node.fatal.wait())}
        await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("site %s stopping", site_id)
        SITE_UP.labels(site_id).set(0)
        figures.cancel()
        for task in sweeping:
            task.cancel()
        settling.cancel()
        if web is not None:
            await web.stop()
        await host.stop()
        node.core.cancel_timers()
        await node.core.drain()
        await parts.stop()
        await nats.stop()
        await lease.stop()
        for reader in readers:
            await reader.close()
        await store.close()
    if node.fatal.is_set():
        raise SystemExit("site stopped after a storage failure; see the log")


def remote_readers(
    config: NodeConfig, site_id: str, hub: HubLocator, sites: SiteEndpointSettings
) -> tuple[GrpcHomeSiteReader, GrpcHubCopyReader]:
    """Readers of customers homed elsewhere: other sites (endpoints from etcd, or the
    static map ``VCC_SITE_ENDPOINTS``) and the hub's copy."""
    return (
        GrpcHomeSiteReader(site_id, sites.endpoints(config.etcd_endpoints)),
        GrpcHubCopyReader(site_id, hub),
    )


def remote_customers(
    node: SiteNode,
    readers: tuple[GrpcHomeSiteReader, GrpcHubCopyReader],
    settings: RemoteReadSettings,
) -> RemoteCustomers:
    """Remote customer reads: at most ``budget_ms`` at the home site, the same again at
    the hub, results reused for ``cache_ms``."""
    budget_ms = settings.budget_for(node.province.routing.remote_read_timeout_ms)
    return RemoteCustomers(
        node.core,
        readers[0],
        readers[1],
        budget_ms=budget_ms,
        hub_budget_ms=budget_ms,
        cache_ms=settings.cache_ms,
    )


def hub_locator(config: NodeConfig, settings: SiteSettings) -> HubLocator:
    """How this site finds the hub leader: a fixed endpoint if configured, else etcd."""
    if settings.hub_endpoint:
        return StaticHubLocator(settings.hub_endpoint)
    return EtcdHubLocator(list(config.etcd_endpoints))


def _registration(node: SiteNode) -> str:
    return json.dumps(
        {
            "site": node.site_id,
            "grpc": node.state.grpc_endpoint,
            "metrics": node.state.metrics_endpoint,
            "pid": os.getpid(),
            "started_at": time.time(),
        }
    )


async def _every_second(node: SiteNode) -> None:
    """Publish the gauges; end calls past the IVR or queue time limit."""
    while True:
        with contextlib.suppress(Exception):
            node.core.publish_figures()
        if node.refusals is not None:  # the summaries of a minute of refused calls
            await node.refusals.flush()
        ERRORS.flush()  # and of the handlers' unexpected errors not logged
        try:
            await node.access.enforce_limits()
        except Exception:
            log.exception("site: ending calls past their time limits failed")
        if node.callbacks is not None:
            try:
                await node.callbacks.offer_due()
            except Exception:
                log.exception("site: offering due callbacks failed")
        await asyncio.sleep(1.0)
