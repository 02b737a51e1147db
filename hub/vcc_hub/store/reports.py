"""Reads of the aggregates (from roll-ups), settlement periods (close once), and
reconciliation (from raw CDRs, against interval rows, charges and roll-ups)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from vcc_domain.province import Province
from vcc_domain.rating import (
    Charge,
    Difference,
    Statement,
    build_statement,
    check_period,
    diff_charges,
    diff_statements,
    period_bounds_ms,
    rate_cdr,
)
from vcc_domain.stats import (
    AGENT_FIELDS,
    FIGURE_FIELDS,
    AgentFigures,
    AgentKey,
    AgentStateRow,
    Cdr,
    Figures,
    StatKey,
    StatsConfig,
    recompute,
)
from vcc_hub.domain.rollups import SiteIntervalKey, split_range, statement_from_sums
from vcc_hub.service.aggregator import (
    Aggregator,
    charge_from_row,
    cursors,
    statement_json,
    target_of,
    tariff_of,
)
from vcc_hub.store import event_tables as ev
from vcc_hub.store import report_tables as t
from vcc_hub.store import rollups as rs
from vcc_hub.store.rollups import in_range
from vcc_replication.fencing import advance_fence


@dataclass
class Loaded:
    """What a report reads.

    ``stats`` and ``agents`` are keyed by the start of a day (whole Beijing days of the
    range) or of an interval (its edges): views only roll them up by site, business, tier
    or agent. The per-interval series come from ``site_intervals`` and
    ``site_agent_intervals`` and the settlement chart from ``settlement`` (all charges
    arriving in the range); when one of them is None it is derived from ``stats``,
    ``agents`` (then per interval) or the per-call ``charges``.
    """

    stats: dict[StatKey, Figures]
    agents: dict[AgentKey, AgentFigures]
    charges: list[Charge]
    as_of_ms: int
    site_intervals: dict[SiteIntervalKey, Figures] | None = None
    site_agent_intervals: dict[SiteIntervalKey, AgentFigures] | None = None
    settlement: Statement | None = None
    # callers' ratings keyed in the range: (count, sum of keys) per site and per agent
    ratings: dict[str, tuple[int, int]] = field(default_factory=dict)
    agent_ratings: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


async def load(
    conn: AsyncConnection,
    lo: int,
    hi: int,
    sites: list[str],
    agent_id: str = "",
    *,
    per_interval_agents: bool = False,
) -> Loaded:
    """A report's data from the roll-ups: a few rows per day, site, business, tier and
    agent, whatever the number of calls (the interval view also reads
    ``site_agent_intervals``: ``per_interval_agents``)."""
    plan = split_range(lo, hi)
    stats = await rs.read_figures(conn, plan, sites)
    agents = await rs.read_agents(conn, plan, sites, agent_id)
    site_intervals = await rs.read_site_intervals(conn, lo, hi, sites)
    site_agents = (
        await rs.read_site_agent_intervals(conn, lo, hi, sites, agent_id)
        if per_interval_agents
        else None
    )
    settlement = statement_from_sums("range", await rs.read_range_sums(conn, plan, sites))
    loaded = Loaded(stats, agents, [], await as_of(conn), site_intervals, site_agents, settlement)
    loaded.agent_ratings = await read_ratings(conn, lo, hi, sites)
    for (site, _agent), (n, total) in loaded.agent_ratings.items():
        held = loaded.ratings.get(site, (0, 0))
        loaded.ratings[site] = (held[0] + n, held[1] + total)
    return loaded


async def read_ratings(
    conn: AsyncConnection, lo: int, hi: int, sites: list[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(site, agent) -> (ratings, sum of the keys) of callers' ratings keyed in [lo, hi)."""
    r = ev.ratings.c
    stmt = (
        select(r.site_id, r.agent_id, func.count(), func.sum(r.score))
        .where(r.rated_at_ms >= lo, r.rated_at_ms < hi)
        .group_by(r.site_id, r.agent_id)
    )
    if sites:
        stmt = stmt.where(r.site_id.in_(sites))
    rows = await conn.execute(stmt)
    return {(str(s), str(a)): (int(n), int(total or 0)) for s, a, n, total in rows}


