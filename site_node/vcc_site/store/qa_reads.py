"""Reads of quality reviews, work-order checks and ratings, on the SQL or memory store.

Writes go through :meth:`SiteStore.commit` like every other row (see ``qa_tables``).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.sql import Select

from vcc_domain.published_schedule import ScheduleRow
from vcc_domain.quality import OrderCheck, QaReview
from vcc_domain.satisfaction import Rating
from vcc_domain.workorders import WorkOrder
from vcc_site.store import qa_tables as q
from vcc_site.store import tables as t
from vcc_site.store import wo_tables as w
from vcc_site.store.api import AgentStateRecord

WRAP_UP = "wrap_up"


class QualityReads(Protocol):
    async def review(self, review_id: str) -> QaReview | None: ...
    async def reviews(self, period: str, agent_id: str = "", state: str = "") -> list[QaReview]: ...
    async def check(self, order_id: str) -> OrderCheck | None: ...
    async def checks(self, period: str) -> list[OrderCheck]: ...
    async def rating(self, call_id: str) -> Rating | None: ...
    async def ratings(self, period: str) -> list[Rating]: ...
    async def wrap_ups(self, start_ms: int, end_ms: int) -> list[AgentStateRecord]: ...
    async def callback_orders(self, start_ms: int, end_ms: int) -> list[WorkOrder]: ...
    async def schedule(self, site_id: str, week_start_ms: int) -> ScheduleRow | None: ...


def _in(value: int, start_ms: int, end_ms: int) -> bool:
    return start_ms <= value < end_ms


class SqlQualityReads:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def _all(self, kind: type[Any], stmt: Select[Any]) -> list[Any]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [t.from_row(kind, row) for row in rows]

    async def review(self, review_id: str) -> QaReview | None:
        c = q.qa_reviews.c
        found = await self._all(QaReview, select(q.qa_reviews).where(c.review_id == review_id))
        return found[0] if found else None

    async def reviews(self, period: str, agent_id: str = "", state: str = "") -> list[QaReview]:
        c = q.qa_reviews.c
        stmt = select(q.qa_reviews).where(c.period == period)
        if agent_id:
            stmt = stmt.where(c.agent_id == agent_id)
        if state:
            stmt = stmt.where(c.state == state)
        return await self._all(QaReview, stmt.order_by(c.agent_id, c.call_id))

    async def check(self, order_id: str) -> OrderCheck | None:
        c = q.order_checks.c
        found = await self._all(OrderCheck, select(q.order_checks).where(c.order_id == order_id))
        return found[0] if found else None

    async def checks(self, period: str) -> list[OrderCheck]:
        c = q.order_checks.c
        stmt = select(q.order_checks).where(c.period == period).order_by(c.order_id)
        return await self._all(OrderCheck, stmt)

    async def rating(self, call_id: str) -> Rating | None:
        c = q.ratings.c
        found = await self._all(Rating, select(q.ratings).where(c.call_id == call_id))
        return found[0] if found else None

    async def ratings(self, period: str) -> list[Rating]:
        c = q.ratings.c
        stmt = select(q.ratings).where(c.period == period).order_by(c.call_id)
        return await self._all(Rating, stmt)

    async def schedule(self, site_id: str, week_start_ms: int) -> ScheduleRow | None:
        c = q.schedules.c
        stmt = select(q.schedules).where(c.site_id == site_id, c.week_start_ms == week_start_ms)
        found = await self._all(ScheduleRow, stmt)
        return found[0] if found else None

    async def wrap_ups(self, start_ms: int, end_ms: int) -> list[AgentStateRecord]:
        """Every agent's after-call work stretches that started in [start, end)."""
        c = t.agent_state_history.c
        stmt = select(t.agent_state_history).where(
            c.state == WRAP_UP, c.started_at_ms >= start_ms, c.started_at_ms < end_ms
        )
        return await self._all(AgentStateRecord, stmt.order_by(c.agent_id, c.started_at_ms))

    async def callback_orders(self, start_ms: int, end_ms: int) -> list[WorkOrder]:
        """Orders with a callback due, or done, in [start, end)."""
        c = w.work_orders.c
        stmt = select(w.work_orders).where(
            c.callback_required.is_(True),
            or_(
                and_(c.callback_due_ms >= start_ms, c.callback_due_ms < end_ms),
                and_(c.callback_done_at_ms >= start_ms, c.callback_done_at_ms < end_ms),
            ),
        )
        return await self._all(WorkOrder, stmt.order_by(c.order_id))


class MemoryQualityReads:
    """Over :class:`~vcc_site.store.memory.MemorySiteStore` ``tables``."""

    def __init__(self, tables: dict[str, dict[tuple[Any, ...], Any]]) -> None:
        self.tables = tables

    async def review(self, review_id: str) -> QaReview | None:
        found: QaReview | None = self.tables["qa_reviews"].get((review_id,))
        return found

    async def reviews(self, period: str, agent_id: str = "", state: str = "") -> list[QaReview]:
        found: list[QaReview] = [
            r
            for r in self.tables["qa_reviews"].values()
            if r.period == period
            and (not agent_id or r.agent_id == agent_id)
            and (not state or r.state == state)
        ]
        return sorted(found, key=lambda r: (r.agent_id, r.call_id))

    async def check(self, order_id: str) -> OrderCheck | None:
        found: OrderCheck | None = self.tables["order_checks"].get((order_id,))
        return found

    async def checks(self, period: str) -> list[OrderCheck]:
        found: list[OrderCheck] = [
            c for c in self.tables["order_checks"].values() if c.period == period
        ]
        return sorted(found, key=lambda c: c.order_id)

    async def rating(self, call_id: str) -> Rating | None:
        found: Rating | None = self.tables["ratings"].get((call_id,))
        return found

    async def ratings(self, period: str) -> list[Rating]:
        found: list[Rating] = [r for r in self.tables["ratings"].values() if r.period == period]
        return sorted(found, key=lambda r: r.call_id)

    async def schedule(self, site_id: str, week_start_ms: int) -> ScheduleRow | None:
        found: ScheduleRow | None = self.tables["schedules"].get((site_id, week_start_ms))
        return found

    async def wrap_ups(self, start_ms: int, end_ms: int) -> list[AgentStateRecord]:
        found: list[AgentStateRecord] = [
            r
            for r in self.tables["agent_state_history"].values()
            if r.state == WRAP_UP and _in(r.started_at_ms, start_ms, end_ms)
        ]
        return sorted(found, key=lambda r: (r.agent_id, r.started_at_ms))

    async def callback_orders(self, start_ms: int, end_ms: int) -> list[WorkOrder]:
        found: list[WorkOrder] = [
            o
            for o in self.tables["work_orders"].values()
            if o.callback_required
            and (
                _in(o.callback_due_ms, start_ms, end_ms)
                or _in(o.callback_done_at_ms, start_ms, end_ms)
            )
        ]
        return sorted(found, key=lambda o: o.order_id)


def quality_reads(store: object) -> QualityReads:
    """The reads for a site store: SQL when it has an engine, else its memory tables."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        return SqlQualityReads(engine)
    tables = getattr(store, "tables", None)
    if isinstance(tables, dict):
        return MemoryQualityReads(tables)
    raise TypeError(f"no quality reads for {type(store).__name__}")
