"""Roll-ups of the interval aggregates and per-call charges, and how a range reads them
(pure; no I/O).

A month's report must not read one row per call or per 15-minute interval: the
aggregator keeps, in the same transaction as the interval rows and charges, sums rolled
up further (all sums and counts, so they merge exactly by adding):

* ``days`` — figures per Beijing day × site × business × tier;
* ``site_intervals`` — figures per interval × site (service-level chart, interval view);
* ``agent_days`` — agent figures per Beijing day × site × agent;
* ``site_agent_intervals`` — agent figures per interval × site (interval view);
* ``charge_days`` / ``charge_buckets`` — per-call charges summed per Beijing day (or per
  fixed 15-minute bucket of arrival) × serving site × home site × settlement period.

A range ``[lo, hi)`` then reads day rows for the whole Beijing days inside it and finer
rows only at its edges (:func:`split_range`). Figures count in the interval of a call's
arrival (rows whose interval *start* is in the range), charges by the arrival itself, so
edges narrower than a charge bucket are read from the per-call charges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from operator import add, attrgetter
from typing import Any

from vcc_domain.rating import Charge, Entry, Position, Statement
from vcc_domain.stats import (
    AGENT_FIELDS,
    FIGURE_FIELDS,
    AgentFigures,
    AgentKey,
    Figures,
    StatKey,
)

DAY_MS = 86_400_000
BEIJING_OFFSET_MS = 8 * 3_600_000
CHARGE_BUCKET_MS = 15 * 60_000  # fixed (not the report interval): the 0002 backfill uses it
# DAY_MS and BEIJING_OFFSET_MS are multiples of CHARGE_BUCKET_MS: a bucket lies in one day

DayKey = tuple[str, str, str, int]  # site, business, tier, Beijing day start (ms)
SiteIntervalKey = tuple[str, int]  # site, interval start (ms)
AgentDayKey = tuple[str, str, int]  # site, agent, Beijing day start (ms)
ChargeKey = tuple[str, str, str, int]  # serving site, home site, period, bucket start (ms)
PairKey = tuple[str, str]  # serving site, home site


def day_start(at_ms: int) -> int:
    """The start of the Beijing calendar day holding ``at_ms``."""
    return at_ms - (at_ms + BEIJING_OFFSET_MS) % DAY_MS


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(slots=True)
class ChargeSums:
    """Sums of per-call charges: everything a statement needs, exactly."""

    calls: int = 0
    access_fen: int = 0
    access_units: int = 0
    access_ms: int = 0  # duration of the calls that carry access units
    handling_fee_fen: int = 0
    fee_calls: int = 0  # calls with a handling fee
    handled_minutes: int = 0  # started minutes of those calls, each rounded up
    adjustments_fen: int = 0  # access + fee of charges settled as adjustments

    def add(self, other: ChargeSums) -> ChargeSums:
        for name in CHARGE_SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def add_charge(self, ch: Charge) -> ChargeSums:
        self.calls += 1
        self.access_fen += ch.access_fen
        self.access_units += ch.access_units
        if ch.access_units:
            self.access_ms += ch.duration_ms
        if ch.handling_fee_fen:
            self.handling_fee_fen += ch.handling_fee_fen
            self.fee_calls += 1
            self.handled_minutes += _ceil_div(ch.handled_ms, 60_000)
        if ch.adjustment:
            self.adjustments_fen += ch.access_fen + ch.handling_fee_fen
        return self

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in CHARGE_SUM_FIELDS}


CHARGE_SUM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ChargeSums))


def statement_from_sums(
    period_id: str,
    sums: Mapping[PairKey, ChargeSums],
    sites: Iterable[str] = (),
    *,
    closed: bool = False,
    closed_at_ms: int = 0,
) -> Statement:
    """The statement :func:`vcc_domain.rating.build_statement` gives for the charges
    whose sums per (serving site, home site) are ``sums`` (all settled in ``period_id``)."""
    st = Statement(period_id, closed, closed_at_ms)
    entries: dict[tuple[str, str], Entry] = {}
    positions: dict[str, Position] = {s: Position(s) for s in sites}
    access_ms = 0
    for (site, home), s in sums.items():
        if not s.calls:
            continue
        st.calls += s.calls
        st.total_access_fen += s.access_fen
        st.total_handling_fee_fen += s.handling_fee_fen
        st.adjustments_fen += s.adjustments_fen
        access_ms += s.access_ms
        payer = positions.setdefault(home, Position(home))
        payer.access_fen += s.access_fen
        payer.access_units += s.access_units
        payer.calls += s.calls
        if s.fee_calls:
            e = entries.setdefault((home, site), Entry(home, site))
            e.calls += s.fee_calls
            e.handling_fee_fen += s.handling_fee_fen
            e.handled_minutes += s.handled_minutes
            st.handled_minutes += s.handled_minutes
            payer.payable_fen += s.handling_fee_fen
            positions.setdefault(site, Position(site)).receivable_fen += s.handling_fee_fen
    for p in positions.values():
        p.net_fen = p.receivable_fen - p.payable_fen
    st.access_minutes = _ceil_div(access_ms, 60_000)
    st.entries = [entries[k] for k in sorted(entries)]
    st.positions = [positions[k] for k in sorted(positions)]
    return st


def by_pair(sums: Mapping[ChargeKey, ChargeSums]) -> dict[PairKey, ChargeSums]:
    out: dict[PairKey, ChargeSums] = {}
    for (site, home, _period, _start), s in sums.items():
        out.setdefault((site, home), ChargeSums()).add(s)
    return out


def sum_charges(
    charges: Iterable[Charge],
    bucket_ms: int = DAY_MS,
) -> dict[ChargeKey, ChargeSums]:
    """Charges summed per serving site × home site × period × bucket of arrival
    (Beijing days, or fixed buckets of ``bucket_ms``)."""
    out: dict[ChargeKey, ChargeSums] = {}
    for ch in charges:
        at = ch.arrival_at_ms
        start = day_start(at) if bucket_ms == DAY_MS else at - at % bucket_ms
        out.setdefault((ch.site_id, ch.home_site, ch.period_id, start), ChargeSums()).add_charge(ch)
    return out


@dataclass
class Rollups:
    days: dict[DayKey, Figures] = field(default_factory=dict)
    site_intervals: dict[SiteIntervalKey, Figures] = field(default_factory=dict)
    agent_days: dict[AgentDayKey, AgentFigures] = field(default_factory=dict)
    site_agent_intervals: dict[SiteIntervalKey, AgentFigures] = field(default_factory=dict)
    charge_days: dict[ChargeKey, ChargeSums] = field(default_factory=dict)
    charge_buckets: dict[ChargeKey, ChargeSums] = field(default_factory=dict)


_FIGURES = attrgetter(*FIGURE_FIELDS)
_AGENTS = attrgetter(*AGENT_FIELDS)


def _sum_by(
    items: Iterable[tuple[Any, Any]],
    get: Callable[[Any], tuple[int, ...]],
) -> dict[Any, list[int]]:
    """Field-wise sums of ``(key, value)`` pairs per key (as lists; fast for many keys)."""
    out: dict[Any, list[int]] = {}
    for key, value in items:
        held = out.get(key)
        out[key] = list(get(value)) if held is None else list(map(add, held, get(value)))
    return out


def rollups_of(
    stats: Mapping[StatKey, Figures],
    agents: Mapping[AgentKey, AgentFigures],
    charges: Iterable[Charge],
) -> Rollups:
    """The roll-ups of interval aggregates and charges (of one aggregation step, or all)."""
    r = Rollups()
    days = _sum_by(
        (((site, biz, tier, day_start(start)), f) for (site, biz, tier, start), f in stats.items()),
        _FIGURES,
    )
    r.days = {k: Figures(*v) for k, v in days.items()}
    sites = _sum_by((((site, start), f) for (site, _b, _t, start), f in stats.items()), _FIGURES)
    r.site_intervals = {k: Figures(*v) for k, v in sites.items()}
    agent_days = _sum_by(
        (((site, agent, day_start(start)), a) for (site, agent, start), a in agents.items()),
        _AGENTS,
    )
    r.agent_days = {k: AgentFigures(*v) for k, v in agent_days.items()}
    site_agents = _sum_by((((site, start), a) for (site, _a, start), a in agents.items()), _AGENTS)
    r.site_agent_intervals = {k: AgentFigures(*v) for k, v in site_agents.items()}
    r.charge_buckets = sum_charges(charges, CHARGE_BUCKET_MS)
    for (site, home, period, start), cs in r.charge_buckets.items():  # a bucket is in a day
        r.charge_days.setdefault((site, home, period, day_start(start)), ChargeSums()).add(cs)
    return r


# -- reading a range -------------------------------------------------------------------


Span = tuple[int, int]  # [start, end) in epoch ms


@dataclass(frozen=True)
class RangePlan:
    """How ``[lo, hi)`` is read: whole Beijing days from day rows, the rest from finer rows.

    * figures: day rows with day start in ``days``; interval rows with interval start in
      each of ``edges``;
    * charges: day rows of ``days``; bucket rows with bucket start in each of
      ``charge_buckets`` (whole buckets only); per-call charges arriving in ``raw``.
    """

    days: Span | None
    edges: tuple[Span, ...]
    charge_buckets: tuple[Span, ...]
    raw: tuple[Span, ...]


def split_range(lo: int, hi: int, bucket_ms: int = CHARGE_BUCKET_MS) -> RangePlan:
    if hi <= lo:
        return RangePlan(None, (), (), ())
    d0 = lo if day_start(lo) == lo else day_start(lo) + DAY_MS
    d1 = day_start(hi)
    if d0 < d1:
        days: Span | None = (d0, d1)
        edges = tuple(s for s in ((lo, d0), (d1, hi)) if s[0] < s[1])
    else:
        days, edges = None, ((lo, hi),)
    buckets: list[Span] = []
    raw: list[Span] = []
    for a, b in edges:
        first = a if a % bucket_ms == 0 else a - a % bucket_ms + bucket_ms
        last = b - b % bucket_ms  # end of the last whole bucket
        if first < last:
            buckets.append((first, last))
            raw += [s for s in ((a, first), (last, b)) if s[0] < s[1]]
        else:
            raw.append((a, b))
    return RangePlan(days, edges, tuple(buckets), tuple(raw))
