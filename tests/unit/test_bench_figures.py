"""The pure parts of ``vcc bench province`` and ``vcc bench scale``: histogram quantiles,
CPU per process kind, directory latencies, the scaled province and the README tables."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vcc_domain.province import load_province_file
from vcc_ops.bench.province import scaled_capacity
from vcc_ops.bench.province_figures import cpu_per_kind, delta_buckets, histogram_quantile
from vcc_ops.bench.scale import _change_latencies
from vcc_ops.bench.scale_cli import render_scale_table
from vcc_ops.bench.scale_province import scaled_province, site_ids
from vcc_ops.bench.table import render_table
from vcc_ops.cli import example_province_path


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.95)
    assert histogram_quantile(0.99, {0.1: 0.0, math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.1: 0.0, math.inf: 5.0}) == 0.1  # past the last bound


def test_deltas_of_buckets_and_cpu_per_kind() -> None:
    assert delta_buckets({1.0: 3.0}, {1.0: 5.0, math.inf: 6.0}) == {1.0: 2.0, math.inf: 6.0}
    before = {"site-KM": ("site", 1.0), "site-QJ": ("site", 2.0), "hub-1": ("hub", 5.0)}
    after = {"site-KM": ("site", 1.5), "site-QJ": ("site", 2.25), "hub-1": ("hub", 5.5)}
    used, count = cpu_per_kind(before, after)
    assert used["site"] == pytest.approx(0.75) and used["hub"] == pytest.approx(0.5)
    assert used["nats"] == 0.0 and count["site"] == 2 and count["etcd"] == 0


def test_change_latency_is_the_last_site_to_reach_the_version_or_a_later_one() -> None:
    sent = [(2, 100.0), (3, 100.1)]
    applied = {"KM": {"2": 100.05, "3": 100.15}, "QJ": {"3": 100.3}, "DL": {"1": 1.0}}
    last, missing, first = _change_latencies(sent, applied)
    assert last == pytest.approx([300.0, 200.0])  # QJ skipped 2: it had it with 3
    assert first == pytest.approx([50.0, 50.0])
    assert missing == 2  # DL never reached 2 nor 3


@pytest.mark.parametrize("n", [5, 16, 64])
def test_the_scaled_province_has_n_sites_each_with_its_own_area(tmp_path: Path, n: int) -> None:
    province = load_province_file(scaled_province(example_province_path(), n, tmp_path / "p.toml"))
    assert [s.id for s in province.sites] == site_ids(n)
    codes = [c for s in province.sites for c in s.area_codes]
    assert len(codes) == len(set(codes)) == n


def test_scaled_province_refuses_a_size_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"5\.\.99"):
        scaled_province(example_province_path(), 4, tmp_path / "p.toml")


def test_the_scale_table_has_a_row_per_size_and_the_command() -> None:
    doc = {
        "command": "vcc bench scale --sites 5,16",
        "rows": [
            {"sites": 5, "hub_cpu_ms_per_event": 1.25, "routing_map_bytes": 370},
            {"sites": 16, "hub_cpu_ms_per_event": 1.5, "routing_map_bytes": 3_000},
        ],
    }
    text = render_scale_table(doc)
    assert "`vcc bench scale --sites 5,16`" in text
    assert "| 5 |" in text and "| 16 |" in text and "3,000" in text and "1.25" in text


def test_the_bench_table_shows_the_province_cost_per_process_kind() -> None:
    result = {
        "cpu_ms_per_call": {"site": 27.0, "hub": 9.9, "loadgen": 3.0},
        "idle_cpu_pct": {"site": 17.2, "hub": 2.6},
        "processes": {"site": 5, "hub": 1},
    }
    doc = {"benches": {"province": {"status": "ok", "result": result, "params": {}}}}
    text = render_table(doc)
    assert "| site | 5 | 27 | 17.2 |" in text and "| loadgen | 1 | 3 | — |" in text


def test_capacity_scale_multiplies_agents_seats_trunks_and_ports(tmp_path: Path) -> None:
    example = example_province_path()
    assert scaled_capacity(example, 1, tmp_path / "p.toml") == example
    base = load_province_file(example)
    big = load_province_file(scaled_capacity(example, 3, tmp_path / "p.toml"))
    # every agent group is K times as large (the few agents listed one by one stay)
    assert 2.9 * len(base.agents) < len(big.agents) <= 3 * len(base.agents)
    for before, after in zip(base.sites, big.sites, strict=True):
        assert after.seats == 3 * before.seats
        assert after.trunk_lines == 3 * (before.trunk_lines or 0)
        assert after.ivr_ports == 3 * (before.ivr_ports or 0)
    with pytest.raises(ValueError, match="at least 1"):
        scaled_capacity(example, 0, tmp_path / "p.toml")
