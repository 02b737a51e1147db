"""The hub's province-wide copy of work orders, and its figures.

Sites emit ``work_order.<action>`` events carrying the whole order (``WorkOrderChanged``).
Only the site where an order lives writes the copy (``owner_site`` equal to the event's
site; a serving site's reference row is ignored); the highest ``version`` wins, whatever
order events arrive in and whichever site sent them (an order handed over from KM to DL
continues its version count at DL). The full record is kept as JSON in ``record``.

:func:`province_figures` computes the province's on-time rate by kind and department,
outstanding and overdue orders, and callback completion from this copy, with the same
pure code as a site (:mod:`vcc_domain.workorder_figures`); the reports can call it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vcc_domain.workorder_figures import OrderFigures, order_figures
from vcc_domain.workorders import WorkOrder
from vcc_hub.store.event_tables import metadata

work_orders = Table(
    "work_orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("owner_site", String(16), nullable=False),
    Column("origin_site", String(16), nullable=False),
    Column("business_id", String(64), nullable=False),
    Column("order_type", String(32), nullable=False),
    Column("department", String(128), nullable=False),
    Column("state", String(32), nullable=False),
    Column("record", Text, nullable=False),  # the whole WorkOrder as JSON
    Column("created_at_ms", BigInteger, nullable=False),
    Column("answer_due_ms", BigInteger, nullable=False),
    Column("answered_at_ms", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("from_site", String(16), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("as_of_ms", BigInteger, nullable=False),
)
_FIELDS = frozenset(WorkOrder.__dataclass_fields__)


def newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The row of the highest ``version`` of each order among ``rows``, by order ID."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = latest.get(row["order_id"])
        if held is None or held["version"] < row["version"]:
            latest[row["order_id"]] = row
    return [latest[k] for k in sorted(latest)]


def upsert_statement(dialect_name: str) -> Any:
    """The upsert that keeps the stored copy unless a row carries a higher ``version``."""
    ins = (sqlite if dialect_name == "sqlite" else postgresql).insert(work_orders)
    columns = [c.name for c in work_orders.columns if c.name != "order_id"]
    return ins.on_conflict_do_update(
        index_elements=["order_id"],
        set_={c: ins.excluded[c] for c in columns},
        where=work_orders.c.version < ins.excluded.version,
    )


async def upsert_newest(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Keep the newest ``version`` of each order among ``rows`` and the stored copy
    (inside the events' transaction); rows are :data:`work_orders` columns."""
    latest = newest(rows)
    if latest:
        await conn.execute(upsert_statement(conn.dialect.name), latest)


def _record(text: str) -> WorkOrder:
    data = {k: v for k, v in json.loads(text).items() if k in _FIELDS}
    return WorkOrder(**data)


async def province_orders(
    engine: AsyncEngine, *, site: str = "", open_only: bool = False
) -> list[WorkOrder]:
    """The hub's copies (of one owning site, or all), oldest first."""
    c = work_orders.c
    stmt = select(c.record).order_by(c.created_at_ms, c.order_id)
    if site:
        stmt = stmt.where(c.owner_site == site)
    if open_only:
        stmt = stmt.where(c.state != "closed")
    async with engine.connect() as conn:
        return [_record(text) for text in (await conn.execute(stmt)).scalars()]


async def province_order(engine: AsyncEngine, order_id: str) -> WorkOrder | None:
    stmt = select(work_orders.c.record).where(work_orders.c.order_id == order_id)
    async with engine.connect() as conn:
        text = (await conn.execute(stmt)).scalar_one_or_none()
    return None if text is None else _record(text)


async def province_figures(engine: AsyncEngine, now_ms: int, site: str = "") -> list[OrderFigures]:
    """On-time rate by kind and department, outstanding, overdue and callback completion
    over the province (or one owning site); add ``workorder_figures.total`` for a sum."""
    return order_figures(await province_orders(engine, site=site), now_ms)
