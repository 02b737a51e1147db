"""The hub's parts, each built by a plain function the composition root calls in order
(``vcc_hub.app.start_parts``): high availability first (it decides leadership), then the
directory, site events, routing and reports, each given what it needs explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.province import Province
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeState
from vcc_proto.server import ServedService
from vcc_replication.background import BackgroundNats


@dataclass
class HubContext:
    """What every hub part may use: the process's configuration and connections."""

    config: NodeConfig
    province: Province  # the province file the hub was started with
    engine: AsyncEngine  # the hub database (shared by all hub processes in HA)
    nats: BackgroundNats
    state: NodeState
    clock: Clock


class Component(Protocol):
    def services(self) -> list[ServedService]: ...

    async def stop(self) -> None: ...


class NoComponent:
    """A part with nothing to serve or stop (e.g. HA without etcd)."""

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        return None
