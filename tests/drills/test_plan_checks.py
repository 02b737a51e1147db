"""Drill plans, scoring, the overlap sweep of the checker and the HTML report (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_domain.errors import ConfigError
from vcc_ops.drills.checks import CheckResult, _overlaps
from vcc_ops.drills.plan import load_plan
from vcc_ops.drills.report import html_page
from vcc_ops.drills.runner import Objectives, score

GAMEDAY = Path(__file__).parents[2] / "ops" / "vcc_ops" / "drills" / "gameday.toml"


def test_the_shipped_game_day_parses() -> None:
    province, objectives, traffic, drills = load_plan(GAMEDAY)
    assert province["hubs"] == 2 and objectives.reroute_s == 3.0
    assert traffic["calls_per_s"] == 4.0
    assert [d.scenario for d in drills][:2] == ["site-kill", "hub-leader-kill"]
    assert drills[0].options.hold_s == 8.0 and drills[0].options.params == {"site": "DL"}


def test_an_unknown_scenario_is_named(tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text('[[drill]]\nscenario = "moon-fall"\n')
    with pytest.raises(ConfigError, match="moon-fall"):
        load_plan(plan)


def test_overlapping_legs_are_found() -> None:
    assert _overlaps([(0, 10, "a"), (10, 20, "b")]) == []  # back to back is fine
    assert _overlaps([(0, 10, "a"), (5, 20, "b"), (30, 40, "c")]) == [("a", "b")]


def test_score_fails_a_slow_reroute_and_a_lost_event() -> None:
    ok = CheckResult(events_published=10, events_applied=10).as_dict()
    passed = score("site-kill", {"reroute_s": 1.2}, ok, Objectives(), ("reroute_s",))
    assert passed["verdict"] == "PASS"
    slow = score("site-kill", {"reroute_s": 4.0}, ok, Objectives(), ("reroute_s",))
    assert slow["verdict"] == "FAIL" and slow["failed"] == ["reroute_s"]
    bad = CheckResult(events_published=10, events_applied=9, events_lost=1)
    bad.note("events_lost", "KM#5 call.ended")
    lost = score("site-kill", {"reroute_s": 1.0}, bad.as_dict(), Objectives(), ("reroute_s",))
    assert lost["failed"] == ["events_lost", "invariants"]
    report = {
        **lost,
        "measured": {"reroute_s": 1.0},
        "checks": bad.as_dict(),
        "timeline": [
            {"t_s": 1.0, "kind": "fault", "what": "SIGKILL site-DL"},
            {"t_s": 3.0, "kind": "restore", "what": "restart site-DL"},
        ],
        "series": {"offered": [1, 2, 3, 2], "lost": [0, 1, 0, 0]},
        "service_level": {"before": {"offered": 3, "service_level_pct": 100.0}},
    }
    page = html_page([report], "drill")
    assert "<svg" in page and "FAIL" in page and "KM#5" in page
