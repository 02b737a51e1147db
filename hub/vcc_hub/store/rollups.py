"""Roll-up rows in the database: added by the aggregator, read by reports, checked by
reconciliation (see :mod:`vcc_hub.domain.rollups` for what they hold)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from vcc_domain.rating import Charge, Difference
from vcc_domain.stats import (
    AGENT_FIELDS,
    FIGURE_FIELDS,
    AgentFigures,
    AgentKey,
    Figures,
    StatKey,
)
from vcc_hub.domain.rollups import (
    CHARGE_BUCKET_MS,
    CHARGE_SUM_FIELDS,
    DAY_MS,
    ChargeKey,
    ChargeSums,
    PairKey,
    RangePlan,
    Rollups,
    SiteIntervalKey,
    by_pair,
    rollups_of,
    sum_charges,
)
from vcc_hub.store import report_tables as t

K = TypeVar("K")
V = TypeVar("V", Figures, AgentFigures, ChargeSums)


def insert_for(conn: AsyncConnection, table: Any) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


_UPSERTS: dict[tuple[str, str], Any] = {}


async def add_sums(
    conn: AsyncConnection,
    table: Any,
    keys: list[str],
    sums: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    """Upsert adding each sum column to the row already there."""
    if not rows:
        return
    cache = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(cache)
    if stmt is None:  # compiled once into plain SQL: SQLAlchemy never caches dialect
        # upserts and compiled this one again on every aggregation step
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        ins = dialect.insert(table)
        upsert = ins.on_conflict_do_update(
            index_elements=keys, set_={name: table.c[name] + ins.excluded[name] for name in sums}
        )
        sql = str(upsert.compile(dialect=dialect.dialect(paramstyle="named")))
        stmt = _UPSERTS[cache] = text(sql)
    await conn.execute(stmt, rows)


_REPLACES: dict[tuple[str, str], TextClause] = {}


def replace_upsert(
    conn: AsyncConnection, table: Any, keys: list[str], columns: list[str], newer: str = ""
) -> TextClause:
    """``INSERT .. ON CONFLICT (keys) DO UPDATE SET`` ``columns`` from the new row (only
    where its ``newer`` column is higher, if given), compiled once per dialect and table."""
    cache = (conn.dialect.name, table.name)
    found = _REPLACES.get(cache)
    if found is None:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        ins = dialect.insert(table)
        upsert = ins.on_conflict_do_update(
            index_elements=keys,
            set_={c: ins.excluded[c] for c in columns},
            where=(table.c[newer] < ins.excluded[newer]) if newer else None,
        )
        sql = str(upsert.compile(dialect=dialect.dialect(paramstyle="named")))
        found = _REPLACES[cache] = text(sql)
    return found


def _rows(keys: list[str], items: Mapping[Any, Any]) -> list[dict[str, Any]]:
    return [{**dict(zip(keys, k, strict=True)), **v.as_dict()} for k, v in sorted(items.items())]


DAY_KEYS = ["site_id", "business_id", "tier", "day_start_ms"]
SITE_INTERVAL_KEYS = ["site_id", "interval_start_ms"]
AGENT_DAY_KEYS = ["site_id", "agent_id", "day_start_ms"]
CHARGE_KEYS = ["site_id", "home_site", "period_id", "start_ms"]


async def add_rollups(conn: AsyncConnection, r: Rollups) -> None:
    """Add one aggregation step's roll-ups (in the step's transaction)."""
    await add_sums(conn, t.report_days, DAY_KEYS, FIGURE_FIELDS, _rows(DAY_KEYS, r.days))
    await add_sums(
        conn,
        t.report_site_intervals,
        SITE_INTERVAL_KEYS,
        FIGURE_FIELDS,
        _rows(SITE_INTERVAL_KEYS, r.site_intervals),
    )
    await add_sums(
        conn, t.report_agent_days, AGENT_DAY_KEYS, AGENT_FIELDS, _rows(AGENT_DAY_KEYS, r.agent_days)
    )
    await add_sums(
        conn,
        t.report_site_agent_intervals,
        SITE_INTERVAL_KEYS,
        AGENT_FIELDS,
        _rows(SITE_INTERVAL_KEYS, r.site_agent_intervals),
    )
    await add_sums(
        conn, t.charge_days, CHARGE_KEYS, CHARGE_SUM_FIELDS, _rows(CHARGE_KEYS, r.charge_days)
    )
    await add_sums(
        conn, t.charge_buckets, CHARGE_KEYS, CHARGE_SUM_FIELDS, _rows(CHARGE_KEYS, r.charge_buckets)
    )


# -- reading ---------------------------------------------------------------------------


def in_range(column: Any, lo: int, hi: int) -> Any:
    return and_(column >= lo, column < hi)


async def _read(
    conn: AsyncConnection,
    table: Any,
    keys: list[str],
    names: tuple[str, ...],
    cls: type[V],
    where: list[Any],
    into: dict[Any, V] | None = None,
) -> dict[Any, V]:
    """Rows of ``table`` as ``{tuple(keys): cls(*names)}``, added into ``into``."""
    out: dict[Any, V] = {} if into is None else into
    n = len(keys)
    q = select(*[table.c[k] for k in keys], *[table.c[s] for s in names]).where(*where)
    for row in await conn.execute(q):
        key = tuple(row[:n])
        value = cls(*row[n:])
        held = out.get(key)
        if held is None:
            out[key] = value
        else:
            held.add(value)
    return out


def _sites(table: Any, sites: list[str]) -> list[Any]:
    return [table.c.site_id.in_(sites)] if sites else []


async def read_figures(
    conn: AsyncConnection, plan: RangePlan, sites: list[str]
) -> dict[StatKey, Figures]:
    """Figures per site × business × tier × (day or interval) start, over the plan."""
    out: dict[StatKey, Figures] = {}
    if plan.days:
        await _read(
            conn,
            t.report_days,
            DAY_KEYS,
            FIGURE_FIELDS,
            Figures,
            [in_range(t.report_days.c.day_start_ms, *plan.days), *_sites(t.report_days, sites)],
            out,
        )
    ti = t.report_intervals
    for a, b in plan.edges:
        await _read(
            conn,
            ti,
            ["site_id", "business_id", "tier", "interval_start_ms"],
            FIGURE_FIELDS,
            Figures,
            [in_range(ti.c.interval_start_ms, a, b), *_sites(ti, sites)],
            out,
        )
    return out


async def read_agents(
    conn: AsyncConnection, plan: RangePlan, sites: list[str], agent_id: str = ""
) -> dict[AgentKey, AgentFigures]:
    """Agent figures per site × agent × (day or interval) start, over the plan."""
    out: dict[AgentKey, AgentFigures] = {}
    td, ta = t.report_agent_days, t.report_agents
    if plan.days:
        await _read(
            conn,
            td,
            AGENT_DAY_KEYS,
            AGENT_FIELDS,
            AgentFigures,
            [
                in_range(td.c.day_start_ms, *plan.days),
                *_sites(td, sites),
                *([td.c.agent_id == agent_id] if agent_id else []),
            ],
            out,
        )
    for a, b in plan.edges:
        await _read(
            conn,
            ta,
            ["site_id", "agent_id", "interval_start_ms"],
            AGENT_FIELDS,
            AgentFigures,
            [
                in_range(ta.c.interval_start_ms, a, b),
                *_sites(ta, sites),
                *([ta.c.agent_id == agent_id] if agent_id else []),
            ],
            out,
        )
    return out


async def read_site_intervals(
    conn: AsyncConnection, lo: int, hi: int, sites: list[str]
) -> dict[SiteIntervalKey, Figures]:
    ts = t.report_site_intervals
    return await _read(
        conn,
        ts,
        SITE_INTERVAL_KEYS,
        FIGURE_FIELDS,
        Figures,
        [in_range(ts.c.interval_start_ms, lo, hi), *_sites(ts, sites)],
    )


async def read_site_agent_intervals(
    conn: AsyncConnection,
    lo: int,
    hi: int,
    sites: list[str],
    agent_id: str = "",
) -> dict[SiteIntervalKey, AgentFigures]:
    if agent_id:  # one agent: its own interval rows, summed per site and interval
        ta = t.report_agents
        return await _read(
            conn,
            ta,
            SITE_INTERVAL_KEYS,
            AGENT_FIELDS,
            AgentFigures,
            [
                in_range(ta.c.interval_start_ms, lo, hi),
                *_sites(ta, sites),
                ta.c.agent_id == agent_id,
            ],
        )
    ts = t.report_site_agent_intervals
    return await _read(
        conn,
        ts,
        SITE_INTERVAL_KEYS,
        AGENT_FIELDS,
        AgentFigures,
        [in_range(ts.c.interval_start_ms, lo, hi), *_sites(ts, sites)],
    )


def _pair_sites(table: Any, sites: list[str]) -> list[Any]:
    return [or_(table.c.site_id.in_(sites), table.c.home_site.in_(sites))] if sites else []


async def read_range_sums(
    conn: AsyncConnection, plan: RangePlan, sites: list[str]
) -> dict[PairKey, ChargeSums]:
    """Charges arriving in the plan's range (any period), summed per serving × home site."""
    sums: dict[ChargeKey, ChargeSums] = {}
    if plan.days:
        await _read(
            conn,
            t.charge_days,
            CHARGE_KEYS,
            CHARGE_SUM_FIELDS,
            ChargeSums,
            [in_range(t.charge_days.c.start_ms, *plan.days), *_pair_sites(t.charge_days, sites)],
            sums,
        )
    for a, b in plan.charge_buckets:
        await _read(
            conn,
            t.charge_buckets,
            CHARGE_KEYS,
            CHARGE_SUM_FIELDS,
            ChargeSums,
            [in_range(t.charge_buckets.c.start_ms, a, b), *_pair_sites(t.charge_buckets, sites)],
            sums,
        )
    out = by_pair(sums)
    tc = t.call_charges
    for a, b in plan.raw:
        q = select(
            tc.c.site_id,
            tc.c.home_site,
            tc.c.access_fen,
            tc.c.access_units,
            tc.c.duration_ms,
            tc.c.handling_fee_fen,
            tc.c.handled_ms,
            tc.c.adjustment,
        ).where(in_range(tc.c.arrival_at_ms, a, b), *_pair_sites(tc, sites))
        for r in await conn.execute(q):
            out.setdefault((r.site_id, r.home_site), ChargeSums()).add_charge(
                Charge(
                    "",
                    "",
                    r.site_id,
                    r.home_site,
                    "",
                    a,
                    int(r.duration_ms),
                    int(r.access_units),
                    int(r.access_fen),
                    int(r.handled_ms),
                    int(r.handling_fee_fen),
                    "",
                    bool(r.adjustment),
                )
            )
    return out


