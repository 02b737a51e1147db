"""Agent assessment (考核): the seed 004 figures, quality and satisfaction, one weighted
score, per agent, team, site and province for a month (pure, integer arithmetic).

Figures are additive sums (:class:`KpiFigures`), so a team, a site and the province are
the sums of their agents and every level is judged the same way. Each component has an
attainment in basis points (0..10000, capped so over-achieving one figure cannot make up
for another):

==============  ===========================================  =========================
component       measured                                     attainment
==============  ===========================================  =========================
acw             average after-call work (≤ 60 s)             1 when ≤ target, else T/m
ring            average ring before answer (≤ 12 s)          1 when ≤ target, else T/m
talk            average talk time (≤ 150 s)                  1 when ≤ target, else T/m
transfer        transferred / answered (≤ 3 %)               1 when ≤ target, else T/m
work_orders     orders correct (≥ 99 %), key fields (≥ 95 %)  the lower of rate/target
callbacks       callbacks done by their deadline / due       the rate
quality         average final inspection score               the score
satisfaction    average keypad rating 1–5                    (average − 1) / 4
==============  ===========================================  =========================

The weighted score is ``Σ wᵢ·aᵢ / Σ wᵢ`` over the components that have data (basis
points, floor); the weights are the province's ``[quality.weights]`` over
:data:`DEFAULT_WEIGHTS`. Teams: an agent's team is the site's call-taking agents in ID
order cut into teams of ``team_size`` (``KM-T01`` …) until the directory names teams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vcc_domain.quality import BP, CORRECT_TARGET_BP, KEY_FIELDS_TARGET_BP, Correctness
from vcc_domain.satisfaction import RatingFigures

DEFAULT_WEIGHTS: Mapping[str, int] = {
    "acw": 10,
    "ring": 10,
    "talk": 10,
    "transfer": 10,
    "work_orders": 15,
    "callbacks": 10,
    "quality": 25,
    "satisfaction": 10,
}
COMPONENTS = tuple(DEFAULT_WEIGHTS)
ACW_TARGET_MS, RING_TARGET_MS, TALK_TARGET_MS = 60_000, 12_000, 150_000
TRANSFER_TARGET_BP = 300
DEFAULT_TEAM_SIZE = 15


@dataclass(frozen=True, slots=True)
class KpiFigures:
    answered: int = 0
    ring_ms: int = 0
    talk_ms: int = 0
    transferred: int = 0
    wrapups: int = 0
    acw_ms: int = 0
    orders: Correctness = field(default_factory=Correctness)
    callbacks_due: int = 0
    callbacks_on_time: int = 0
    quality_total_bp: int = 0
    quality_reviews: int = 0
    ratings: RatingFigures = field(default_factory=RatingFigures)

    def add(self, o: KpiFigures) -> KpiFigures:
        return KpiFigures(
            self.answered + o.answered,
            self.ring_ms + o.ring_ms,
            self.talk_ms + o.talk_ms,
            self.transferred + o.transferred,
            self.wrapups + o.wrapups,
            self.acw_ms + o.acw_ms,
            self.orders.add(o.orders),
            self.callbacks_due + o.callbacks_due,
            self.callbacks_on_time + o.callbacks_on_time,
            self.quality_total_bp + o.quality_total_bp,
            self.quality_reviews + o.quality_reviews,
            self.ratings.add(o.ratings),
        )


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    measured: int | None  # ms for times, basis points for rates and scores
    target: int
    attainment_bp: int | None
    weight: int

    @property
    def meets(self) -> bool | None:
        return None if self.attainment_bp is None else self.attainment_bp >= BP

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "target": self.target,
            "attainment_bp": self.attainment_bp,
            "weight": self.weight,
            "meets": self.meets,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    level: str  # agent | team | site | province
    subject: str
    figures: KpiFigures
    components: tuple[Component, ...]
    score_bp: int | None

    def as_dict(self) -> dict[str, Any]:
        f = self.figures
        return {
            "level": self.level,
            "subject": self.subject,
            "score_bp": self.score_bp,
            "answered": f.answered,
            "quality_reviews": f.quality_reviews,
            "ratings": f.ratings.count,
            "satisfaction_avg_centi": f.ratings.avg_centi,
            "orders_checked": f.orders.checked,
            "orders_correct_bp": f.orders.correct_bp,
            "key_fields_bp": f.orders.key_bp,
            "components": [c.as_dict() for c in self.components],
        }


def weights_of(overrides: Mapping[str, int] | None) -> dict[str, int]:
    out = dict(DEFAULT_WEIGHTS)
    out.update(overrides or {})
    return out


def _avg(total: int, n: int) -> int | None:
    return total // n if n else None


def _lower(measured: int | None, target: int) -> int | None:
    if measured is None:
        return None
    return BP if measured <= target else target * BP // measured


def _rate_vs(rate_bp: int | None, target_bp: int) -> int | None:
    return None if rate_bp is None else min(BP, rate_bp * BP // target_bp)


def _orders(c: Correctness) -> int | None:
    parts = [
        a
        for a in (
            _rate_vs(c.correct_bp, CORRECT_TARGET_BP),
            _rate_vs(c.key_bp, KEY_FIELDS_TARGET_BP),
        )
        if a is not None
    ]
    return min(parts) if parts else None


def measures(f: KpiFigures) -> list[tuple[str, int | None, int, int | None]]:
    """(component, measured, target, attainment) of every component."""
    acw, ring, talk = (
        _avg(f.acw_ms, f.wrapups),
        _avg(f.ring_ms, f.answered),
        _avg(f.talk_ms, f.answered),
    )
    transfer = f.transferred * BP // f.answered if f.answered else None
    callbacks = f.callbacks_on_time * BP // f.callbacks_due if f.callbacks_due else None
    quality = _avg(f.quality_total_bp, f.quality_reviews)
    return [
        ("acw", acw, ACW_TARGET_MS, _lower(acw, ACW_TARGET_MS)),
        ("ring", ring, RING_TARGET_MS, _lower(ring, RING_TARGET_MS)),
        ("talk", talk, TALK_TARGET_MS, _lower(talk, TALK_TARGET_MS)),
        ("transfer", transfer, TRANSFER_TARGET_BP, _lower(transfer, TRANSFER_TARGET_BP)),
        ("work_orders", f.orders.correct_bp, CORRECT_TARGET_BP, _orders(f.orders)),
        ("callbacks", callbacks, BP, callbacks),
        ("quality", quality, BP, quality),
        ("satisfaction", f.ratings.avg_centi, 500, f.ratings.attainment_bp),
    ]


def assess(level: str, subject: str, f: KpiFigures, weights: Mapping[str, int]) -> Assessment:
    comps = [Component(n, m, t, a, int(weights.get(n, 0))) for n, m, t, a in measures(f)]
    den = sum(c.weight for c in comps if c.attainment_bp is not None)
    num = sum(c.weight * c.attainment_bp for c in comps if c.attainment_bp is not None)
    return Assessment(level, subject, f, tuple(comps), num // den if den else None)


def teams(agent_ids: Iterable[str], site_id: str, team_size: int) -> dict[str, str]:
    """agent ID -> team (``<site>-T01`` …): agents in ID order, ``team_size`` a team."""
    size = max(1, team_size)
    return {a: f"{site_id}-T{i // size + 1:02d}" for i, a in enumerate(sorted(set(agent_ids)))}


def roll_up(
    per_agent: Mapping[str, KpiFigures],
    team_of: Callable[[str], str],
    site_of: Callable[[str], str],
    weights: Mapping[str, int],
) -> list[Assessment]:
    """Agents, teams, sites and the province, in that order, each sorted by subject."""
    teams_f: dict[str, KpiFigures] = {}
    sites_f: dict[str, KpiFigures] = {}
    province = KpiFigures()
    for agent, f in per_agent.items():
        team, site = team_of(agent), site_of(agent)
        teams_f[team] = teams_f.get(team, KpiFigures()).add(f)
        sites_f[site] = sites_f.get(site, KpiFigures()).add(f)
        province = province.add(f)
    out = [assess("agent", a, per_agent[a], weights) for a in sorted(per_agent)]
    out += [assess("team", t, teams_f[t], weights) for t in sorted(teams_f)]
    out += [assess("site", s, sites_f[s], weights) for s in sorted(sites_f)]
    out.append(assess("province", "", province, weights))
    return out
