"""Service-quality index (SQI): one number per site and for the province (pure).

Formula (every number is configuration, :class:`SqiConfig`)::

    SQI = 100 × Σ wᵢ·aᵢ / Σ wᵢ        over the components i that have data

Each attainment aᵢ is in [0, 1] (capped, so over-achieving one target cannot make up
for missing another):

* ``service_level``: per tier t with calls, min(1, SLₜ / targetₜ) (VIP 90 % and others
  85 % within 20 s by default, from the province's tiers); tiers are combined weighted
  by their service-level calls.
* ``acw`` (average after-call work, target ≤ 60 s), ``ring`` (average ring before answer,
  ≤ 12 s), ``talk`` (average talk time, ≤ 150 s), ``transfer`` (transferred / answered,
  ≤ 3 %): "lower is better" figures, aᵢ = 1 when the measured value m ≤ target T,
  else T / m.
* ``satisfaction`` (the callers' keypad ratings 1–5 after the agent, where the business
  asks for them): aᵢ = (average − 1) / 4; left out without ratings, so an index over a
  range with no ratings is what it was before ratings existed.

Default weights: service level 40, after-call work 15, ring 15, talk 15, transfer 15,
satisfaction 10.
A component without data (no answered calls, no wrap-ups) is left out and the remaining
weights are renormalised; with no data at all the index is None. Work-order correctness
(also a DOMAIN.md §5 target) is not measured from CDRs and is not part of the index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vcc_domain.province import SLTarget
from vcc_domain.stats import AgentFigures, Figures

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "service_level": 40.0,
    "acw": 15.0,
    "ring": 15.0,
    "talk": 15.0,
    "transfer": 15.0,
    "satisfaction": 10.0,
}


@dataclass(frozen=True, slots=True)
class SqiConfig:
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    acw_target_s: float = 60.0
    ring_target_s: float = 12.0
    talk_target_s: float = 150.0
    transfer_target: float = 0.03

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> SqiConfig:
        weights = dict(DEFAULT_WEIGHTS)
        weights.update({k: float(v) for k, v in dict(m.get("weights") or {}).items()})
        return cls(
            weights=weights,
            acw_target_s=float(m.get("acw_target_s", 60.0)),
            ring_target_s=float(m.get("ring_target_s", 12.0)),
            talk_target_s=float(m.get("talk_target_s", 150.0)),
            transfer_target=float(m.get("transfer_target", 0.03)),
        )


@dataclass(frozen=True, slots=True)
class SqiComponent:
    name: str
    measured: float | None  # seconds, or a fraction for rates and service level
    target: float
    attainment: float | None  # 0..1, None without data
    weight: float
    points: float  # contribution to the index, 0..100 over all components

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "target": self.target,
            "attainment": self.attainment,
            "weight": self.weight,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class Sqi:
    value: float | None
    components: tuple[SqiComponent, ...]

    def explain(self) -> list[dict[str, Any]]:
        """Per-component numbers, for every report that shows the index."""
        return [c.as_dict() for c in self.components]


FORMULA = (
    "SQI = 100 × Σ wᵢ·aᵢ / Σ wᵢ over components with data; aᵢ = min(1, SL/target) "
    "per tier (volume-weighted) for service level, and min(1, target/measured) for "
    "after-call work, ring time, talk time and transfer rate; (average rating − 1) / 4 "
    "for satisfaction"
)


def lower_is_better(measured: float | None, target: float) -> float | None:
    if measured is None:
        return None
    if measured <= target:
        return 1.0
    return target / measured


def compute_sqi(
    by_tier: Mapping[str, Figures],
    agents: AgentFigures,
    target_of: Callable[[str], SLTarget],
    config: SqiConfig,
    ratings: tuple[int, int] | None = None,
) -> Sqi:
    """``ratings``: (count, sum of the keys) of the callers' ratings, None or (0, _)
    without any."""
    total = Figures()
    sl_num = 0.0
    sl_den = 0
    for tier, f in sorted(by_tier.items()):
        total.add(f)
        if f.sl_calls:
            target = target_of(tier).percent / 100
            sl_num += min(1.0, (f.answered_within / f.sl_calls) / target) * f.sl_calls
            sl_den += f.sl_calls
    sl_measured = total.answered_within / total.sl_calls if total.sl_calls else None
    answered = total.answered

    def avg(ms: int, n: int) -> float | None:
        return ms / n / 1000 if n else None

    measured: list[tuple[str, float | None, float, float | None]] = [
        ("service_level", sl_measured, 0.0, sl_num / sl_den if sl_den else None),
    ]
    acw = avg(agents.acw_ms, agents.wrapups)
    ring = avg(total.ring_ms, answered)
    talk = avg(total.talk_ms, answered)
    transfer = total.transferred / answered if answered else None
    measured += [
        ("acw", acw, config.acw_target_s, lower_is_better(acw, config.acw_target_s)),
        ("ring", ring, config.ring_target_s, lower_is_better(ring, config.ring_target_s)),
        ("talk", talk, config.talk_target_s, lower_is_better(talk, config.talk_target_s)),
        (
            "transfer",
            transfer,
            config.transfer_target,
            lower_is_better(transfer, config.transfer_target),
        ),
    ]
    if ratings is not None and ratings[0] > 0:
        count, total_keys = ratings
        average = total_keys / count
        measured.append(("satisfaction", average, 5.0, (average - 1) / 4))
    weight_sum = sum(config.weights.get(name, 0.0) for name, _m, _t, a in measured if a is not None)
    components: list[SqiComponent] = []
    value = 0.0
    for name, m, target, a in measured:
        w = config.weights.get(name, 0.0)
        if name == "service_level":
            target = _sl_target_label(by_tier, target_of)
        points = 100 * w * a / weight_sum if (a is not None and weight_sum > 0) else 0.0
        value += points
        components.append(SqiComponent(name, m, target, a, w, round(points, 4)))
    return Sqi(round(value, 2) if weight_sum > 0 else None, tuple(components))


def _sl_target_label(by_tier: Mapping[str, Figures], target_of: Callable[[str], SLTarget]) -> float:
    """The volume-weighted target percentage (for display next to the measured SL)."""
    den = sum(f.sl_calls for f in by_tier.values())
    if not den:
        return 0.0
    return sum(target_of(t).percent / 100 * f.sl_calls for t, f in by_tier.items()) / den
