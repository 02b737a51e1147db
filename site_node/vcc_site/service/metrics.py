"""Prometheus metrics of a site node (module-level collectors, labelled by site)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS_OFFERED = Counter("vcc_site_calls_offered_total", "Calls offered to the site",
                        ["site", "business"])
CALLS_TO_AGENT = Counter("vcc_site_calls_offered_to_agent_total",
                         "Times a call rang at an agent", ["site", "business"])
CALLS_ENDED = Counter("vcc_site_calls_ended_total", "Calls ended, by outcome",
                      ["site", "business", "outcome"])
RING_NO_ANSWER = Counter("vcc_site_ring_no_answer_total", "Offers not answered in time", ["site"])
ROUTE_DECISION = Histogram(
    "vcc_site_route_decision_seconds", "Time the ACD takes to decide one routing step",
    ["site"], buckets=(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
)
QUEUE_WAITING = Gauge("vcc_site_queue_waiting", "Calls waiting", ["site", "business"])
QUEUE_LONGEST_WAIT = Gauge("vcc_site_queue_longest_wait_seconds", "Longest current wait",
                           ["site", "business"])
QUEUE_EWT = Gauge("vcc_site_queue_expected_wait_seconds", "Expected wait of a new caller",
                  ["site", "business"])
AGENTS = Gauge("vcc_site_agents", "Logged-in agents by state", ["site", "state"])
LOGIN_FAILURES = Counter("vcc_site_login_failures_total", "Failed agent logins", ["site"])
PIN_FAILURES = Counter("vcc_site_pin_failures_total", "Failed customer PIN checks", ["site"])
EWT_MAE = Gauge("vcc_site_ewt_mae_seconds",
                "Mean absolute error of the expected wait predicted when a call queued "
                "against its actual wait to the first offer (calls that queued here)", ["site"])
EWT_SAMPLES = Counter("vcc_site_ewt_samples_total",
                      "Calls whose predicted and actual waits were compared", ["site"])
EWT_ERROR = Histogram("vcc_site_ewt_error_seconds",
                      "Absolute error of the predicted wait, per call", ["site"],
                      buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600))


class SiteMetrics:
    def __init__(self, site_id: str) -> None:
        self.site = site_id
        self.ewt_samples = 0
        self.ewt_abs_error_s = 0.0  # sum over the samples
        self.ewt_bias_s = 0.0  # sum of predicted - actual (> 0: predictions too long)

    def expected_wait(self, predicted_s: float, actual_s: float) -> None:
        error = abs(predicted_s - actual_s)
        self.ewt_samples += 1
        self.ewt_abs_error_s += error
        self.ewt_bias_s += predicted_s - actual_s
        EWT_SAMPLES.labels(self.site).inc()
        EWT_ERROR.labels(self.site).observe(error)
        EWT_MAE.labels(self.site).set(self.ewt_mae_s)

    @property
    def ewt_mae_s(self) -> float:
        return self.ewt_abs_error_s / self.ewt_samples if self.ewt_samples else 0.0

    def offered(self, business: str) -> None:
        CALLS_OFFERED.labels(self.site, business).inc()

    def offered_to_agent(self, business: str) -> None:
        CALLS_TO_AGENT.labels(self.site, business).inc()

    def call_ended(self, business: str, outcome: str) -> None:
        CALLS_ENDED.labels(self.site, business, outcome).inc()

    def ring_no_answer(self) -> None:
        RING_NO_ANSWER.labels(self.site).inc()

    def decision(self, seconds: float) -> None:
        ROUTE_DECISION.labels(self.site).observe(seconds)

    def login_failed(self) -> None:
        LOGIN_FAILURES.labels(self.site).inc()

    def pin_failed(self) -> None:
        PIN_FAILURES.labels(self.site).inc()

    def queue(self, business: str, waiting: int, longest_s: float, ewt_s: float) -> None:
        QUEUE_WAITING.labels(self.site, business).set(waiting)
        QUEUE_LONGEST_WAIT.labels(self.site, business).set(longest_s)
        QUEUE_EWT.labels(self.site, business).set(ewt_s)

    def agents(self, counts: dict[str, int]) -> None:
        for state, count in counts.items():
            AGENTS.labels(self.site, state).set(count)
