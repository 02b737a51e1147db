"""Incremental aggregation of applied CDRs and agent states, exactly once.

Why a follower loop with a cursor, not a hook in the events apply transaction: the
cursor is per site and never passes the site's **contiguous** sequence
(``site_progress.contiguous_seq``), i.e. the point below which every event of the site is
already applied (each batch commits its inbox rows, CDRs, agent states and the new
contiguous figure in one transaction, and the contiguous figure never skips a gap). Rows
at or below it never change again. One aggregation step reads the rows in
``(cursor, contiguous]``, adds their figures, rates their charges, adds both to the
roll-ups (:mod:`vcc_hub.domain.rollups`) and moves the cursor —
all in ONE fenced transaction — so a row is counted exactly once whatever crashes, and a
re-delivered event never reaches ``cdrs`` in the first place (the inbox drops it). The
loop also backfills everything already at the hub when the reports schema first appears,
and leaves the events component untouched. Cost: figures wait for a gap to be repaired.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.errors import NotFound, NotLeader
from vcc_domain.province import Province, SLTarget, Tariff
from vcc_domain.rating import Charge, rate_cdr, settle_into
from vcc_domain.stats import (
    AGENT_FIELDS,
    DEFAULT_TARGET,
    FIGURE_FIELDS,
    AgentStateRow,
    Cdr,
    OpenState,
    StatsConfig,
    aggregate_cdrs,
    aggregate_spans,
    close_spans,
    merge_into,
)
from vcc_failover.leadership import Leadership
from vcc_hub.domain.rollups import rollups_of
from vcc_hub.store import event_tables as ev
from vcc_hub.store import report_tables as t
from vcc_hub.store.rollups import add_rollups, add_sums, insert_for, replace_upsert
from vcc_replication.fencing import advance_fence

log = logging.getLogger(__name__)

DEFAULT_TARIFF = Tariff("default", date(1970, 1, 1))
MAX_EVENTS_PER_STEP = 5_000

ProvinceSource = Callable[[], Awaitable[Province]]


def target_of(province: Province) -> Callable[[str], SLTarget]:
    def target(tier: str) -> SLTarget:
        try:
            return province.tiers.target(tier)
        except KeyError:
            return DEFAULT_TARGET

    return target


def tariff_of(province: Province) -> Callable[[date], Tariff]:
    def tariff(day: date) -> Tariff:
        try:
            return province.tariff_on(day)
        except NotFound:
            return DEFAULT_TARIFF

    return tariff


def charge_from_row(row: Any) -> Charge:
    m = row._mapping
    return Charge(
        m["cdr_id"],
        m["call_id"],
        m["site_id"],
        m["home_site"],
        m["period_id"],
        int(m["arrival_at_ms"]),
        int(m["duration_ms"]),
        int(m["access_units"]),
        int(m["access_fen"]),
        int(m["handled_ms"]),
        int(m["handling_fee_fen"]),
        m["tariff_version"],
        bool(m["adjustment"]),
        m["original_period"],
    )


CDR_COLUMNS = [ev.cdrs.c[f.name] for f in fields(Cdr)]


def cdr_from_row(row: Any) -> Cdr:
    """A :class:`Cdr` from a row of :data:`CDR_COLUMNS` (same values as
    :meth:`Cdr.from_mapping`, without its per-field inspection)."""
    (
        call_id,
        site_id,
        home_site,
        entry_site,
        business_id,
        tier,
        outcome,
        arrival,
        answered,
        ended,
        wait,
        ring,
        talk,
        hold,
        agent_id,
        transferred,
        overflowed,
        cdr_id,
    ) = row
    return Cdr(
        call_id or "",
        site_id or "",
        home_site or "",
        entry_site or "",
        business_id or "",
        tier or "",
        outcome or "",
        int(arrival or 0),
        int(answered or 0),
        int(ended or 0),
        int(wait or 0),
        int(ring or 0),
        int(talk or 0),
        int(hold or 0),
        agent_id or "",
        bool(transferred),
        bool(overflowed),
        cdr_id or "",
    )


HELD_CHARGES = select(t.call_charges.c.call_id).where(
    t.call_charges.c.site_id == bindparam("site"),
    t.call_charges.c.call_id.in_(bindparam("ids", expanding=True)),
)


def charge_row(ch: Charge, rated_at_ms: int) -> dict[str, Any]:
    return {
        "cdr_id": ch.cdr_id,
        "call_id": ch.call_id,
        "site_id": ch.site_id,
        "home_site": ch.home_site,
        "period_id": ch.period_id,
        "arrival_at_ms": ch.arrival_at_ms,
        "duration_ms": ch.duration_ms,
        "access_units": ch.access_units,
        "access_fen": ch.access_fen,
        "handled_ms": ch.handled_ms,
        "handling_fee_fen": ch.handling_fee_fen,
        "tariff_version": ch.tariff_version,
        "adjustment": ch.adjustment,
        "original_period": ch.original_period,
        "rated_at_ms": rated_at_ms,
    }


async def closed_periods(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(t.settlement_periods.c.period_id))).scalars())


async def cursors(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(t.report_cursor.c.site, t.report_cursor.c.seq))
    return {r.site: int(r.seq) for r in rows}


class Aggregator:
    def __init__(
        self,
        engine: AsyncEngine,
        leadership: Callable[[], Leadership],
        clock: Clock,
        province: ProvinceSource,
        config: StatsConfig,
        poll_s: float = 0.5,
    ) -> None:
        self.engine = engine
        self.leadership = leadership
        self.clock = clock
        self.province = province
        self.config = config
        self.poll_s = poll_s
        self.lock = asyncio.Lock()  # steps and period closes never interleave in-process
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reports-aggregator")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                if self.leadership().is_leader:
                    busy = await self.step() > 0
            except NotLeader:
                pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reports aggregation step failed; retrying")
            if not busy:
                try:
                    await asyncio.wait_for(self._stop.wait(), self.poll_s)
                except TimeoutError:
                    pass

    async def step(self) -> int:
        """Aggregate what is applied and not yet counted; returns events covered."""
        token = self.leadership().require()
        province = await self.province()
        async with self.lock, self.engine.begin() as conn:
            await advance_fence(conn, token)
            progress = {
                r.site: int(r.contiguous_seq)
                for r in await conn.execute(
                    select(ev.site_progress.c.site, ev.site_progress.c.contiguous_seq)
                )
            }
            held = await cursors(conn)
            covered = 0
            for site, contiguous in sorted(progress.items()):
                start = held.get(site, 0)
                if contiguous <= start:
                    continue
                upto = min(contiguous, start + MAX_EVENTS_PER_STEP)
                await self._site_step(conn, province, site, start, upto)
                covered += upto - start
            return covered

    async def _site_step(
        self, conn: AsyncConnection, province: Province, site: str, after: int, upto: int
    ) -> None:
        now = int(self.clock.now() * 1000)
        cdrs = [
            cdr_from_row(r)
            for r in (
                await conn.execute(
                    select(*CDR_COLUMNS).where(
                        ev.cdrs.c.site_id == site,
                        ev.cdrs.c.event_seq > after,
                        ev.cdrs.c.event_seq <= upto,
                    )
                )
            ).all()
        ]
        stats, agents = aggregate_cdrs(cdrs, target_of(province), self.config)
        sa = ev.agent_states
        state_rows = [
            AgentStateRow(site, int(seq), agent, state, int(at))
            for seq, agent, state, at in (
                await conn.execute(
                    select(sa.c.seq, sa.c.agent_id, sa.c.state, sa.c.at_ms).where(
                        sa.c.site == site, sa.c.seq > after, sa.c.seq <= upto
                    )
                )
            ).all()
        ]
        if state_rows:
            ids = sorted({r.agent_id for r in state_rows})
            open_states = {
                (r.site, r.agent_id): OpenState(r.state, int(r.at_ms))
                for r in await conn.execute(
                    select(t.report_agent_open).where(
                        t.report_agent_open.c.site == site, t.report_agent_open.c.agent_id.in_(ids)
                    )
                )
            }
            merge_into(agents, aggregate_spans(close_spans(open_states, state_rows), self.config))
            await conn.execute(
                replace_upsert(conn, t.report_agent_open, ["site", "agent_id"], ["state", "at_ms"]),
                [
                    {"site": s, "agent_id": a, "state": o.state, "at_ms": o.at_ms}
                    for (s, a), o in sorted(open_states.items())
                ],
            )
        await add_sums(
            conn,
            t.report_intervals,
            ["site_id", "business_id", "tier", "interval_start_ms"],
            FIGURE_FIELDS,
            [
                {
                    "site_id": k[0],
                    "business_id": k[1],
                    "tier": k[2],
                    "interval_start_ms": k[3],
                    **f.as_dict(),
                }
                for k, f in sorted(stats.items())
            ],
        )
        await add_sums(
            conn,
            t.report_agents,
            ["site_id", "agent_id", "interval_start_ms"],
            AGENT_FIELDS,
            [
                {"site_id": k[0], "agent_id": k[1], "interval_start_ms": k[2], **f.as_dict()}
                for k, f in sorted(agents.items())
            ],
        )
        charges = await self._new_charges(conn, province, site, cdrs)
        if charges:
            await conn.execute(
                insert_for(conn, t.call_charges), [charge_row(ch, now) for ch in charges]
            )
        await add_rollups(conn, rollups_of(stats, agents, charges))
        await conn.execute(
            replace_upsert(conn, t.report_cursor, ["site"], ["seq", "updated_at_ms"], "seq"),
            [{"site": site, "seq": upto, "updated_at_ms": now}],
        )

    async def _new_charges(
        self, conn: AsyncConnection, province: Province, site: str, cdrs: list[Cdr]
    ) -> list[Charge]:
        """The charges of ``cdrs`` not yet rated (a CDR reaches the step once, so this is
        all of them; the check keeps charges and their roll-ups equal whatever happens)."""
        if not cdrs:
            return []
        held: set[str] = set()
        ids = [c.call_id for c in cdrs]
        for i in range(0, len(ids), 5_000):
            held.update(
                (
                    await conn.execute(HELD_CHARGES, {"site": site, "ids": ids[i : i + 5_000]})
                ).scalars()
            )
        closed = await closed_periods(conn)
        tariff = tariff_of(province)
        return [settle_into(rate_cdr(c, tariff), closed) for c in cdrs if c.call_id not in held]


def statement_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
