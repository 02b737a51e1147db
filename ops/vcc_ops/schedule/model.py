"""The call model a schedule is staffed for, and the simulator's staffing and prediction.

:class:`CallModel` holds what the simulator needs besides the agents and the calls: talk,
wrap-up, ring delay, patience and the service-level target. :func:`demo_model` and
:func:`demo_calls` give the example demo's load (``vcc demo`` defaults, see
:mod:`vcc_ops.traffic.plan`) in province time.

:class:`SimStaffing` answers the two questions of :func:`vcc_domain.schedule.build_schedule`
with the simulator on a fixed seed (cached, since a week repeats few distinct loads):
``required(calls)``, the fewest agents whose simulated service level over the interval's
steady state meets the target (the search starts at the Erlang A answer), and
``predict(agents, calls)``, the simulated service level with that many agents on another
seed (the search stops at the first draw that meets the target, so its own figure is
biased upwards).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vcc_domain.province import Province
from vcc_domain.schedule import INTERVAL_MS, WEEK
from vcc_ops.simulate.engine import SimConfig, simulate
from vcc_ops.simulate.erlang import erlang_a, erlang_c
from vcc_ops.traffic.plan import CallPlanner, TrafficConfig

INTERVAL_S = INTERVAL_MS / 1000
DEMO_CALLS_PER_WALL_S = 55.0  # ``vcc demo`` at --rate-scale 1 (vcc_ops.demo.run)
PREDICT_SEED = 7919  # the prediction's seed is the search's plus this


@dataclass(frozen=True, slots=True)
class CallModel:
    aht_s: float = 120.0  # mean talk
    wrapup_s: float = 20.0
    ring_delay_s: float = 3.0
    patience_s: float | None = 120.0
    target_s: float = 20.0
    target_sl: float = 0.85  # seed 004: 85 % within 20 s for all but VIP

    def config(self, agents: int, calls: float, calls_simulated: int, seed: int) -> SimConfig:
        per_hour = calls * 3600 / INTERVAL_S
        return SimConfig(
            agents=agents,
            calls_per_hour=per_hour,
            aht_s=self.aht_s,
            target_s=self.target_s,
            duration_h=max(0.5, calls_simulated / per_hour),
            warmup_h=0.25,
            patience_s=self.patience_s,
            wrapup_s=self.wrapup_s,
            ring_delay_s=self.ring_delay_s,
            seed=seed,
        )


def demo_model(config: TrafficConfig | None = None) -> CallModel:
    cfg = config or TrafficConfig()
    return CallModel(
        aht_s=cfg.handle_s,
        wrapup_s=cfg.acw_s,
        ring_delay_s=cfg.ring_s,
        patience_s=cfg.patience_s or None,
    )


def demo_calls(province: Province, site_id: str, rate_scale: float = 1.0) -> list[float]:
    """The demo's calls per 15-minute interval at a site, every interval of the week."""
    cfg = TrafficConfig(calls_per_s=DEMO_CALLS_PER_WALL_S * rate_scale)
    share = CallPlanner(province, cfg).site_share(site_id)
    per_interval = cfg.calls_per_s / cfg.speed * share * INTERVAL_S
    return [per_interval] * WEEK


@dataclass
class SimStaffing:
    model: CallModel
    calls_simulated: int = 8000  # callers per simulated steady state
    seed: int = 1
    _sl: dict[tuple[int, float, int], float] = field(default_factory=dict)
    _need: dict[float, int] = field(default_factory=dict)

    def predict(self, agents: int, calls: float) -> float:
        """The service level published with the schedule: simulated on a seed of its own,
        so it is not the lucky draw that made the search stop at ``agents``."""
        return self._simulated(agents, calls, self.seed + PREDICT_SEED)

    def _simulated(self, agents: int, calls: float, seed: int) -> float:
        key = (agents, round(calls, 1), seed)
        if agents <= 0:
            return 0.0
        if key not in self._sl:
            cfg = self.model.config(agents, key[1], self.calls_simulated, seed)
            self._sl[key] = simulate(cfg).service_level
        return self._sl[key]

    def required(self, calls: float) -> int:
        key = round(calls, 1)
        if key not in self._need:
            self._need[key] = self._search(key)
        return self._need[key]

    def _search(self, calls: float) -> int:
        m = self.model
        rate = calls / INTERVAL_S
        handle = m.ring_delay_s + m.aht_s + m.wrapup_s
        n = max(1, int(rate * handle * 0.8))
        while _erlang(n, rate, handle, m) < m.target_sl:
            n += 1

        def meets(agents: int) -> bool:
            return self._simulated(agents, calls, self.seed) >= m.target_sl

        if meets(n):
            while n > 1 and meets(n - 1):
                n -= 1
            return n
        while not meets(n):
            n += 1
        return n


def _erlang(n: int, rate: float, handle: float, m: CallModel) -> float:
    if m.patience_s is None:
        return erlang_c(n, rate, handle, m.target_s).service_level
    return erlang_a(n, rate, handle, m.target_s, m.patience_s).service_level
