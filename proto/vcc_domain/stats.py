"""Call-center figures from CDRs and agent states (pure; no I/O).

Everything stored is a **sum or a count** (:class:`Figures`, :class:`AgentFigures`), so
aggregates of adjacent intervals, sites, businesses or tiers merge exactly by adding
field by field; averages and rates are derived only when a report is rendered.

Choices (documented for reports and reconciliation):

* A CDR counts in the interval of its ``arrival_at_ms`` (at its serving site), however
  long the call lasts; interval boundaries are multiples of ``interval_ms`` since the epoch.
* ``offered`` counts every CDR of a site (a call that moved between sites is offered at
  each site that wrote a CDR of it).
* An abandon whose queue wait is **under** ``short_abandon_ms`` is a *short abandon*
  (``short_abandoned``): counted apart and left out of the service-level denominator. An
  abandon waiting exactly the threshold or longer is an ordinary abandon.
* Service level: ``answered_within / sl_calls``, where ``sl_calls`` = answered calls +
  ordinary abandons + calls lost unanswered; ``answered_within`` = answered with
  ``wait_ms`` ≤ the tier's target seconds (target taken when the CDR is aggregated).
  Calls that left the site unanswered by overflow or transfer are judged at the site that
  served them.
* Transfer rate = ``transferred / answered``; a transfer counts at the site that made it:
  a ``transferred_out`` CDR, or an answered, transferred CDR at the call's entry site.
* After-call work and not-ready time come from agent state changes: a state lasts until
  the agent's next state change and counts in the interval where it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from vcc_domain.province import SLTarget

DEFAULT_INTERVAL_MS = 15 * 60 * 1000
DEFAULT_SHORT_ABANDON_MS = 5_000
DEFAULT_TARGET = SLTarget(85, 20)
LEFT_SITE = frozenset({"transferred_out", "overflowed_out", "assigned_out"})


@dataclass(frozen=True, slots=True)
class StatsConfig:
    interval_ms: int = DEFAULT_INTERVAL_MS
    short_abandon_ms: int = DEFAULT_SHORT_ABANDON_MS


@dataclass(frozen=True, slots=True)
class Cdr:
    """The fields of a CDR that figures and charges use (the whole record is the ``Cdr``
    message of ``vcc_proto/v1/events.proto``; the domain imports no protobuf)."""

    call_id: str
    site_id: str
    home_site: str
    entry_site: str
    business_id: str
    tier: str
    outcome: str
    arrival_at_ms: int
    answered_at_ms: int
    ended_at_ms: int
    wait_ms: int
    ring_ms: int
    talk_ms: int
    hold_ms: int
    agent_id: str
    transferred: bool
    overflowed: bool
    cdr_id: str = ""

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Cdr:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = m.get(f.name)
            if f.type == "bool":
                values[f.name] = bool(raw)
            elif f.type == "int":
                values[f.name] = int(raw or 0)
            else:
                values[f.name] = str(raw or "")
        return cls(**values)


@dataclass(slots=True)
class Figures:
    """Counts and sums of one site × business × tier × interval (or any roll-up)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    ivr_ended: int = 0  # ivr_hangup and self_service: never queued for an agent
    lost: int = 0
    sl_calls: int = 0
    answered_within: int = 0
    wait_answered_ms: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    ring_ms: int = 0
    transferred: int = 0
    overflow_in: int = 0
    overflow_out: int = 0
    transferred_out: int = 0

    def add(self, other: Figures) -> Figures:
        for name in FIGURE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in FIGURE_FIELDS}


FIGURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Figures))


@dataclass(slots=True)
class AgentFigures:
    calls: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    acw_ms: int = 0
    wrapups: int = 0
    not_ready_ms: int = 0
    ready_ms: int = 0  # idle, waiting for a call
    staffed_ms: int = 0  # logged in, in any state

    def add(self, other: AgentFigures) -> AgentFigures:
        for name in AGENT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in AGENT_FIELDS}


AGENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AgentFigures))

StatKey = tuple[str, str, str, int]  # site, business, tier, interval start (ms)
AgentKey = tuple[str, str, int]  # site, agent, interval start (ms)
K = TypeVar("K")
K2 = TypeVar("K2")


def interval_start(at_ms: int, interval_ms: int) -> int:
    return at_ms - at_ms % interval_ms


def cdr_figures(cdr: Cdr, target: SLTarget, config: StatsConfig) -> Figures:
    """The figures one CDR contributes."""
    f = Figures(offered=1)
    answered = cdr.answered_at_ms > 0
    if answered:
        f.answered = 1
        f.wait_answered_ms = cdr.wait_ms
        f.talk_ms, f.hold_ms, f.ring_ms = cdr.talk_ms, cdr.hold_ms, cdr.ring_ms
        f.sl_calls = 1
        f.answered_within = int(cdr.wait_ms <= target.within_s * 1000)
        if cdr.transferred and (cdr.outcome == "transferred_out" or cdr.site_id == cdr.entry_site):
            f.transferred = 1
    elif cdr.outcome == "abandoned":
        if cdr.wait_ms < config.short_abandon_ms:
            f.short_abandoned = 1
        else:
            f.abandoned = 1
            f.sl_calls = 1
    elif cdr.outcome == "lost":
        f.sl_calls = 1
    if cdr.outcome == "lost":
        f.lost = 1
    if cdr.outcome in ("ivr_hangup", "self_service"):
        f.ivr_ended = 1
    if cdr.outcome == "overflowed_out":
        f.overflow_out = 1
    elif cdr.overflowed:
        f.overflow_in = 1
    if cdr.outcome == "transferred_out":
        f.transferred_out = 1
    return f


def aggregate_cdrs(
    cdrs: Iterable[Cdr], target_of: Callable[[str], SLTarget], config: StatsConfig
) -> tuple[dict[StatKey, Figures], dict[AgentKey, AgentFigures]]:
    """Figures per site × business × tier × interval, and per-agent call figures."""
    stats: dict[StatKey, Figures] = {}
    agents: dict[AgentKey, AgentFigures] = {}
    for cdr in cdrs:
        start = interval_start(cdr.arrival_at_ms, config.interval_ms)
        key = (cdr.site_id, cdr.business_id, cdr.tier, start)
        stats.setdefault(key, Figures()).add(cdr_figures(cdr, target_of(cdr.tier), config))
        if cdr.agent_id and cdr.answered_at_ms > 0:
            a = agents.setdefault((cdr.site_id, cdr.agent_id, start), AgentFigures())
            a.calls += 1
            a.talk_ms += cdr.talk_ms
            a.hold_ms += cdr.hold_ms
    return stats, agents


# -- agent states ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStateRow:
    site: str
    seq: int
    agent_id: str
    state: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class OpenState:
    """An agent's current state as of its last change (not yet closed by a next one)."""

    state: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Span:
    site: str
    agent_id: str
    state: str
    start_ms: int
    duration_ms: int


def close_spans(
    open_states: dict[tuple[str, str], OpenState], rows: Iterable[AgentStateRow]
) -> list[Span]:
    """Walk state changes in sequence order; each closes the agent's open state.

    ``open_states`` (keyed by site and agent) is updated in place, so a caller can keep it
    between batches and get exactly the spans one pass over all rows would give.
    """
    spans: list[Span] = []
    for row in sorted(rows, key=lambda r: (r.site, r.seq)):
        key = (row.site, row.agent_id)
        held = open_states.get(key)
        if held is not None:
            spans.append(
                Span(row.site, row.agent_id, held.state, held.at_ms, max(0, row.at_ms - held.at_ms))
            )
        open_states[key] = OpenState(row.state, row.at_ms)
    return spans


