"""``vcc bench scale`` at its smallest: one hub, five light sites, a second of events and
one directory change. Correctness only: the figures exist and agree with each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcc_ops.bench.scale_cli import BEGIN, END
from vcc_ops.cli import main


@pytest.fixture(scope="module", autouse=True)
def _operator_credentials() -> None:
    """None: a benchmark starts its own nodes (in plaintext, measured without TLS, where it
    says so) and chooses the credentials it calls them with."""


def test_five_light_sites_replicate_follow_the_directory_and_fill_the_routing_map(
    tmp_path: Path,
) -> None:
    out, readme = tmp_path / "scale.json", tmp_path / "README.md"
    readme.write_text(f"# Title\n{BEGIN}\nold\n{END}\nafter\n")
    args = ["--sites", "5", "--calls-per-s", "10", "--seconds", "1", "--changes", "1"]
    args += ["--idle-seconds", "1", "--json", str(out), "--readme", str(readme)]
    run = CliRunner().invoke(main, ["bench", "scale", *args])
    assert run.exit_code == 0, run.output
    (row,) = json.loads(out.read_text())["rows"]
    assert row["sites"] == 5 and row["light_site_processes"] == 1
    assert row["events_produced"] == row["events_applied"] > 0
    assert row["changes"] == 1 and row["change_site_pairs_missing"] == 0
    assert 0 < row["change_to_first_site_p50_ms"] <= row["change_to_all_sites_p99_ms"]
    assert 0 <= row["replication_lag_p50_ms"] <= row["replication_lag_p99_ms"]
    assert row["routing_map_complete"] and row["routing_map_areas"] == 5
    assert row["routing_map_bytes"] > 0 and row["routing_refresh_ms"] > 0
    assert row["hub_idle_cpu_pct"] >= 0 and row["hub_cpu_pct_load"] > 0
    text = readme.read_text()
    assert "old" not in text and "| 5 | 1 |" in text and text.endswith(f"{END}\nafter\n")
