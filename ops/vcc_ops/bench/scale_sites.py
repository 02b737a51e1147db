"""Light sites for ``vcc bench scale``: many sites' province-facing parts in one process.

``python -m vcc_ops.bench.scale_sites CONFIG.json OUT.json`` runs one light site per ID
in the config as asyncio tasks of this one process. A light site has no ACD, no agents
and no gRPC server; it has what a site uses to talk to the province, the real code of a
site node (:mod:`vcc_site.app` builds the same parts):

* its own SQLite database (:class:`~vcc_site.store.sql.SqlSiteStore`) and outbox;
* its own NATS connection and the real outbox relay (events up to the hub through
  JetStream, the hub's confirmations, pruning);
* the real directory sync (JetStream deltas, gRPC catch-up from the hub leader), its
  province swapped into a stand-in for the ACD core; the time each version was applied
  is recorded;
* its etcd lease and registration (``/vcc/sites/<ID>``), which the hub's routing map
  follows, and the hub leader found through etcd;
* the queue figures reported to the hub leader every second (``ReportQueueFigures``), as
  the overflow component does.

Protocol with the driver (:mod:`vcc_ops.bench.scale`): print ``MARK_READY`` once every
site is registered; on ``GO_SIGNAL``, commit the five events of one answered call
(queued, agent busy, answered, ended, CDR) every ``1 / calls_per_site_s`` seconds at each
site for ``seconds`` seconds; print ``MARK_PRODUCED <events>``; on ``STOP_SIGNAL``, write the directory versions' apply times to OUT.json and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc.aio

from vcc_domain.province import Province, load_province_file
from vcc_failover.background import BackgroundLease
from vcc_failover.hub_client import LeaderClient
from vcc_failover.locator import EtcdHubLocator
from vcc_ops.bench.replication import events_for_call
from vcc_proto.names import site_key
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeState
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_replication.background import BackgroundNats
from vcc_site.components import SiteContext
from vcc_site.service.core import SiteCore
from vcc_site.settings import DirectorySyncSettings
from vcc_site.store.api import UnitOfWork
from vcc_site.store.sql import SqlSiteStore
from vcc_site.sync.directory import DirectorySync
from vcc_site.sync.relay import OutboxRelay, RelaySettings

MARK_READY = "SCALE-SITES ready"
MARK_PRODUCED = "SCALE-SITES produced"
GO_SIGNAL = signal.SIGUSR1  # start the events
STOP_SIGNAL = signal.SIGUSR2  # write the result and stop
LEASE_TTL_S = 2.0
FIGURES_EVERY_S = 1.0


@dataclass(frozen=True)
class SitesConfig:
    sites: list[str]
    province_file: str
    nats_url: str
    etcd: list[str]
    data_dir: str
    calls_per_site_s: float
    seconds: float


@dataclass
class _Core:
    """What the directory sync swaps a new version into (a site's ACD core has more)."""

    province: Province
    policy: Any = None


class TimedDirectorySync(DirectorySync):
    """The real directory sync, noting when each version was applied (wall clock)."""

    def __init__(self, ctx: SiteContext, *, poll_every_s: float) -> None:
        self.applied_at: dict[int, float] = {}
        super().__init__(ctx, poll_every_s=poll_every_s)

    def _publish_version(self) -> None:
        super()._publish_version()
        self.applied_at.setdefault(self.version, time.time())


@dataclass
class LightSite:
    site_id: str
    cfg: SitesConfig
    province: Province
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        cfg, sid = self.cfg, self.site_id
        data = Path(cfg.data_dir)
        self.store = await SqlSiteStore.open(f"sqlite:///{data / f'site-{sid}.db'}", sid)
        self.nats = BackgroundNats([cfg.nats_url], name=f"site-{sid}")
        self.nats.start()
        self.hub = EtcdHubLocator(list(cfg.etcd))
        config = NodeConfig(Path(cfg.province_file), data, (cfg.nats_url,), tuple(cfg.etcd))
        ctx = SiteContext(
            config=config,
            site_id=sid,
            core=cast(SiteCore, _Core(self.province, self.province.routing)),
            store=self.store,
            nats=self.nats,
            hub=self.hub,
            state=NodeState(kind="site", site_id=sid, node_id=f"light-{sid}"),
        )
        self.directory = TimedDirectorySync(ctx, poll_every_s=DirectorySyncSettings().poll_s)
        await self.directory.load()
        self.directory.start()
        self.relay = OutboxRelay(self.store, self.nats, sid, self.hub, RelaySettings())
        await self.relay.start()
        registration = json.dumps({"site": sid, "grpc": "", "light": True})
        self.lease = BackgroundLease(list(cfg.etcd), site_key(sid), registration, LEASE_TTL_S)
        self.lease.start()
        self.figures = LeaderClient(self.hub, attempts=1, deadline_s=1.0)
        self.tasks.append(asyncio.create_task(self._report_figures()))

    async def registered(self) -> None:
        await self.lease.registered.wait()

    async def _report_figures(self) -> None:
        businesses = [b.id for b in self.province.businesses][:4]
        while True:
            now_ms = int(time.time() * 1000)
            figures = [
                c.QueueFigures(site_id=self.site_id, business_id=b, agents_ready=1, as_of_ms=now_ms)
                for b in businesses
            ]
            request = h.ReportQueueFiguresRequest(site_id=self.site_id, figures=figures)
            with contextlib.suppress(Exception):  # a site carries on without the hub
                await self.figures.call(functools.partial(_send_figures, request))
            await asyncio.sleep(FIGURES_EVERY_S)

    async def produce(self, offset_s: float) -> int:
        """One call's events every ``1 / calls_per_site_s`` s for ``seconds`` s."""
        gap = 1.0 / self.cfg.calls_per_site_s
        start = time.monotonic() + offset_s * gap  # sites spread over the first gap
        produced, i = 0, 0
        while (due := start + i * gap) < start + self.cfg.seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            uow = UnitOfWork()
            uow.emit(*events_for_call(i, int(time.time() * 1000), self.site_id))
            await self.store.commit(uow)
            produced += len(uow.events)
            i += 1
        return produced

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.figures.close()
        await self.directory.stop()
        await self.relay.stop()
        await self.nats.stop()
        await self.lease.stop()
        await self.store.close()


async def _send_figures(request: h.ReportQueueFiguresRequest, channel: grpc.aio.Channel) -> None:
    await hg.RoutingStub(channel).ReportQueueFigures(request, timeout=1.0)


def _on_signal(sig: signal.Signals) -> asyncio.Event:
    """An event set when this process receives ``sig`` (the driver's go and stop)."""
    event = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(sig, event.set)
    return event


async def run_sites(cfg: SitesConfig) -> dict[str, Any]:
    province = load_province_file(Path(cfg.province_file))
    go, stop = _on_signal(GO_SIGNAL), _on_signal(STOP_SIGNAL)
    sites = [LightSite(sid, cfg, province) for sid in cfg.sites]
    for site in sites:  # one after another, as sites come up
        await site.start()
    await asyncio.wait_for(asyncio.gather(*(s.registered() for s in sites)), 120)
    print(MARK_READY, flush=True)
    await go.wait()
    n = len(sites)
    produced = await asyncio.gather(*(s.produce(i / n) for i, s in enumerate(sites)))
    print(f"{MARK_PRODUCED} {sum(produced)}", flush=True)
    await stop.wait()
    out = {
        "produced": sum(produced),
        "applied_at": {s.site_id: s.directory.applied_at for s in sites},
    }
    for site in sites:
        await site.stop()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m vcc_ops.bench.scale_sites CONFIG.json OUT.json", file=sys.stderr)
        return 2
    cfg = SitesConfig(**json.loads(Path(argv[0]).read_text()))
    result = asyncio.run(run_sites(cfg))
    Path(argv[1]).write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
