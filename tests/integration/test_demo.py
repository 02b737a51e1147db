"""``vcc demo`` end to end: a short, light run of the example province (five sites, real
NATS, etcd, hub and site processes) and its report; bad options refused before anything
starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "transfer_rate",
    "overflow_in",
    "overflow_out",
    "cdrs_at_hub",
    "cdrs_missing",
)


def vcc(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcc_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def processes_under(workdir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if str(workdir) in cmd:
            found.append(proc)
    return found


def test_a_short_demo_reports_every_call_and_balanced_settlement(tmp_path: Path) -> None:
    workdir, out = tmp_path / "work", tmp_path / "demo.json"
    run = vcc(
        "demo",
        "--duration",
        "12",
        "--rate-scale",
        "0.2",
        "--agents-per-site",
        "12",
        "--surge",
        "QJ:4",
        "--seed",
        "5",
        "--workdir",
        str(workdir),
        "--report",
        str(out),
        timeout=420,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["sites"]) == {"KM", "QJ", "DL", "YX", "HH"}
    for figures in [*report["sites"].values(), report["province_totals"]]:
        assert set(FIELDS) <= set(figures)
        assert figures["cdrs_missing"] == 0
    total = report["province_totals"]
    assert total["answered"] > 0 and total["cdrs_at_hub"] >= total["answered"] > 0
    assert report["traffic"]["offered"] == sum(report["traffic"]["states"].values())
    assert report["settlement"]["net_sum_fen"] == 0
    assert sum(report["settlement"]["net_positions_fen"].values()) == 0
    assert report["time_speed"] == 30
    assert report["grpc_security"] == "mutual TLS"
    assert report["authz_refused"] == {}, "a call between the province's processes was refused"
    orders = report["work_orders"]
    assert orders["created"] == sum(site.get("total", 0) for site in orders["sites"].values())
    quality = report["quality"]  # the month's inspection, ratings and assessment
    assert set(quality["sites"]) == {"KM", "QJ", "DL", "YX", "HH"}
    km = quality["sites"]["KM"]
    assert km["inspection"]["sampled"] >= 1 and km["inspection"]["scored"] >= 1
    assert sum(site["ratings"] for site in quality["sites"].values()) > 0
    assessed = quality["assessment"]
    assert assessed["province"]["answered"] == sum(r["answered"] for r in assessed["sites"])
    assert assessed["province"]["score_bp"] is not None and not assessed["missing_sites"]
    assert "province assessment" in run.stdout
    schedule = report["schedule"]  # the schedule's predicted against the actual, at KM
    assert schedule["site"] == "KM" and schedule["agents_on_phone"] > 0
    assert schedule["intervals"], "no interval of the run had calls at KM"
    offered_km = sum(i["offered"] for i in schedule["intervals"])
    assert offered_km == report["sites"]["KM"]["offered"]
    for i in schedule["intervals"]:
        assert 0 < i["predicted_sl"] <= 1 and 0 <= i["actual_sl"] <= 1, i
    assert "schedule vs. actual at KM" in run.stdout
    assert (out.with_suffix(".html")).read_text().count("<iframe") == 1
    assert "PROVINCE" in run.stdout
    assert not processes_under(workdir), "a demo process outlived vcc demo"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--surge", "XX:2"], "unknown site 'XX'"),
        (["--duration", "0"], "--duration must be positive"),
        (["--surge", "QJ:x"], "not SITE:FACTOR"),
    ],
)
def test_bad_demo_options_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = vcc("demo", *args, "--workdir", str(tmp_path / "w"), timeout=60)
    assert run.returncode == 2
    assert message in run.stderr
    assert not (tmp_path / "w" / "state.json").exists()
