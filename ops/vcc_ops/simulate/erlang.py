"""Queueing formulas the simulator is checked against: Erlang C (M/M/n) and Erlang A
(M/M/n+M, callers abandon after an exponential patience).

Notation: ``rate_per_s`` = λ (calls per second), ``aht_s`` = 1/μ, ``n`` agents, offered
load ``A = λ/μ`` Erlangs, ``target_s`` = T, patience mean = 1/θ.

* **Erlang C**, for ``n > A``: P(wait) = C(n, A) (computed from the Erlang B recursion,
  which never overflows), service level = P(wait ≤ T) = 1 − C·exp(−(n − A)·T/AHT),
  ASA = C·AHT/(n − A). With ``n ≤ A`` the queue grows without bound: SL 0, ASA None.
* **Erlang A** is computed numerically from the birth-death chain of the number of calls
  in the system, death rate ``min(k, n)μ + max(k − n, 0)θ``, truncated where the
  stationary probabilities fall below 1e-16 of their peak. Abandon rate = θ·E[queue]/λ
  (abandonments per second over arrivals per second). An arrival that finds ``k ≥ n``
  (PASTA) waits behind ``j = k − n`` callers; it is answered when ``j + 1`` moves of the
  queue's head happen (rate ``nμ + iθ`` with ``i`` callers still ahead) before its own
  patience runs out (rate θ). Service level = P(answered with wait ≤ T), the share of
  all offered calls answered within the target (as the simulator counts it), obtained
  by uniformizing that absorbing chain over [0, T].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TAIL = 1e-16  # truncate the chain where π_k / max π < this
_MAX_STATES = 2_000_000


@dataclass(frozen=True, slots=True)
class ErlangC:
    wait_probability: float
    service_level: float
    asa_s: float | None  # None when the queue is unstable (n ≤ A)


@dataclass(frozen=True, slots=True)
class ErlangA:
    service_level: float  # answered within the target / offered
    abandon_rate: float  # abandoned / offered
    wait_probability: float  # P(an arrival finds every agent busy)


def erlang_b(n: int, load: float) -> float:
    """Blocking probability of n servers under ``load`` Erlangs (stable recursion)."""
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(n: int, rate_per_s: float, aht_s: float, target_s: float) -> ErlangC:
    """Erlang C probability of waiting, service level within ``target_s`` and ASA."""
    load = rate_per_s * aht_s
    if n <= load:
        return ErlangC(1.0, 0.0, None)
    b = erlang_b(n, load)
    c = n * b / (n - load * (1.0 - b))
    sl = 1.0 - c * math.exp(-(n - load) * target_s / aht_s)
    return ErlangC(c, sl, c * aht_s / (n - load))


def erlang_c_agents(rate_per_s: float, aht_s: float, target_s: float, target_sl: float) -> int:
    """The fewest agents whose Erlang C service level reaches ``target_sl``."""
    n = max(1, math.floor(rate_per_s * aht_s) + 1)
    while erlang_c(n, rate_per_s, aht_s, target_s).service_level < target_sl:
        n += 1
    return n


def _stationary(n: int, lam: float, mu: float, theta: float) -> list[float]:
    """Normalised stationary distribution of M/M/n+M, truncated (θ > 0)."""
    logs = [0.0]
    peak = 0.0
    k = 0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        value = logs[-1] + math.log(lam / death)
        logs.append(value)
        peak = max(peak, value)
        if (k > n and death > lam and value - peak < math.log(_TAIL)) or k >= _MAX_STATES:
            break
    weights = [math.exp(v - peak) for v in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _poisson_weights(mean: float, eps: float = 1e-13) -> list[float]:
    """Poisson(mean) probabilities for m = 0.. until the tail is below ``eps``."""
    weights: list[float] = []
    m = 0
    cumulative = 0.0
    while True:
        log_p = (
            m * math.log(mean) - mean - math.lgamma(m + 1)
            if mean > 0
            else (0.0 if m == 0 else -math.inf)
        )
        p = math.exp(log_p)
        weights.append(p)
        cumulative += p
        if (m > mean and 1.0 - cumulative < eps) or m > mean + 50 * math.sqrt(mean) + 50:
            return weights
        m += 1


def _answered_within(ahead: list[float], n: int, mu: float, theta: float, target_s: float) -> float:
    """Mass answered within the target, for waiting arrivals with ``ahead[i]`` = P(an
    arrival finds every agent busy and ``i`` callers ahead of it)."""
    if target_s <= 0 or not ahead:
        return 0.0
    size = len(ahead)
    move = [n * mu + i * theta for i in range(size)]  # the head of the queue moves on
    uniform = move[-1] + theta
    stay = [1.0 - (m + theta) / uniform for m in move]
    step = [m / uniform for m in move]
    weights = _poisson_weights(uniform * target_s)
    v = list(ahead)
    served = 0.0
    result = weights[0] * served
    for w in weights[1:]:
        served += v[0] * step[0]
        nxt = [v[i] * stay[i] + v[i + 1] * step[i + 1] for i in range(size - 1)]
        nxt.append(v[-1] * stay[-1])
        v = nxt
        result += w * served
    return result


def erlang_a(
    n: int, rate_per_s: float, aht_s: float, target_s: float, patience_s: float
) -> ErlangA:
    """Erlang A (M/M/n+M) service level and abandon rate, numerically."""
    lam, mu, theta = rate_per_s, 1.0 / aht_s, 1.0 / patience_s
    pi = _stationary(n, lam, mu, theta)
    queued = math.fsum(p * (k - n) for k, p in enumerate(pi) if k > n)
    waiting = pi[n:]
    answered_late_or_never = math.fsum(waiting)
    within = _answered_within(waiting, n, mu, theta, target_s)
    return ErlangA(
        service_level=min(1.0, (1.0 - answered_late_or_never) + within),
        abandon_rate=theta * queued / lam,
        wait_probability=answered_late_or_never,
    )
