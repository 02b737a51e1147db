"""The hub's replication lag per site: one series per site of the province, any other
site id shares the ``other`` series, so a stray publisher cannot grow the label set."""

from __future__ import annotations

from prometheus_client import REGISTRY

from vcc_hub.adapters.event_metrics import OTHER, SiteLag


def _count(site: str) -> float:
    return REGISTRY.get_sample_value("vcc_hub_replication_lag_seconds_count", {"site": site}) or 0.0


def test_lag_is_labelled_by_the_provinces_sites_only() -> None:
    lag = SiteLag()
    before = {site: _count(site) for site in ("KM", "DL", OTHER, "XX1", "XX2")}
    lag.bound_to(["KM", "DL"])
    lag.observe("KM", 0.2)
    lag.observe("DL", 0.3)
    lag.observe("XX1", 0.1)
    lag.observe("XX2", -1.0)  # a clock ahead of the hub's: counted as no lag
    assert _count("KM") == before["KM"] + 1
    assert _count("DL") == before["DL"] + 1
    assert _count(OTHER) == before[OTHER] + 2
    assert _count("XX1") == before["XX1"] == 0
    assert (
        REGISTRY.get_sample_value(
            "vcc_hub_replication_lag_seconds_bucket", {"site": OTHER, "le": "0.005"}
        )
        is not None
    )


def test_unbound_lag_labels_every_site() -> None:
    lag = SiteLag()
    before = _count("YX")
    lag.observe("YX", 1.0)
    assert _count("YX") == before + 1
