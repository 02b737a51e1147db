"""Prometheus metrics of a site node (module-level collectors, labelled by site).

The answer-wait histogram is what a service level is computed from in PromQL: its buckets
include every service-level target of the province (``within_s`` of each tier, default and
per business), and ``vcc_site_service_level_target`` carries each (business, tier)'s target
with a ``within_s`` label spelled as the histogram's ``le`` of the bucket at that target,
so a recording rule picks the right bucket with ``label_replace`` to ``le`` and
``and on (site, business, tier, le)`` (ops/prometheus/rules). A gauge may not carry an
``le`` label itself (``promtool check metrics``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

from vcc_domain.province import Province

log = logging.getLogger(__name__)

CALLS_OFFERED = Counter(
    "vcc_site_calls_offered_total", "Calls offered to the site", ["site", "business"]
)
CALLS_TO_AGENT = Counter(
    "vcc_site_calls_offered_to_agent_total", "Times a call rang at an agent", ["site", "business"]
)
CALLS_ENDED = Counter(
    "vcc_site_calls_ended_total", "Calls ended, by outcome", ["site", "business", "outcome"]
)
RING_NO_ANSWER = Counter("vcc_site_ring_no_answer_total", "Offers not answered in time", ["site"])
ROUTE_DECISION = Histogram(
    "vcc_site_route_decision_seconds",
    "Time the ACD takes to decide one routing step",
    ["site"],
    buckets=(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
)
QUEUE_WAITING = Gauge("vcc_site_queue_waiting", "Calls waiting", ["site", "business"])
QUEUE_LONGEST_WAIT = Gauge(
    "vcc_site_queue_longest_wait_seconds", "Longest current wait", ["site", "business"]
)
QUEUE_EWT = Gauge(
    "vcc_site_queue_expected_wait_seconds", "Expected wait of a new caller", ["site", "business"]
)
AGENTS = Gauge("vcc_site_agents", "Logged-in agents by state", ["site", "state"])
LOGIN_FAILURES = Counter("vcc_site_login_failures_total", "Failed agent logins", ["site"])
CALLS_REFUSED = Counter(
    "vcc_site_calls_refused_total",
    "Calls refused for want of a trunk line or an IVR port",
    ["site", "resource"],
)
CALLS_TIMED_OUT = Counter(
    "vcc_site_calls_timed_out_total",
    "Calls the site ended at the IVR or queue time limit",
    ["site", "state"],
)
PIN_FAILURES = Counter("vcc_site_pin_failures_total", "Failed customer PIN checks", ["site"])
EWT_MAE = Gauge(
    "vcc_site_ewt_mae_seconds",
    "Mean absolute error of the expected wait predicted when a call queued "
    "against its actual wait to the first offer (calls that queued here)",
    ["site"],
)
EWT_SAMPLES = Counter(
    "vcc_site_ewt_samples_total", "Calls whose predicted and actual waits were compared", ["site"]
)
EWT_ERROR = Histogram(
    "vcc_site_ewt_error_seconds",
    "Absolute error of the predicted wait, per call",
    ["site"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
ABANDONED = Counter(
    "vcc_site_calls_abandoned_total",
    "Calls the caller hung up on while queued or ringing (not in the IVR)",
    ["site", "business", "tier"],
)
TRANSFERRED = Counter(
    "vcc_site_calls_transferred_out_total",
    "Calls that left this site by a transfer to another site",
    ["site", "business"],
)
OVERFLOWED = Counter(
    "vcc_site_calls_overflowed_out_total",
    "Calls that left this site by overflow to another site",
    ["site", "business"],
)
BY_ASSIGNMENT = Counter(
    "vcc_site_calls_by_assignment_total",
    "Calls for a business this site does not accept: moved to the nearest site that "
    "accepts it (outcome assigned_out), or refused because none that does took it "
    "(outcome not_accepted)",
    ["site", "business", "outcome"],
)
RATINGS = Counter(
    "vcc_site_call_ratings_total",
    "Callers' keypad ratings after the agent hung up, by business and key (1-5)",
    ["site", "business", "score"],
)
SL_TARGET = Gauge(
    "vcc_site_service_level_target",
    "Service-level target: share of calls to answer within `within_s` seconds",
    ["site", "business", "tier", "within_s"],
)

#: Answer-wait buckets besides the province's targets: a few seconds to ten minutes.
ANSWER_WAIT_SPREAD: tuple[float, ...] = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
_answer_wait: Histogram | None = None
_answer_wait_buckets: frozenset[float] = frozenset()


def service_level_targets(province: Province) -> set[float]:
    """Every ``within_s`` of the province: the tier defaults and each business's own."""
    targets = {float(t.within_s) for t in province.tiers.service_levels.values()}
    for business in province.businesses:
        targets.update(float(t.within_s) for t in business.service_levels.values())
    return targets


def answer_wait_histogram(targets: Iterable[float]) -> Histogram:
    """The process's answer-wait histogram, its buckets the spread plus ``targets``.

    Collectors are process-wide: the first province seen fixes the buckets. A node runs
    one province, so a later call with a target the buckets lack only happens when a test
    runs several provinces in one process; it is logged, not fatal.
    """
    global _answer_wait, _answer_wait_buckets
    wanted = set(targets)
    if _answer_wait is None:
        _answer_wait_buckets = frozenset(ANSWER_WAIT_SPREAD) | wanted
        _answer_wait = Histogram(
            "vcc_site_answer_wait_seconds",
            "Wait of a call from queueing to its first answer (0: answered without queueing)",
            ["site", "business", "tier"],
            buckets=sorted(_answer_wait_buckets),
        )
    missing = wanted - _answer_wait_buckets
    if missing:
        log.warning(
            "service-level targets %s s are not answer-wait buckets of this process",
            sorted(missing),
        )
    return _answer_wait


