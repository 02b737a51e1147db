"""The sip-site-kill drill's arithmetic (no servers): SIPp's log read back, the calls
tallied against the kill, its objectives scored, its table row, and its skip where the
SIP tools are missing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vcc_ops.drills import plan
from vcc_ops.drills.checks import CheckResult
from vcc_ops.drills.plan import DrillSpec, run_drills
from vcc_ops.drills.runner import Objectives, score
from vcc_ops.drills.sip_calls import INSTALL, SipCall, SipParts, read_calls, tally
from vcc_ops.drills.table import render

PARTS = SipParts("127.0.0.1:5060", 5090, {"KM": "127.0.0.1:5071", "QJ": "127.0.0.1:5072"})
KILL = 1000.0


def test_sipp_log_is_read_back_per_call() -> None:
    log = "\n".join(
        [
            "invite 1 999.000000 500000.000000",
            "answered 1 999.000000 700000.000000 127.0.0.1:5071",
            "released 1 1001.000000 0.000000",
            "invite 2 1002.000000 0.000000",
            "answered 2 1003.000000 600000.000000 127.0.0.1:5072",
            "2026-12-05 Variable $x is referenced 1 times!",  # SIPp's own noise
            "invite 3 1003.000000 0.000000",
        ]
    )
    calls = read_calls(log, PARTS)
    assert [c.number for c in calls] == [1, 2, 3]
    assert calls[0].invited_at == pytest.approx(999.5) and calls[0].answered_by == "KM"
    assert calls[0].released_at == pytest.approx(1001.0)
    assert calls[1].answered_by == "QJ" and calls[1].released_at is None
    assert calls[2].answered_at is None


def call(
    n: int, invited: float, answered: float | None, by: str, released: float | None
) -> SipCall:
    return SipCall(n, invited, answered, by, released)


def test_tally_counts_in_flight_calls_apart_from_calls_lost_beyond() -> None:
    calls = [
        call(1, 990.0, 990.2, "KM", 992.0),  # completed before the kill
        call(2, 998.0, 998.2, "KM", None),  # in flight at KM: lost, the failure's cost
        call(3, 999.5, 1001.5, "QJ", 1004.0),  # in flight, failed over to QJ: not lost
        call(4, 1000.2, 1001.9, "QJ", 1004.0),  # new: the first answered at the next site
        call(5, 1000.5, None, "", None),  # new and never answered: lost beyond
    ]
    out = tally(calls, "KM", KILL)
    assert out["sip_calls_in_flight_at_kill"] == 2
    assert out["sip_calls_lost_in_flight"] == 1
    assert out["sip_calls_lost"] == 1
    assert out["sip_new_calls"] == 2
    assert out["sip_reroute_s"] == pytest.approx(1.9)  # call 3 was offered before the kill
    assert out["sip_first_rerouted_setup_s"] == pytest.approx(1.7)
    assert out["sip_next_site"] == "QJ"
    assert out["sip_new_calls_setup_max_s"] == pytest.approx(1.7)
    assert out["sip_answered_by_site"] == {"KM": 2, "QJ": 2}
    assert out["sip_answered_at_site_before_kill"] == 2


def test_no_call_elsewhere_leaves_the_reroute_unmeasured() -> None:
    out = tally([call(1, 1000.1, 1000.3, "KM", None)], "KM", KILL)
    assert out["sip_reroute_s"] is None and out["sip_next_site"] == ""
    assert out["sip_calls_lost"] == 1


def test_sip_reroute_is_held_to_the_reroute_objective() -> None:
    ok = CheckResult(events_published=1, events_applied=1).as_dict()
    scored = ("sip_reroute_s", "sip_calls_lost")
    fast = score(
        "sip-site-kill", {"sip_reroute_s": 1.7, "sip_calls_lost": 0}, ok, Objectives(), scored
    )
    assert fast["verdict"] == "PASS"
    assert fast["objectives"][0] == {
        "objective": "sip_reroute_s",
        "target": 3.0,
        "measured": 1.7,
        "pass": True,
    }
    slow = score(
        "sip-site-kill",
        {"sip_reroute_s": 1.7, "sip_calls_lost": 0},
        ok,
        Objectives(reroute_s=1.5),
        scored,
    )
    assert slow["failed"] == ["sip_reroute_s"]
    lost = score(
        "sip-site-kill", {"sip_reroute_s": None, "sip_calls_lost": 2}, ok, Objectives(), scored
    )
    assert lost["failed"] == ["sip_reroute_s", "sip_calls_lost"]


def test_without_the_sip_tools_the_drill_is_skipped_naming_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    why = f"kamailio not installed: {INSTALL}"
    monkeypatch.setattr(plan, "sip_tools_missing", lambda: why)
    launcher: Any = None  # a skipped drill never touches the province
    day = asyncio.run(run_drills(launcher, [DrillSpec("sip-site-kill")], Objectives(), {}))
    assert day["skipped"] == ["sip-site-kill"] and day["score"] == "0/0"
    report = day["drills"][0]
    assert report["verdict"] == "SKIP"
    assert "apt-get install -y kamailio kamailio-utils-modules sip-tester" in report["skipped"]
    assert "rtpengine-daemon" in report["skipped"]
    text = render({**day, "drills": [report]}, "x.json")
    assert "| `sip-site-kill` |" in text and "skipped: kamailio not installed" in text
    assert "failed:" not in text


def test_the_table_row_quotes_the_sip_figures() -> None:
    calls = [call(1, 999.0, 999.2, "KM", None), call(2, 1000.1, 1001.7, "QJ", 1004.0)]
    measured = {
        **tally(calls, "KM", KILL),
        "sip_recovery_s": 3.2,
        "detection_s": 2.0,
        "routing_map_s": 2.1,
        "reroute_s": 0.4,
        "recovery_s": 2.9,
    }
    report = {
        "scenario": "sip-site-kill",
        "verdict": "PASS",
        "measured": measured,
        "params": {"site": "KM"},
        "checks": {},
        "started_at": 0.0,
    }
    text = render({"drills": [report], "finished_at": 60.0, "score": "1/1"}, "x.json")
    assert (
        "KM: 1.70 to QJ (slowest new setup 1.60)" in text
        and "1 of 1 in flight lost, 0 lost beyond" in text
    )
