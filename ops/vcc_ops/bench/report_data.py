"""Generated CDRs of a month, and a hub reports database holding their aggregates.

:func:`generate` makes deterministic CDRs (``random.Random(seed)``, in chunks so 10
million never sit in memory at once) over the example province's sites (agents per site
= its seats), businesses and tiers. :func:`build_report_db` fills a hub database (made by
the real migrations) fast, for the report benchmark: per call the domain's figures and
rating summed as tuples (:class:`Sums`, equal to :func:`aggregate_cdrs` with a wrap-up
of :func:`acw_ms` after each answered call), and at the end the hub's roll-ups
(:func:`rollups_of`), written with plain SQLite bulk inserts — rather than ten million events through the aggregation step, which the
benchmark times on a sample instead (:mod:`vcc_ops.bench.report_ingest`).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from operator import add, attrgetter
from pathlib import Path
from typing import Any

from vcc_domain.province import Province, load_province_file
from vcc_domain.rating import Charge, period_bounds_ms, rate_cdr
from vcc_domain.stats import (
    AGENT_FIELDS,
    FIGURE_FIELDS,
    AgentFigures,
    AgentKey,
    Cdr,
    Figures,
    Span,
    StatKey,
    StatsConfig,
    cdr_figures,
)
from vcc_hub.domain.rollups import (
    CHARGE_BUCKET_MS,
    CHARGE_SUM_FIELDS,
    ChargeKey,
    ChargeSums,
    day_start,
    rollups_of,
)
from vcc_hub.service.aggregator import target_of, tariff_of
from vcc_hub.store.rollups import AGENT_DAY_KEYS, CHARGE_KEYS, DAY_KEYS, SITE_INTERVAL_KEYS
from vcc_ops.bench.report_ingest import acw_ms, create_hub_db

CHUNK = 100_000
OUTCOMES = (
    ("answered", 80),
    ("abandoned", 12),
    ("lost", 2),
    ("ivr_hangup", 3),
    ("overflowed_out", 2),
    ("transferred_out", 1),
)
CHARGE_COLUMNS = [*(f.name for f in fields(Charge)), "rated_at_ms"]


def example_province() -> Province:
    return load_province_file(Path(__file__).resolve().parents[1] / "examples" / "yunnan.toml")


def generate(
    province: Province, period: str, count: int, seed: int, chunk: int = CHUNK, span_ms: int = 0
) -> Iterator[list[Cdr]]:
    """``count`` CDRs arriving in ``period`` (in its first ``span_ms`` when given), in
    chunks (deterministic for a seed)."""
    rnd = random.Random(seed)
    lo, hi = period_bounds_ms(period)
    span = hi - lo - 3_600_000  # every call ends inside the month
    if span_ms:
        span = max(1, min(span, span_ms))
    sites = [s.id for s in province.sites]
    seats = {s.id: max(1, s.seats) for s in province.sites}
    site_weights = [seats[s] for s in sites]
    businesses = [b.id for b in province.businesses]
    tiers = list(province.tiers.order)
    tier_weights = [1 if tr == "vip" else 4 for tr in tiers]
    outcomes = [o for o, _ in OUTCOMES]
    outcome_weights = [w for _, w in OUTCOMES]
    made = 0
    while made < count:
        n = min(chunk, count - made)
        site_of = rnd.choices(sites, site_weights, k=n)
        business_of = rnd.choices(businesses, k=n)
        tier_of = rnd.choices(tiers, tier_weights, k=n)
        outcome_of = rnd.choices(outcomes, outcome_weights, k=n)
        out: list[Cdr] = []
        rand = rnd.random
        for i in range(n):
            num = made + i
            site = site_of[i]
            outcome = outcome_of[i]
            home = site if rand() < 0.9 else sites[int(rand() * len(sites))]
            at = lo + int(rand() * span)
            wait = int(rand() * 60_000)
            answered = outcome == "answered"
            talk = 10_000 + int(rand() * 590_000) if answered else 0
            ring = 1_000 + int(rand() * 7_000) if answered else 0
            agent = f"{site}-{int(rand() * seats[site]) + 1:04d}" if answered else ""
            out.append(
                Cdr(
                    f"call_{num:08d}",
                    site,
                    home,
                    home,
                    business_of[i],
                    tier_of[i],
                    outcome,
                    at,
                    at + wait if answered else 0,
                    at + wait + talk,
                    wait,
                    ring,
                    talk,
                    0,
                    agent,
                    answered and num % 20 == 0,
                    site != home,
                    f"cdr_{num:08d}",
                )
            )
        made += n
        yield out


def wrapup_spans(cdrs: Iterable[Cdr]) -> list[Span]:
    """After-call work of :func:`acw_ms` after every answered call (as the ingest events)."""
    return [
        Span(c.site_id, c.agent_id, "wrap_up", c.ended_at_ms, acw_ms(c))
        for c in cdrs
        if c.answered_at_ms and c.agent_id
    ]


_FIGURES = attrgetter(*FIGURE_FIELDS)


class Sums:
    """What the hub's aggregates hold for generated calls, summed fast: per call the
    domain's :func:`cdr_figures` and :func:`rate_cdr`, the per-agent sums of
    :func:`aggregate_cdrs` and the wrap-up of :func:`wrapup_spans` through
    :func:`aggregate_spans` (tests check it equals those functions), kept as tuples."""

    def __init__(self, province: Province, config: StatsConfig) -> None:
        self.target, self.tariff = target_of(province), tariff_of(province)
        self.config = config
        self.stats: dict[StatKey, tuple[int, ...]] = {}
        self.agents: dict[AgentKey, tuple[int, ...]] = {}
        self.buckets: dict[ChargeKey, ChargeSums] = {}

    def add(self, cdrs: list[Cdr]) -> list[Charge]:
        iv, config, target = self.config.interval_ms, self.config, self.target
        stats, agents = self.stats, self.agents
        for c in cdrs:
            start = c.arrival_at_ms - c.arrival_at_ms % iv
            key = (c.site_id, c.business_id, c.tier, start)
            f = _FIGURES(cdr_figures(c, target(c.tier), config))
            held = stats.get(key)
            stats[key] = f if held is None else tuple(map(add, held, f))
            if c.agent_id and c.answered_at_ms > 0:
                for akey, a in (
                    ((c.site_id, c.agent_id, start), (1, c.talk_ms, c.hold_ms, 0, 0, 0, 0, 0)),
                    (
                        (c.site_id, c.agent_id, c.ended_at_ms - c.ended_at_ms % iv),
                        (0, 0, 0, acw_ms(c), 1, 0, 0, acw_ms(c)),
                    ),
                ):  # wrap-up is staffed
                    was = agents.get(akey)
                    agents[akey] = a if was is None else tuple(map(add, was, a))
        rated = [rate_cdr(c, self.tariff) for c in cdrs]
        for ch in rated:
            at = ch.arrival_at_ms
            self.buckets.setdefault(
                (ch.site_id, ch.home_site, ch.period_id, at - at % CHARGE_BUCKET_MS), ChargeSums()
            ).add_charge(ch)
        return rated

    def figures(self) -> tuple[dict[StatKey, Figures], dict[AgentKey, AgentFigures]]:
        return (
            {k: Figures(*v) for k, v in self.stats.items()},
            {k: AgentFigures(*v) for k, v in self.agents.items()},
        )


@dataclass(frozen=True)
class Built:
    cdrs: int
    interval_rows: int
    agent_interval_rows: int
    rollup_rows: int
    charge_rows: int
    seconds: float
    offered: int
    answered: int


astuple_fast = attrgetter(*CHARGE_COLUMNS[:-1])


def _insert(
    db: sqlite3.Connection,
    table: str,
    keys: list[str],
    names: tuple[str, ...],
    items: Mapping[Any, Any],
) -> int:
    cols = [*keys, *names]
    get = attrgetter(*names)
    db.executemany(
        f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
        ((*k, *get(v)) for k, v in items.items()),
    )
    return len(items)


def build_report_db(
    path: Path,
    province: Province,
    period: str,
    count: int,
    seed: int,
    config: StatsConfig,
    charges: bool = True,
) -> Built:
    """Generate ``count`` CDRs of ``period`` and store what the hub keeps for them."""
    t0 = time.perf_counter()
    asyncio.run(create_hub_db(f"sqlite:///{path}"))
    sums = Sums(province, config)
    now_ms = int(time.time() * 1000)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB: the arrival index takes random inserts
    insert = (
        f"INSERT INTO call_charges ({','.join(CHARGE_COLUMNS)}) VALUES "
        f"({','.join('?' * len(CHARGE_COLUMNS))})"
    )
    made = 0
    for chunk in generate(province, period, count, seed):
        rated = sums.add(chunk)
        if charges:
            with db:
                db.executemany(insert, ((*astuple_fast(ch), now_ms) for ch in rated))
        made += len(chunk)
    stats, agents = sums.figures()
    r = rollups_of(stats, agents, [])
    days: dict[ChargeKey, ChargeSums] = {}
    for (site, home, period_id, start), cs in sums.buckets.items():
        days.setdefault((site, home, period_id, day_start(start)), ChargeSums()).add(cs)
    buckets = sums.buckets
    with db:
        n_int = _insert(
            db,
            "report_intervals",
            ["site_id", "business_id", "tier", "interval_start_ms"],
            FIGURE_FIELDS,
            stats,
        )
        n_ag = _insert(
            db, "report_agents", ["site_id", "agent_id", "interval_start_ms"], AGENT_FIELDS, agents
        )
        rolled = (
            _insert(db, "report_days", DAY_KEYS, FIGURE_FIELDS, r.days)
            + _insert(
                db, "report_site_intervals", SITE_INTERVAL_KEYS, FIGURE_FIELDS, r.site_intervals
            )
            + _insert(db, "report_agent_days", AGENT_DAY_KEYS, AGENT_FIELDS, r.agent_days)
            + _insert(
                db,
                "report_site_agent_intervals",
                SITE_INTERVAL_KEYS,
                AGENT_FIELDS,
                r.site_agent_intervals,
            )
            + _insert(db, "charge_days", CHARGE_KEYS, CHARGE_SUM_FIELDS, days)
            + _insert(db, "charge_buckets", CHARGE_KEYS, CHARGE_SUM_FIELDS, buckets)
        )
        db.executemany(
            "INSERT INTO report_cursor (site, seq, updated_at_ms) VALUES (?, ?, ?)",
            [(s.id, 0, now_ms) for s in province.sites],
        )
    db.close()
    return Built(
        made,
        n_int,
        n_ag,
        rolled,
        made if charges else 0,
        time.perf_counter() - t0,
        sum(f.offered for f in stats.values()),
        sum(f.answered for f in stats.values()),
    )