class SiteMetrics:
    def __init__(self, site_id: str, province: Province | None = None) -> None:
        self.site = site_id
        targets = service_level_targets(province) if province is not None else set()
        self._answer_wait = answer_wait_histogram(targets)
        self._waits: dict[tuple[str, str], Histogram] = {}  # label children, per (business, tier)
        self._abandons: dict[tuple[str, str], Counter] = {}
        # label children used on every call, resolved once (``labels`` takes a lock and
        # builds a key each time)
        self._offered: dict[str, Counter] = {}
        self._to_agent: dict[str, Counter] = {}
        self._ended: dict[tuple[str, str], Counter] = {}
        self._decision = ROUTE_DECISION.labels(site_id)
        self._ewt_samples = EWT_SAMPLES.labels(site_id)
        self._ewt_error = EWT_ERROR.labels(site_id)
        self._ewt_mae = EWT_MAE.labels(site_id)
        if province is not None:
            self._publish_targets(province)
        self.ewt_samples = 0
        self.ewt_abs_error_s = 0.0  # sum over the samples
        self.ewt_bias_s = 0.0  # sum of predicted - actual (> 0: predictions too long)

    def expected_wait(self, predicted_s: float, actual_s: float) -> None:
        error = abs(predicted_s - actual_s)
        self.ewt_samples += 1
        self.ewt_abs_error_s += error
        self.ewt_bias_s += predicted_s - actual_s
        self._ewt_samples.inc()
        self._ewt_error.observe(error)
        self._ewt_mae.set(self.ewt_mae_s)

    @property
    def ewt_mae_s(self) -> float:
        return self.ewt_abs_error_s / self.ewt_samples if self.ewt_samples else 0.0

    def offered(self, business: str) -> None:
        child = self._offered.get(business)
        if child is None:
            child = self._offered[business] = CALLS_OFFERED.labels(self.site, business)
        child.inc()

    def offered_to_agent(self, business: str) -> None:
        child = self._to_agent.get(business)
        if child is None:
            child = self._to_agent[business] = CALLS_TO_AGENT.labels(self.site, business)
        child.inc()

    def _publish_targets(self, province: Province) -> None:
        """Set each (business, tier) target of this site and create its answer and abandon
        series at zero, so service-level rules see them before the first call."""
        for business in province.businesses:
            if not business.accepts(self.site):
                continue
            for tier, target in business.service_levels.items():
                le = str(floatToGoString(float(target.within_s)))  # type: ignore[no-untyped-call]
                SL_TARGET.labels(self.site, business.id, tier, le).set(target.percent / 100)
                self._waits[(business.id, tier)] = self._answer_wait.labels(
                    self.site, business.id, tier
                )
                self._abandons[(business.id, tier)] = ABANDONED.labels(self.site, business.id, tier)

    def answered(self, business: str, tier: str, waited_s: float) -> None:
        """A call's first answer (at this site), after ``waited_s`` in queue."""
        child = self._waits.get((business, tier))
        if child is None:
            child = self._waits[(business, tier)] = self._answer_wait.labels(
                self.site, business, tier
            )
        child.observe(waited_s)

    def call_ended(self, business: str, outcome: str, tier: str = "") -> None:
        ended = self._ended.get((business, outcome))
        if ended is None:
            ended = self._ended[(business, outcome)] = CALLS_ENDED.labels(
                self.site, business, outcome
            )
        ended.inc()
        if outcome == "abandoned":
            child = self._abandons.get((business, tier))
            if child is None:
                child = self._abandons[(business, tier)] = ABANDONED.labels(
                    self.site, business, tier or "unknown"
                )
            child.inc()
        elif outcome == "transferred_out":
            TRANSFERRED.labels(self.site, business).inc()
        elif outcome == "overflowed_out":
            OVERFLOWED.labels(self.site, business).inc()
        elif outcome in ("assigned_out", "not_accepted"):
            BY_ASSIGNMENT.labels(self.site, business, outcome).inc()

    def rated(self, business: str, score: int) -> None:
        RATINGS.labels(self.site, business, str(score)).inc()

    def ring_no_answer(self) -> None:
        RING_NO_ANSWER.labels(self.site).inc()

    def decision(self, seconds: float) -> None:
        self._decision.observe(seconds)

    def login_failed(self) -> None:
        LOGIN_FAILURES.labels(self.site).inc()

    def refused(self, resource: str) -> None:
        CALLS_REFUSED.labels(self.site, resource).inc()

    def timed_out(self, state: str) -> None:
        CALLS_TIMED_OUT.labels(self.site, state).inc()

    def pin_failed(self) -> None:
        PIN_FAILURES.labels(self.site).inc()

    def queue(self, business: str, waiting: int, longest_s: float, ewt_s: float) -> None:
        QUEUE_WAITING.labels(self.site, business).set(waiting)
        QUEUE_LONGEST_WAIT.labels(self.site, business).set(longest_s)
        QUEUE_EWT.labels(self.site, business).set(ewt_s)

    def agents(self, counts: dict[str, int]) -> None:
        for state, count in counts.items():
            AGENTS.labels(self.site, state).set(count)