def aggregate_spans(spans: Iterable[Span], config: StatsConfig) -> dict[AgentKey, AgentFigures]:
    """Time per agent and interval (of the span's start) from the agents' state spans:
    after-call work (``wrap_up``), ``not_ready``, ``ready`` (idle) and staffed time (any
    state but logged out), which give occupancy (:func:`occupancy`)."""
    agents: dict[AgentKey, AgentFigures] = {}
    for s in spans:
        if s.state == "logged_out":
            continue
        a = agents.setdefault(
            (s.site, s.agent_id, interval_start(s.start_ms, config.interval_ms)), AgentFigures()
        )
        a.staffed_ms += s.duration_ms
        if s.state == "wrap_up":
            a.acw_ms += s.duration_ms
            a.wrapups += 1
        elif s.state == "not_ready":
            a.not_ready_ms += s.duration_ms
        elif s.state == "ready":
            a.ready_ms += s.duration_ms
    return agents


def occupancy(a: AgentFigures) -> float | None:
    """Share of the time agents were available that they spent on calls (ringing,
    talking, holding, after-call work): ``1 - ready / (staffed - not ready)``."""
    available = a.staffed_ms - a.not_ready_ms
    return None if available <= 0 else 1 - a.ready_ms / available


# -- roll-ups and derived figures --------------------------------------------------------


def merge_into(target: dict[K, Any], source: Mapping[K, Any]) -> None:
    for key, value in source.items():
        held = target.get(key)
        if held is None:
            target[key] = type(value)().add(value)
        else:
            held.add(value)


def rollup(items: Mapping[K, Figures], key_of: Callable[[K], K2]) -> dict[K2, Figures]:
    out: dict[K2, Figures] = {}
    for key, value in items.items():
        out.setdefault(key_of(key), Figures()).add(value)
    return out


def rollup_agents(
    items: Mapping[K, AgentFigures], key_of: Callable[[K], K2]
) -> dict[K2, AgentFigures]:
    out: dict[K2, AgentFigures] = {}
    for key, value in items.items():
        out.setdefault(key_of(key), AgentFigures()).add(value)
    return out


def ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def secs(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def derived(f: Figures, acw: AgentFigures | None = None) -> dict[str, float | None]:
    """Averages and rates (seconds, fractions); None where the denominator is zero.

    ``aht_s`` is (talk + hold + after-call work) per answered call; after-call work is
    only known per agent, so it is included when ``acw`` is given (site or province rows).
    """
    acw_ms = acw.acw_ms if acw is not None else 0
    return {
        "service_level": ratio(f.answered_within, f.sl_calls),
        "asa_s": secs(ratio(f.wait_answered_ms, f.answered)),
        "aht_s": secs(ratio(f.talk_ms + f.hold_ms + acw_ms, f.answered)),
        "avg_talk_s": secs(ratio(f.talk_ms, f.answered)),
        "avg_ring_s": secs(ratio(f.ring_ms, f.answered)),
        "avg_acw_s": secs(ratio(acw.acw_ms, acw.wrapups)) if acw is not None else None,
        "transfer_rate": ratio(f.transferred, f.answered),
        "abandon_rate": ratio(f.abandoned, f.sl_calls),
        "occupancy": occupancy(acw) if acw is not None else None,
    }


@dataclass(frozen=True, slots=True)
class Aggregates:
    """A full recomputation (for reconciliation and property tests)."""

    stats: dict[StatKey, Figures] = field(default_factory=dict)
    agents: dict[AgentKey, AgentFigures] = field(default_factory=dict)


def recompute(
    cdrs: Iterable[Cdr],
    states: Iterable[AgentStateRow],
    target_of: Callable[[str], SLTarget],
    config: StatsConfig,
) -> Aggregates:
    stats, agents = aggregate_cdrs(cdrs, target_of, config)
    merge_into(agents, aggregate_spans(close_spans({}, states), config))
    return Aggregates(stats, agents)
