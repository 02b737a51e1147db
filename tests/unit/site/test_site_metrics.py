"""Site metrics an operator's board is built from: the answer-wait histogram carries every
service-level target of the province among its buckets, and the target gauge names the
bucket of each (business, tier) target (``within_s``) exactly as the histogram's ``le``."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from vcc_domain.province import load_province_file
from vcc_ops.cli import example_province_path
from vcc_site.service.metrics import (
    ANSWER_WAIT_SPREAD,
    SiteMetrics,
    answer_wait_histogram,
    service_level_targets,
)

PROVINCE = load_province_file(example_province_path())


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_target_of_the_province_is_a_bucket() -> None:
    targets = service_level_targets(PROVINCE)
    assert {15.0, 20.0} <= targets  # fault vip 95 % in 15 s; the tiers' default 20 s
    SiteMetrics("KM", PROVINCE)
    text = generate_latest().decode()
    for target in targets | set(ANSWER_WAIT_SPREAD):
        assert f'le="{float(target)}"' in text
    assert answer_wait_histogram(targets) is answer_wait_histogram(())  # one per process


def test_target_gauge_names_the_bucket_of_each_business_and_tier() -> None:
    SiteMetrics("DL", PROVINCE)
    fault = next(b for b in PROVINCE.businesses if b.id == "fault")
    assert (
        _value(
            "vcc_site_service_level_target",
            site="DL",
            business="fault",
            tier="vip",
            within_s="15.0",
        )
        == fault.service_levels["vip"].percent / 100
        == 0.95
    )
    assert (
        _value(
            "vcc_site_service_level_target",
            site="DL",
            business="fault",
            tier="ordinary",
            within_s="20.0",
        )
        == 0.85
    )
    # the series exist from the start, before any call: rates and ratios need no `or`
    assert (
        REGISTRY.get_sample_value(
            "vcc_site_answer_wait_seconds_count",
            {"site": "DL", "business": "fault", "tier": "middle"},
        )
        == 0.0
    )
    assert (
        REGISTRY.get_sample_value(
            "vcc_site_calls_abandoned_total", {"site": "DL", "business": "fault", "tier": "middle"}
        )
        == 0.0
    )


def test_answers_abandons_transfers_and_overflows_are_counted() -> None:
    m = SiteMetrics("QJ", PROVINCE)
    within = _value(
        "vcc_site_answer_wait_seconds_bucket", site="QJ", business="fault", tier="vip", le="15.0"
    )
    count = _value("vcc_site_answer_wait_seconds_count", site="QJ", business="fault", tier="vip")
    m.answered("fault", "vip", 14.5)
    m.answered("fault", "vip", 15.5)
    assert (
        _value(
            "vcc_site_answer_wait_seconds_bucket",
            site="QJ",
            business="fault",
            tier="vip",
            le="15.0",
        )
        == within + 1
    )
    assert (
        _value("vcc_site_answer_wait_seconds_count", site="QJ", business="fault", tier="vip")
        == count + 2
    )
    abandoned = _value("vcc_site_calls_abandoned_total", site="QJ", business="fault", tier="vip")
    m.call_ended("fault", "abandoned", "vip")
    m.call_ended("fault", "answered", "vip")
    assert (
        _value("vcc_site_calls_abandoned_total", site="QJ", business="fault", tier="vip")
        == abandoned + 1
    )
    transferred = _value("vcc_site_calls_transferred_out_total", site="QJ", business="fault")
    overflowed = _value("vcc_site_calls_overflowed_out_total", site="QJ", business="fault")
    m.call_ended("fault", "transferred_out", "vip")
    m.call_ended("fault", "overflowed_out", "ordinary")
    assert (
        _value("vcc_site_calls_transferred_out_total", site="QJ", business="fault")
        == transferred + 1
    )
    assert (
        _value("vcc_site_calls_overflowed_out_total", site="QJ", business="fault") == overflowed + 1
    )
