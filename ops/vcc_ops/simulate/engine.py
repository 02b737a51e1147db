"""A discrete-event simulation of one queue that drives the real ACD on a virtual clock.

The model is the textbook one: Poisson arrivals (``calls_per_hour``), exponential talk
times with mean ``aht_s``, ``agents`` identical agents of one skill, optionally an
exponential patience (mean ``patience_s``: a caller still waiting when it runs out hangs
up), a fixed wrap-up after each call and a fixed ring delay before an agent answers.

Every routing decision is the real :class:`vcc_site.domain.Acd`'s, driven as a site
drives it: ``offer_call`` on arrival, ``answer`` when the agent picks up (at once, or
after the ring delay), ``hang_up`` when the talk time is over (the agent goes to wrap-up)
or when a waiting or ringing caller runs out of patience (the call ends ABANDONED),
``wrap_up_done`` after the wrap-up, each of which may hand the agent its next call. The
ACD's clock is a :class:`vcc_domain.clock.ManualClock` moved to each event's time, taken
in order from a heap of ``(time, sequence, ...)``, so hours of traffic take seconds and a
seed gives the same result every time.

Each caller's arrival, talk time and patience come from three separate random streams
drawn in arrival order, so runs with a different number of agents see the same callers
(common random numbers: staffing candidates differ only by their staffing).

Figures cover the callers who arrive in the measured window ``[warmup, warmup +
duration)``; after the last arrival the run continues until every caller has finished.
``service_level`` = callers answered with a wait ≤ ``target_s`` / offered, ``asa_s`` =
mean wait of answered callers (ring delay included), ``aht_s`` = mean talk + wrap-up of
answered callers, ``occupancy`` = time agents spent ringing, talking or wrapping up /
(agents x window), ``abandon_rate`` = abandoned / offered. The Erlang C / Erlang A
predictions treat ring + talk + wrap-up as one exponential handle time (exact only when
the ring delay and the wrap-up are 0). ``service_level_se`` is the
standard error of the service level by batch means (the window cut into 20 batches by
arrival time), so a reader can tell a real difference from noise.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from vcc_domain.clock import ManualClock
from vcc_domain.errors import InvalidInput
from vcc_ops.simulate.erlang import erlang_a, erlang_c
from vcc_site.domain import Acd, Assignment, CallEnded

SKILL = "sim"
BUSINESS = "sim"
BATCHES = 20  # the window is cut into this many batches for the standard error

# event kinds (events at the same instant run in the order they were scheduled)
_ANSWER, _TALK_END, _WRAP_END, _PATIENCE, _ARRIVAL = range(5)


@dataclass(frozen=True, slots=True)
class SimConfig:
    agents: int
    calls_per_hour: float
    aht_s: float
    target_s: float = 20.0
    duration_h: float = 100.0
    warmup_h: float = 1.0
    patience_s: float | None = None
    wrapup_s: float = 0.0
    ring_delay_s: float = 0.0
    seed: int = 1

    def validate(self) -> None:
        """Raise InvalidInput naming the first option that cannot be simulated."""
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) or self.agents < 1:
            raise InvalidInput(
                f"must be a whole number of at least 1, not {self.agents!r}", field="agents"
            )
        _positive(self.calls_per_hour, "calls_per_hour")
        _positive(self.aht_s, "aht")
        _positive(self.duration_h, "duration_h")
        _non_negative(self.target_s, "target")
        _non_negative(self.warmup_h, "warmup_h")
        _non_negative(self.wrapup_s, "wrapup")
        _non_negative(self.ring_delay_s, "ring_delay")
        if self.patience_s is not None:
            _positive(self.patience_s, "patience")

    @property
    def rate_per_s(self) -> float:
        return self.calls_per_hour / 3600.0

    @property
    def handle_s(self) -> float:
        """Mean time an agent is held per call (ring + talk + wrap-up), as the Erlang
        formulas see it: they are exact only with no ring delay and no wrap-up."""
        return self.ring_delay_s + self.aht_s + self.wrapup_s


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"must be a finite number, not {value!r}", field=field)
    return float(value)


def _positive(value: object, field: str) -> None:
    if _number(value, field) <= 0:
        raise InvalidInput(f"must be greater than 0, not {value!r}", field=field)


def _non_negative(value: object, field: str) -> None:
    if _number(value, field) < 0:
        raise InvalidInput(f"must not be negative, not {value!r}", field=field)


@dataclass(frozen=True, slots=True)
class SimResult:
    agents: int
    offered: int
    answered: int
    abandoned: int
    service_level: float
    service_level_se: float
    asa_s: float
    aht_s: float
    occupancy: float
    abandon_rate: float
    erlang_c_service_level: float
    erlang_c_asa_s: float | None
    erlang_a_service_level: float | None
    erlang_a_abandon_rate: float | None
    simulated_calls: int  # every caller of the run, warm-up included
    simulated_h: float  # virtual time until the last caller finished

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Caller:
    __slots__ = ("arrival", "batch", "patience", "state", "talk")

    def __init__(self, arrival: float, talk: float, patience: float, batch: int) -> None:
        self.arrival, self.talk, self.patience = arrival, talk, patience
        self.batch = batch  # -1 outside the measured window
        self.state = 0  # 0 waiting (queued or ringing), 1 talking, 2 ended


class _Run:
    """One simulation: the ACD, the event heap and the tallies of the measured window."""

    def __init__(self, config: SimConfig) -> None:
        self.cfg = config
        self.clock = ManualClock(start=0.0)
        self.acd = Acd(self.clock, aht_default_s=config.aht_s, ended_memory=1000)
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.callers: dict[str, _Caller] = {}
        self.arrivals = random.Random(f"{config.seed}:arrivals")
        self.talks = random.Random(f"{config.seed}:talk")
        self.patiences = random.Random(f"{config.seed}:patience")
        self.window = (config.warmup_h * 3600.0, (config.warmup_h + config.duration_h) * 3600.0)
        self.occupied: set[str] = set()
        self.occupied_s = 0.0  # agent-seconds occupied inside the window
        self.now = 0.0
        self.count = 0
        self.offered = self.answered = self.abandoned = self.within = 0
        self.wait_s = 0.0
        self.handled_s = 0.0
        self.batch_offered = [0] * BATCHES
        self.batch_within = [0] * BATCHES

    # -- the event loop ---------------------------------------------------------------

    def run(self) -> SimResult:
        for i in range(self.cfg.agents):
            agent_id = f"agent{i:05d}"
            self.acd.login(agent_id, {SKILL: 1})
            self.acd.agent_ready(agent_id)
        self._push(self.arrivals.expovariate(self.cfg.rate_per_s), _ARRIVAL, "")
        while self.heap:
            when, _, kind, key = heapq.heappop(self.heap)
            self._advance(when)
            if kind == _ARRIVAL:
                self._arrive()
            elif kind == _ANSWER:
                self._answer(key)
            elif kind == _TALK_END:
                self._talk_end(key)
            elif kind == _WRAP_END:
                self._assigned(self.acd.wrap_up_done(key), key)
            else:
                self._patience_out(key)
        return self._result()

    def _push(self, when: float, kind: int, key: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, kind, key))

    def _advance(self, when: float) -> None:
        lo, hi = self.window
        overlap = min(when, hi) - max(self.now, lo)
        if overlap > 0:
            self.occupied_s += overlap * len(self.occupied)
        self.clock.advance(max(0.0, when - self.clock.monotonic()))
        self.now = when

    # -- events -----------------------------------------------------------------------

    def _arrive(self) -> None:
        cfg, now = self.cfg, self.now
        self.count += 1
        call_id = f"call{self.count:09d}"
        talk = self.talks.expovariate(1.0 / cfg.aht_s)
        patience = (
            math.inf if cfg.patience_s is None else self.patiences.expovariate(1.0 / cfg.patience_s)
        )
        lo, hi = self.window
        batch = min(BATCHES - 1, int((now - lo) / (hi - lo) * BATCHES)) if lo <= now < hi else -1
        self.callers[call_id] = _Caller(now, talk, patience, batch)
        if batch >= 0:
            self.offered += 1
            self.batch_offered[batch] += 1
        if patience != math.inf:
            self._push(now + patience, _PATIENCE, call_id)
        nxt = now + self.arrivals.expovariate(cfg.rate_per_s)
        if nxt < self.window[1]:
            self._push(nxt, _ARRIVAL, "")
        result = self.acd.offer_call(call_id, business=BUSINESS, skill=SKILL, arrival=now)
        if isinstance(result, Assignment):
            self._assigned(result, result.agent_id)

    def _assigned(self, assignment: Assignment | None, agent_id: str) -> None:
        """The agent got its next call (ringing), or became idle."""
        if assignment is None:
            self.occupied.discard(agent_id)
            return
        self.occupied.add(assignment.agent_id)
        if self.cfg.ring_delay_s > 0:
            self._push(self.now + self.cfg.ring_delay_s, _ANSWER, assignment.call_id)
        else:
            self._answer(assignment.call_id, assignment.agent_id)

    def _answer(self, call_id: str, agent_id: str | None = None) -> None:
        caller = self.callers.get(call_id)
        if caller is None or caller.state != 0:
            return  # the caller hung up while it rang
        if agent_id is None:
            agent_id = self.acd.call(call_id).agent_id or ""
        self.acd.answer(agent_id, call_id)
        caller.state = 1
        if caller.batch >= 0:
            wait = self.now - caller.arrival
            self.answered += 1
            self.wait_s += wait
            self.handled_s += caller.talk + self.cfg.wrapup_s
            if wait <= self.cfg.target_s:
                self.within += 1
                self.batch_within[caller.batch] += 1
        self._push(self.now + caller.talk, _TALK_END, call_id)

    def _talk_end(self, call_id: str) -> None:
        self.callers.pop(call_id).state = 2
        ended = self.acd.hang_up(call_id)
        agent_id = ended.agent_id or ""
        if self.cfg.wrapup_s > 0:
            self._push(self.now + self.cfg.wrapup_s, _WRAP_END, agent_id)
        else:
            self._assigned(self.acd.wrap_up_done(agent_id), agent_id)

    def _patience_out(self, call_id: str) -> None:
        caller = self.callers.get(call_id)
        if caller is None or caller.state != 0:
            return  # answered in time
        del self.callers[call_id]
        caller.state = 2
        if caller.batch >= 0:
            self.abandoned += 1
        ended: CallEnded = self.acd.hang_up(call_id)  # queued or ringing: ABANDONED
        if ended.agent_id is not None:  # it was ringing: the agent is ready again
            self._assigned(ended.next, ended.agent_id)

    # -- figures ------------------------------------------------------------------------

    def _result(self) -> SimResult:
        cfg = self.cfg
        offered = max(self.offered, 1)
        answered = max(self.answered, 1)
        window_s = self.window[1] - self.window[0]
        handle = cfg.handle_s
        ec = erlang_c(cfg.agents, cfg.rate_per_s, handle, cfg.target_s)
        ea = (
            None
            if cfg.patience_s is None
            else erlang_a(cfg.agents, cfg.rate_per_s, handle, cfg.target_s, cfg.patience_s)
        )
        return SimResult(
            agents=cfg.agents,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            service_level=round(self.within / offered, 4),
            service_level_se=round(self._batch_se(), 4),
            asa_s=round(self.wait_s / answered, 2),
            aht_s=round(self.handled_s / answered, 2),
            occupancy=round(self.occupied_s / (cfg.agents * window_s), 4),
            abandon_rate=round(self.abandoned / offered, 4),
            erlang_c_service_level=round(ec.service_level, 4),
            erlang_c_asa_s=None if ec.asa_s is None else round(ec.asa_s, 2),
            erlang_a_service_level=None if ea is None else round(ea.service_level, 4),
            erlang_a_abandon_rate=None if ea is None else round(ea.abandon_rate, 4),
            simulated_calls=self.count,
            simulated_h=round(self.now / 3600.0, 3),
        )

    def _batch_se(self) -> float:
        shares = [w / o for w, o in zip(self.batch_within, self.batch_offered, strict=True) if o]
        if len(shares) < 2:
            return 0.0
        return statistics.stdev(shares) / math.sqrt(len(shares))


def hours_for(calls_per_hour: float, calls: int = 100_000) -> float:
    """A measured window long enough for about ``calls`` callers (at least one hour)."""
    _positive(calls_per_hour, "calls_per_hour")
    return max(1.0, round(calls / calls_per_hour, 1))


def simulate(config: SimConfig) -> SimResult:
    """Run one simulation; the same config (seed included) gives the same result."""
    config.validate()
    return _Run(config).run()
