"""The hub's overflow advice (``vcc_hub.domain.overflow``): margin after transfer cost,
fresh figures only, calls advised since the last report, suppression after a lost race."""

from __future__ import annotations

from vcc_domain.province import load_province_file
from vcc_hub.domain.overflow import (
    FRESH_S,
    Advice,
    OverflowAdvisor,
    QueueFigures,
    TransferOutcome,
)
from vcc_ops.cli import example_province_path

PROVINCE = load_province_file(example_province_path())  # margin 10 s, cost 5 s, suppress 30 s


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def figures(ewt_ms: int, ready: int = 0, busy: int = 4, aht_ms: int = 60_000) -> QueueFigures:
    return QueueFigures(
        "",
        business_id="general",
        ewt_ms=ewt_ms,
        agents_ready=ready,
        agents_busy=busy,
        aht_ms=aht_ms,
    )


def ask(advisor: OverflowAdvisor, local_ms: int) -> Advice:
    return advisor.advise(PROVINCE, "KM", "general", local_ms)


def test_margin_cost_freshness_and_nearness() -> None:
    clock = Clock()
    advisor = OverflowAdvisor(clock)
    assert not ask(advisor, 600_000).advised_site_id  # nobody reported
    advisor.report(PROVINCE, "DL", [figures(20_000)])
    advisor.report(PROVINCE, "YX", [figures(20_000)])  # same wait, nearer to KM
    assert not ask(advisor, 34_000).advised_site_id  # 20 + 5 cost + 10 margin > 34
    advice = ask(advisor, 35_000)
    assert advice.advised_site_id == "YX" and advice.predicted_ewt_ms == 25_000
    clock.t += FRESH_S + 0.1
    assert not ask(advisor, 600_000).advised_site_id  # stale figures


def test_advised_calls_count_until_the_next_report() -> None:
    advisor = OverflowAdvisor(Clock())
    advisor.report(PROVINCE, "DL", [figures(0, ready=2, busy=2)])
    sites = [ask(advisor, 29_000).advised_site_id for _ in range(3)]
    # two ready agents take two calls (0 + 5 s cost + 10 s margin <= 29 s); the third
    # would wait 1 x 60 s / 4 agents: 15 + 5 + 10 > 29 s
    assert sites == ["DL", "DL", ""]
    advisor.report(PROVINCE, "DL", [figures(0, ready=2, busy=2)])
    assert ask(advisor, 29_000).advised_site_id == "DL"


def test_a_site_that_lost_a_race_is_suppressed() -> None:
    clock = Clock()
    advisor = OverflowAdvisor(clock)
    advisor.report(PROVINCE, "DL", [figures(0, ready=5)])
    advisor.transfer_outcome(
        TransferOutcome("call_x", "general", overflow=True, accepted=False), "DL"
    )
    advice = ask(advisor, 600_000)
    assert not advice.advised_site_id and "DL" in advice.reason
    clock.t += PROVINCE.routing.overflow_suppression_s
    advisor.report(PROVINCE, "DL", [figures(0, ready=5)])
    assert ask(advisor, 600_000).advised_site_id == "DL"
