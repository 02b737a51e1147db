"""Pluggable parts of the hub, started in order by the composition root.

Each module here has ``async def start(ctx: HubContext) -> Component``. ``ha`` runs
first and may replace ``ctx.leadership``; the others read it for every write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.province import Province
from vcc_failover.leadership import Leadership
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.nodeinfo import NodeState
from vcc_proto.server import ServedService
from vcc_replication.background import BackgroundNats


@dataclass
class HubContext:
    config: NodeConfig
    province: Province  # the province file the hub was started with
    engine: AsyncEngine  # the hub database (shared by all hub processes in HA)
    nats: BackgroundNats
    state: NodeState
    leadership: Leadership
    clock: Clock
    extras: dict[str, object] = field(default_factory=dict)  # components share objects here


class Component(Protocol):
    def services(self) -> list[ServedService]: ...

    async def stop(self) -> None: ...


class NoComponent:
    """A component with nothing to serve (placeholder for a part not built yet)."""

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        return None


START_ORDER = ("ha", "directory", "events", "routing", "reports")