async def as_of(conn: AsyncConnection) -> int:
    held = (
        await conn.execute(
            select(t.report_cursor.c.updated_at_ms)
            .order_by(t.report_cursor.c.updated_at_ms.desc())
            .limit(1)
        )
    ).scalar()
    return int(held or 0)


async def load_intervals(conn: AsyncConnection, lo: int, hi: int) -> Loaded:
    """The interval rows themselves (reconciliation compares them with raw CDRs)."""
    ti, ta = t.report_intervals, t.report_agents
    stats = {
        (r.site_id, r.business_id, r.tier, int(r.interval_start_ms)): Figures(
            **{n: int(r._mapping[n]) for n in FIGURE_FIELDS}
        )
        for r in await conn.execute(select(ti).where(in_range(ti.c.interval_start_ms, lo, hi)))
    }
    agents = {
        (r.site_id, r.agent_id, int(r.interval_start_ms)): AgentFigures(
            **{n: int(r._mapping[n]) for n in AGENT_FIELDS}
        )
        for r in await conn.execute(select(ta).where(in_range(ta.c.interval_start_ms, lo, hi)))
    }
    return Loaded(stats, agents, [], await as_of(conn))


# -- settlement ------------------------------------------------------------------------


async def period_charges(conn: AsyncConnection, period_id: str) -> list[Charge]:
    rows = await conn.execute(select(t.call_charges).where(t.call_charges.c.period_id == period_id))
    return [charge_from_row(r) for r in rows]


async def stored_statement(conn: AsyncConnection, period_id: str) -> Statement | None:
    raw = (
        await conn.execute(
            select(t.settlement_periods.c.statement).where(
                t.settlement_periods.c.period_id == period_id
            )
        )
    ).scalar()
    return None if raw is None else Statement.from_dict(json.loads(raw))


async def statement(conn: AsyncConnection, period_id: str, province: Province) -> Statement:
    """The closed statement, or the provisional one of an open period (from the period's
    charge sums, equal to the statement of its per-call charges)."""
    check_period(period_id)
    held = await stored_statement(conn, period_id)
    if held is not None:
        return held
    return statement_from_sums(
        period_id, await rs.read_period_sums(conn, period_id), [s.id for s in province.sites]
    )


async def close_period(
    aggregator: Aggregator, period_id: str, actor: str, province: Province, now_ms: int
) -> Statement:
    """Close ``period_id`` once; closing again returns the stored statement unchanged."""
    check_period(period_id)
    token = aggregator.leadership().require()
    async with aggregator.lock, aggregator.engine.begin() as conn:
        await advance_fence(conn, token)  # also serialises with aggregation steps
        held = await stored_statement(conn, period_id)
        if held is not None:
            return held
        st = statement_from_sums(
            period_id,
            await rs.read_period_sums(conn, period_id),
            [s.id for s in province.sites],
            closed=True,
            closed_at_ms=now_ms,
        )
        await conn.execute(
            t.settlement_periods.insert().values(
                period_id=period_id,
                closed_at_ms=now_ms,
                closed_by=actor[:128],
                statement=statement_json(st.as_dict()),
            )
        )
        return st


# -- reconciliation --------------------------------------------------------------------


