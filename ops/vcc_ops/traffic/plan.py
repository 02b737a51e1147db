"""What the simulated callers and agents do: pure, seeded decisions.

Times in :class:`TrafficConfig` are in **province time** (seconds as the business sees
them: a 180 s handle time, 90 s of patience). The demo runs the province ``speed`` times
faster than the wall clock (``VCC_TIME_SPEED`` for every process, see
:class:`vcc_domain.clock.ScaledClock`), so the bots wait ``t / speed`` wall seconds:
:meth:`TrafficConfig.wall`.

A caller is drawn as: an area (weighted by the seats of the site that owns it), a
number in that area (a known customer of the site, which sets the tier, or an unknown
number), a dialed code (the business mix), a patience (exponential) and a talk time
(log-normal around the handle time). In the IVR the caller follows the menu towards an
agent, sometimes keying an invalid digit first, sometimes visiting a self-service node.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from vcc_domain.errors import InvalidInput
from vcc_domain.province import Business, NodeKind, Province
from vcc_site.store.customers import phone_for

# Share of each dialed code in the province's calls (rest spread evenly over the others).
DEFAULT_CODE_MIX = {
    "1000": 0.40,
    "112": 0.15,
    "114": 0.10,
    "95598": 0.10,
    "189": 0.10,
    "180": 0.05,
    "170": 0.10,
}


@dataclass(frozen=True)
class TrafficConfig:
    """Knobs of the simulated province; times in province seconds."""

    calls_per_s: float = 50.0  # offered calls per WALL second, whole province
    speed: float = 30.0  # province seconds per wall second
    seed: int = 1
    handle_s: float = 120.0  # mean talk time (log-normal, sigma below)
    handle_sigma: float = 0.5
    acw_s: float = 20.0  # mean after-call work before the agent wraps up (exponential)
    ring_s: float = 3.0  # an agent picks up after this long (uniform 0.5x..1.5x)
    patience_s: float = 120.0  # mean patience in the queue (exponential); 0 = infinite
    unknown_share: float = 0.15  # callers who are nobody's customer
    customers_per_site: int = 2000  # the seeded customers of each site (indexes drawn)
    invalid_key_share: float = 0.03  # callers who key an invalid digit first
    self_service_share: float = 0.05  # callers who visit a self-service node on the way
    transfer_share: float = 0.03  # answered calls the agent transfers to another site
    break_share: float = 0.02  # after a call, an agent takes a break with this chance
    break_s: float = 300.0  # mean break length
    work_order_share: float = 0.08  # calls of a business with a form that end in a work order
    callback_reach_share: float = 0.9  # callbacks offered to a bot that reach the customer
    rating_share: float = 0.6  # callers who key a rating when the business asks for one
    code_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CODE_MIX))
    # a surge (e.g. a fault storm): the site's own callers arrive ``surge_factor`` times as
    # often between ``surge_from_s`` and ``surge_to_s`` wall seconds into the run
    surge_site: str = ""
    surge_factor: float = 1.0
    surge_from_s: float = 0.0
    surge_to_s: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not self.calls_per_s > 0:
            problems.append("calls_per_s must be positive")
        if not self.speed >= 1:
            problems.append("speed must be at least 1")
        for name in ("handle_s", "ring_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive")
        for name in (
            "unknown_share",
            "invalid_key_share",
            "self_service_share",
            "transfer_share",
            "break_share",
            "work_order_share",
        ):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be within 0..1")
        if problems:
            raise InvalidInput("; ".join(problems), field="traffic")

    def wall(self, province_s: float) -> float:
        """Wall seconds that ``province_s`` province seconds last."""
        return province_s / self.speed


@dataclass(frozen=True)
class PlannedCall:
    """One caller, decided before the call is placed."""

    index: int
    area_code: str
    caller: str
    dialed_code: str
    patience_s: float  # province seconds; math.inf = waits forever
    handle_s: float  # province seconds of talk if answered
    invalid_first: bool
    self_service: bool
    transfer: bool  # the answering agent transfers it to another site


class CallPlanner:
    """Draws callers for a province, reproducibly for a seed."""

    def __init__(self, province: Province, config: TrafficConfig) -> None:
        self.province = province
        self.config = config
        self.rng = random.Random(config.seed)
        areas: list[tuple[str, float]] = []
        for site in province.sites:
            for code in site.area_codes:
                areas.append((code, site.seats / len(site.area_codes)))
        self.areas = [a for a, _ in areas]
        self.area_weights = [w for _, w in areas]
        codes = {code for b in province.businesses for code in b.dialed_codes}
        mix = {code: share for code, share in config.code_mix.items() if code in codes}
        rest = [code for code in sorted(codes) if code not in mix]
        left = max(0.0, 1.0 - sum(mix.values()))
        for code in rest:
            mix[code] = left / len(rest) if left > 0 else 0.01
        self.codes = sorted(mix)
        self.code_weights = [mix[c] for c in self.codes]
        self.count = 0

    def next_gap_s(self) -> float:
        """Wall seconds to the next arrival (Poisson process)."""
        return self.rng.expovariate(self.config.calls_per_s)

    def site_share(self, site_id: str) -> float:
        """The share of the province's callers who live in the site's areas."""
        mine = set(self.province.site(site_id).area_codes)
        return sum(
            w for a, w in zip(self.areas, self.area_weights, strict=True) if a in mine
        ) / sum(self.area_weights)

    def draw(self, site_id: str = "") -> PlannedCall:
        """The next caller (from ``site_id``'s areas only, if given)."""
        cfg, rng = self.config, self.rng
        if site_id:
            area = rng.choice(self.province.site(site_id).area_codes)
        else:
            area = rng.choices(self.areas, self.area_weights)[0]
        if rng.random() < cfg.unknown_share:
            index = cfg.customers_per_site + rng.randrange(100_000)  # nobody's customer
        else:
            index = rng.randrange(cfg.customers_per_site)
        code = rng.choices(self.codes, self.code_weights)[0]
        patience = rng.expovariate(1 / cfg.patience_s) if cfg.patience_s > 0 else math.inf
        mu = math.log(cfg.handle_s) - cfg.handle_sigma**2 / 2  # mean of the log-normal = handle_s
        handle = min(rng.lognormvariate(mu, cfg.handle_sigma), cfg.handle_s * 6)
        self.count += 1
        return PlannedCall(
            self.count,
            area,
            phone_for(area, index),
            code,
            patience,
            handle,
            rng.random() < cfg.invalid_key_share,
            rng.random() < cfg.self_service_share,
            rng.random() < cfg.transfer_share,
        )


class IvrWalker:
    """Chooses the caller's keys, step by step, from the business's menu tree."""

    MAX_KEYS = 8  # a caller who keyed this much without reaching anyone hangs up

    def __init__(self, province: Province, call: PlannedCall, rng: random.Random) -> None:
        self.business: Business = province.business_for_code(call.dialed_code)
        self.call = call
        self.rng = rng
        self.keys = 0
        self._invalid_pending = call.invalid_first
        self._self_service_pending = call.self_service

    def choose(self, node_id: str, secret: bool, max_digits: int) -> str | None:
        """The digits to send at ``node_id`` (None: the caller hangs up)."""
        self.keys += 1
        if self.keys > self.MAX_KEYS:
            return None
        menu = self.business.ivr
        node = next((n for n in menu.nodes if n.id == node_id), None)
        if node is None or node.kind != NodeKind.MENU:  # a self-service input
            if secret:
                return "".join(self.rng.choice("0123456789") for _ in range(max(1, max_digits)))
            return "".join(self.rng.choice("23456789") for _ in range(min(8, max(1, max_digits))))
        if self._invalid_pending:
            self._invalid_pending = False
            unused = [d for d in "0123456789*#" if d not in node.options]
            if unused:
                return self.rng.choice(unused)
        to_queue, to_service = [], []
        for digit, target_id in sorted(node.options.items()):
            target = menu.node(target_id)
            if target.kind == NodeKind.QUEUE:
                to_queue.append(digit)
            elif target.kind == NodeKind.SELF_SERVICE:
                to_service.append(digit)
            else:
                to_queue.append(digit)  # a sub-menu: it leads on
        if self._self_service_pending and to_service:
            self._self_service_pending = False
            return self.rng.choice(to_service)
        if to_queue:
            return self.rng.choice(to_queue)
        return self.rng.choice(sorted(node.options)) if node.options else None
