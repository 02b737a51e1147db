"""Pluggable parts of a site node that talk to the province (hub, broker).

Each module here has ``async def start(ctx: SiteContext) -> Component``; they start after
the site serves its callers and never block it: a site keeps serving with the hub gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from vcc_failover.leadership import HubLocator
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeState
from vcc_proto.server import ServedService
from vcc_replication.background import BackgroundNats
from vcc_site.service.core import SiteCore
from vcc_site.store.sql import SqlSiteStore


@dataclass
class SiteContext:
    config: NodeConfig
    site_id: str
    core: SiteCore
    store: SqlSiteStore
    nats: BackgroundNats
    hub: HubLocator
    state: NodeState
    extras: dict[str, object] = field(default_factory=dict)


class Component(Protocol):
    def services(self) -> list[ServedService]: ...

    async def stop(self) -> None: ...


class NoComponent:
    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        return None


START_ORDER = ("directory_sync", "relay", "transfer", "overflow", "workorders")