async def reconcile(
    conn: AsyncConnection, period_id: str, province: Province, config: StatsConfig
) -> list[Difference]:
    """Recompute the period's charges and figures from raw CDRs and agent states (those
    the aggregator has reached) and compare with charges, statement and aggregates."""
    lo, hi = period_bounds_ms(check_period(period_id))
    held = await cursors(conn)
    reached = [and_(ev.cdrs.c.site_id == s, ev.cdrs.c.event_seq <= seq) for s, seq in held.items()]
    stored = {c.key: c for c in await period_charges(conn, period_id)}
    raw: list[Cdr] = []
    if reached:
        keys = list(stored)
        cond = in_range(ev.cdrs.c.arrival_at_ms, lo, hi)
        if keys:
            cond = or_(cond, tuple_(ev.cdrs.c.site_id, ev.cdrs.c.call_id).in_(keys))
        raw = [
            Cdr.from_mapping(dict(r._mapping))
            for r in await conn.execute(select(ev.cdrs).where(or_(*reached), cond))
        ]
    elsewhere: set[tuple[str, str]] = set()
    if raw:  # CDRs of this period settled as adjustments in a later period
        others = await conn.execute(
            select(
                t.call_charges.c.site_id, t.call_charges.c.call_id, t.call_charges.c.period_id
            ).where(
                tuple_(t.call_charges.c.site_id, t.call_charges.c.call_id).in_(
                    [(c.site_id, c.call_id) for c in raw]
                )
            )
        )
        elsewhere = {(r.site_id, r.call_id) for r in others if r.period_id != period_id}
    tariff = tariff_of(province)
    computed: dict[tuple[str, str], Charge] = {}
    for cdr in raw:
        if (cdr.site_id, cdr.call_id) in elsewhere:
            continue
        ch = rate_cdr(cdr, tariff)
        held_ch = stored.get((cdr.site_id, cdr.call_id))
        if held_ch is not None:  # keep where it was settled (close timing is not in CDRs)
            ch = _with_period(ch, held_ch)
        computed[ch.key] = ch
    diffs = diff_charges(stored, computed)
    sites = [s.id for s in province.sites]
    stated = await statement(conn, period_id, province)
    diffs += diff_statements(stated, build_statement(period_id, computed.values(), sites))
    diffs += await _diff_aggregates(
        conn,
        lo,
        hi,
        held,
        [c for c in raw if lo <= c.arrival_at_ms < hi],
        province,
        config,
        period_id,
        stored.values(),
    )
    return diffs


def _with_period(ch: Charge, held: Charge) -> Charge:
    return replace(
        ch,
        period_id=held.period_id,
        adjustment=held.adjustment,
        original_period=held.original_period,
    )


async def _diff_aggregates(
    conn: AsyncConnection,
    lo: int,
    hi: int,
    held: dict[str, int],
    cdrs: list[Cdr],
    province: Province,
    config: StatsConfig,
    period_id: str,
    charges: Iterable[Charge],
) -> list[Difference]:
    states: list[AgentStateRow] = []
    for site, seq in held.items():
        states += [
            AgentStateRow(r.site, int(r.seq), r.agent_id, r.state, int(r.at_ms))
            for r in await conn.execute(
                select(ev.agent_states).where(
                    ev.agent_states.c.site == site, ev.agent_states.c.seq <= seq
                )
            )
        ]
    again = recompute(cdrs, states, target_of(province), config)
    loaded = await load_intervals(conn, lo, hi)
    out: list[Difference] = []
    for key in sorted(set(loaded.stats) | set(again.stats)):
        a = loaded.stats.get(key, Figures()).as_dict()
        b = again.stats.get(key, Figures()).as_dict()
        out += [
            Difference(f"figure {'/'.join(map(str, key))} {n}", a[n], b[n])
            for n in FIGURE_FIELDS
            if a[n] != b[n]
        ]
    agent_keys = {k for k in again.agents if lo <= k[2] < hi} | set(loaded.agents)
    for akey in sorted(agent_keys):
        x = loaded.agents.get(akey, AgentFigures()).as_dict()
        y = again.agents.get(akey, AgentFigures()).as_dict()
        out += [
            Difference(f"agent {'/'.join(map(str, akey))} {n}", x[n], y[n])
            for n in AGENT_FIELDS
            if x[n] != y[n]
        ]
    return out + await rs.diff_rollups(conn, lo, hi, period_id, again.stats, again.agents, charges)


def differences_as_dicts(diffs: list[Difference]) -> list[dict[str, Any]]:
    return [
        {
            "item": d.item,
            "statement_fen": d.statement_fen,
            "computed_fen": d.computed_fen,
            "cdr_id": d.cdr_id,
        }
        for d in diffs
    ]