async def read_period_sums(conn: AsyncConnection, period_id: str) -> dict[PairKey, ChargeSums]:
    """Charges settled in ``period_id``, summed per serving × home site."""
    return by_pair(
        await _read(
            conn,
            t.charge_days,
            CHARGE_KEYS,
            CHARGE_SUM_FIELDS,
            ChargeSums,
            [t.charge_days.c.period_id == period_id],
        )
    )


# -- reconciliation --------------------------------------------------------------------


def _compare(
    label: str, stored: Mapping[Any, V], expected: Mapping[Any, V], names: tuple[str, ...]
) -> list[Difference]:
    out: list[Difference] = []
    for key in sorted(set(stored) | set(expected)):
        a, b = stored.get(key), expected.get(key)
        da = a.as_dict() if a is not None else dict.fromkeys(names, 0)
        db = b.as_dict() if b is not None else dict.fromkeys(names, 0)
        out += [
            Difference(f"{label} {'/'.join(map(str, key))} {n}", da[n], db[n])
            for n in names
            if da[n] != db[n]
        ]
    return out


async def diff_rollups(
    conn: AsyncConnection,
    lo: int,
    hi: int,
    period_id: str,
    stats: Mapping[StatKey, Figures],
    agents: Mapping[AgentKey, AgentFigures],
    charges: Iterable[Charge],
) -> list[Difference]:
    """Roll-up rows of ``[lo, hi)`` (whole Beijing days) against the roll-ups of figures
    recomputed from raw CDRs, and charge sums of ``period_id`` against its charges."""
    want = rollups_of(
        {k: v for k, v in stats.items() if lo <= k[3] < hi},
        {k: v for k, v in agents.items() if lo <= k[2] < hi},
        [],
    )
    listed = [c for c in charges if c.period_id == period_id]
    days = (lo, hi)
    td, ta, tsa = t.report_days, t.report_agent_days, t.report_site_agent_intervals
    out = _compare(
        "rollup day",
        await _read(
            conn, td, DAY_KEYS, FIGURE_FIELDS, Figures, [in_range(td.c.day_start_ms, *days)]
        ),
        want.days,
        FIGURE_FIELDS,
    )
    out += _compare(
        "rollup site interval",
        await read_site_intervals(conn, lo, hi, []),
        want.site_intervals,
        FIGURE_FIELDS,
    )
    out += _compare(
        "rollup agent day",
        await _read(
            conn,
            ta,
            AGENT_DAY_KEYS,
            AGENT_FIELDS,
            AgentFigures,
            [in_range(ta.c.day_start_ms, *days)],
        ),
        want.agent_days,
        AGENT_FIELDS,
    )
    out += _compare(
        "rollup site agent interval",
        await _read(
            conn,
            tsa,
            SITE_INTERVAL_KEYS,
            AGENT_FIELDS,
            AgentFigures,
            [in_range(tsa.c.interval_start_ms, *days)],
        ),
        want.site_agent_intervals,
        AGENT_FIELDS,
    )
    for label, table, bucket_ms in (
        ("charge day", t.charge_days, DAY_MS),
        ("charge bucket", t.charge_buckets, CHARGE_BUCKET_MS),
    ):
        held = await _read(
            conn,
            table,
            CHARGE_KEYS,
            CHARGE_SUM_FIELDS,
            ChargeSums,
            [table.c.period_id == period_id],
        )
        out += _compare(f"rollup {label}", held, sum_charges(listed, bucket_ms), CHARGE_SUM_FIELDS)
    return out
