"""The site's parts that talk to the province (hub, broker, other sites).

The composition root (``vcc_site.app``) builds them in order with plain constructors,
giving each its settings and the objects it uses; they start after the site can serve its
callers and never block it: a site keeps serving with the hub gone.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """What every site part may use: the process's configuration and connections."""

    config: NodeConfig
    site_id: str
    core: SiteCore
    store: SqlSiteStore
    nats: BackgroundNats
    hub: HubLocator
    state: NodeState


class Component(Protocol):
    def services(self) -> list[ServedService]: ...

    async def stop(self) -> None: ...


class NoComponent:
    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        return None
