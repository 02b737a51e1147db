"""``vcc simulate staff``: the fewest agents whose simulated service level meets a target.

The search starts from the Erlang C answer minus ``below`` (never at or under the offered
load without patience, where the queue would grow without bound), simulates each
candidate with the same seed and window (so every candidate sees the same callers), and
walks up until a candidate meets the target, or down while one does. The answer is the
fewest agents that met it; the candidate just below it was simulated too and did not
(unless it is the lower bound). Each row carries the batch-means standard error of its
service level: a row within two standard errors of the target is too close to call at
that run length (``close``), and a longer ``--duration-h`` settles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from vcc_domain.errors import InvalidInput
from vcc_ops.simulate.engine import SimConfig, SimResult, simulate
from vcc_ops.simulate.erlang import erlang_c_agents

MAX_CANDIDATES = 60


@dataclass(frozen=True, slots=True)
class Candidate:
    result: SimResult
    meets: bool
    close: bool  # |service level - target| < 2 standard errors

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "meets": self.meets, "close": self.close}


@dataclass(frozen=True, slots=True)
class StaffResult:
    target_sl: float
    target_s: float
    erlang_c_agents: int
    agents: int  # the answer
    candidates: list[Candidate] = field(default_factory=list)  # by number of agents

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_sl": self.target_sl,
            "target_s": self.target_s,
            "erlang_c_agents": self.erlang_c_agents,
            "agents": self.agents,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def staff(base: SimConfig, target_sl: float, *, below: int = 3) -> StaffResult:
    """Search the fewest agents meeting ``target_sl`` within ``base.target_s``.

    ``base.agents`` is ignored (any valid number); every other setting is simulated as is.
    """
    if (
        isinstance(target_sl, bool)
        or not isinstance(target_sl, int | float)
        or not (0.0 < target_sl < 1.0)
    ):
        raise InvalidInput(f"must be a share between 0 and 1, not {target_sl!r}", field="target_sl")
    if isinstance(below, bool) or not isinstance(below, int) or below < 0:
        raise InvalidInput(f"must be a whole number of at least 0, not {below!r}", field="below")
    base.validate()
    handle = base.handle_s
    ec = erlang_c_agents(base.rate_per_s, handle, base.target_s, target_sl)
    lower = 1 if base.patience_s is not None else math.floor(base.rate_per_s * handle) + 1
    tried: dict[int, Candidate] = {}

    def run(agents: int) -> Candidate:
        if len(tried) >= MAX_CANDIDATES:
            raise InvalidInput(f"no answer after {MAX_CANDIDATES} candidates", field="target_sl")
        result = simulate(replace(base, agents=agents))
        se = result.service_level_se
        candidate = Candidate(
            result,
            result.service_level >= target_sl,
            abs(result.service_level - target_sl) < 2 * se,
        )
        tried[agents] = candidate
        return candidate

    n = max(lower, ec - below)
    if run(n).meets:
        while n > lower and run(n - 1).meets:
            n -= 1
    else:
        n += 1
        while not run(n).meets:
            n += 1
    return StaffResult(target_sl, base.target_s, ec, n, [tried[k] for k in sorted(tried)])
