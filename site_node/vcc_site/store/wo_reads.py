"""Reads of work orders, campaign entries and handovers, on the SQL or the memory store.

Writes go through :meth:`SiteStore.commit` like every other row (see ``wo_tables``).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.sql import Select

from vcc_domain.handover import Handover
from vcc_domain.outbound import CampaignEntry
from vcc_domain.workorders import CLOSED, WorkOrder
from vcc_site.store import tables as t
from vcc_site.store import wo_tables as w


class WorkOrderReads(Protocol):
    async def order(self, order_id: str) -> WorkOrder | None: ...
    async def orders(
        self, *, open_only: bool = False, state: str = "", incident: str = "", limit: int = 10_000
    ) -> list[WorkOrder]: ...
    async def entries(self, campaign_id: str) -> list[CampaignEntry]: ...
    async def handover(self, handover_id: str) -> Handover | None: ...
    async def handovers(self, limit: int = 100) -> list[Handover]: ...


class SqlWorkOrderReads:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def _all(self, kind: type[Any], stmt: Select[Any]) -> list[Any]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [t.from_row(kind, row) for row in rows]

    async def order(self, order_id: str) -> WorkOrder | None:
        found = await self._all(
            WorkOrder, select(w.work_orders).where(w.work_orders.c.order_id == order_id)
        )
        return found[0] if found else None

    async def orders(
        self, *, open_only: bool = False, state: str = "", incident: str = "", limit: int = 10_000
    ) -> list[WorkOrder]:
        c = w.work_orders.c
        stmt = select(w.work_orders)
        if open_only:
            stmt = stmt.where(c.state != CLOSED)
        if state:
            stmt = stmt.where(c.state == state)
        if incident:
            stmt = stmt.where(c.incident == incident)
        return await self._all(WorkOrder, stmt.order_by(c.created_at_ms, c.order_id).limit(limit))

    async def entries(self, campaign_id: str) -> list[CampaignEntry]:
        c = w.campaign_entries.c
        return await self._all(
            CampaignEntry,
            select(w.campaign_entries).where(c.campaign_id == campaign_id).order_by(c.entry_no),
        )

    async def handover(self, handover_id: str) -> Handover | None:
        found = await self._all(
            Handover, select(w.handovers).where(w.handovers.c.handover_id == handover_id)
        )
        return found[0] if found else None

    async def handovers(self, limit: int = 100) -> list[Handover]:
        c = w.handovers.c
        return await self._all(
            Handover,
            select(w.handovers).order_by(c.created_at_ms.desc(), c.handover_id).limit(limit),
        )


class MemoryWorkOrderReads:
    """Over :class:`~vcc_site.store.memory.MemorySiteStore` ``tables``."""

    def __init__(self, tables: dict[str, dict[tuple[Any, ...], Any]]) -> None:
        self.tables = tables

    async def order(self, order_id: str) -> WorkOrder | None:
        found: WorkOrder | None = self.tables["work_orders"].get((order_id,))
        return found

    async def orders(
        self, *, open_only: bool = False, state: str = "", incident: str = "", limit: int = 10_000
    ) -> list[WorkOrder]:
        found: list[WorkOrder] = [
            o
            for o in self.tables["work_orders"].values()
            if (not open_only or o.state != CLOSED)
            and (not state or o.state == state)
            and (not incident or o.incident == incident)
        ]
        return sorted(found, key=lambda o: (o.created_at_ms, o.order_id))[:limit]

    async def entries(self, campaign_id: str) -> list[CampaignEntry]:
        found: list[CampaignEntry] = [
            e for e in self.tables["campaign_entries"].values() if e.campaign_id == campaign_id
        ]
        return sorted(found, key=lambda e: e.entry_no)

    async def handover(self, handover_id: str) -> Handover | None:
        found: Handover | None = self.tables["handovers"].get((handover_id,))
        return found

    async def handovers(self, limit: int = 100) -> list[Handover]:
        found: list[Handover] = list(self.tables["handovers"].values())
        return sorted(found, key=lambda h: (-h.created_at_ms, h.handover_id))[:limit]


def work_order_reads(store: object) -> WorkOrderReads:
    """The reads for a site store: SQL when it has an engine, else its memory tables."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        return SqlWorkOrderReads(engine)
    tables = getattr(store, "tables", None)
    if isinstance(tables, dict):
        return MemoryWorkOrderReads(tables)
    raise TypeError(f"no work-order reads for {type(store).__name__}")
