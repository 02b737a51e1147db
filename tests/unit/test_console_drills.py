"""The province console's drill reports without a browser: the reports folder read (a run
and one drill's report, an unreadable file, names that would leave the folder), and the
pages' role gate (operations and province managers read; anybody else, or an ended
session, is refused)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from tests.unit.test_hub_console import answer, request
from vcc_domain.errors import InvalidInput, NotFound, Unauthenticated
from vcc_hub.web.app import ConsolePages
from vcc_hub.web.client import HubClient
from vcc_hub.web.drills import DrillReports
from vcc_hub.web.views import ConsoleFacts, ConsoleViews
from vcc_proto.v1 import people_pb2 as p

GAMEDAY = Path(__file__).resolve().parents[2] / "bench" / "gameday.json"


def one_drill(verdict: str = "FAIL") -> dict[str, Any]:
    return {
        "scenario": "site-kill",
        "verdict": verdict,
        "failed": ["reroute_s"] if verdict == "FAIL" else [],
        "objectives": [
            {"objective": "reroute_s", "target": 3.0, "measured": 4.2, "pass": False},
            {"objective": "events_lost", "target": 0, "measured": 0, "pass": True},
        ],
        "measured": {"reroute_s": 4.2, "detection_s": 2.1},
        "service_level": {"before": {"offered": 20, "service_level_pct": 75.0}},
        "started_at": 1796465000.5,
        "checks": {"examples": {"secret": "not sent"}},
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    reports = tmp_path / "drill-reports"
    reports.mkdir()
    (reports / "gameday.json").write_bytes(GAMEDAY.read_bytes())
    (reports / "site-kill.json").write_text(json.dumps(one_drill()))
    (reports / "notes.json").write_text('{"hello": 1}')
    (reports / "readme.txt").write_text("not listed")
    (reports / ".hidden.json").write_text(json.dumps(one_drill()))
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(one_drill()))
    (reports / "link.json").symlink_to(outside)  # a link leading out of the folder
    for age, name in enumerate(("site-kill.json", "notes.json", "gameday.json")):
        os.utime(reports / name, (1_000_000 + age, 1_000_000 + age))  # gameday newest
    return reports


def test_the_folder_lists_runs_and_drills_newest_first(folder: Path) -> None:
    listing = DrillReports(folder).listing()
    assert listing["configured"] is True
    names = [r["name"] for r in listing["reports"]]
    assert names == ["gameday.json", "notes.json", "site-kill.json"]
    gameday, notes, single = listing["reports"]
    assert (gameday["verdict"], gameday["score"]) == ("PASS", "8/8")
    assert [d["scenario"] for d in gameday["drills"]][:2] == ["site-kill", "hub-leader-kill"]
    assert gameday["finished_at_ms"] == 1796465491765
    assert notes["unreadable"] and notes["verdict"] == ""
    assert (single["verdict"], single["score"], single["drills"][0]["failed"]) == (
        "FAIL",
        "0/1",
        ["reroute_s"],
    )
    assert DrillReports(None).listing() == {"configured": False, "reports": []}


def test_a_report_gives_each_objective_against_its_target(folder: Path) -> None:
    report = DrillReports(folder).report("site-kill.json")
    (drill,) = report["drills"]
    assert drill["objectives"][0] == {
        "objective": "reroute_s",
        "target": 3.0,
        "measured": 4.2,
        "pass": False,
    }
    assert drill["measured"]["detection_s"] == 2.1 and "checks" not in drill
    assert report["finished_at_ms"] == 1796465000500
    gameday = DrillReports(folder).report("gameday.json")
    assert len(gameday["drills"]) == 8 and all(d["verdict"] == "PASS" for d in gameday["drills"])


@pytest.mark.parametrize(
    "name", ["../outside.json", "link.json", ".hidden.json", "x.txt", "nope.json"]
)
def test_a_name_outside_the_folder_is_refused(folder: Path, name: str) -> None:
    with pytest.raises((InvalidInput, NotFound)):
        DrillReports(folder).report(name)


def test_a_file_that_is_no_report_is_refused_saying_so(folder: Path) -> None:
    with pytest.raises(InvalidInput, match="not a drill report"):
        DrillReports(folder).report("notes.json")
    with pytest.raises(NotFound, match="VCC_CONSOLE_DRILL_REPORTS"):
        DrillReports(None).report("gameday.json")


class Hub:
    def __init__(self, role: str) -> None:
        self.role = role

    async def who_am_i(self, bearer: str) -> p.PersonView:
        if bearer != "tok":
            raise Unauthenticated("session ended")
        return p.PersonView(person_id="X", role=self.role)


def views(role: str, folder: Path) -> tuple[ConsolePages, ConsoleViews]:
    facts = ConsoleFacts({"KM": "Kunming"}, True, folder)
    client = cast(HubClient, Hub(role))
    return ConsolePages(client, facts), ConsoleViews(client, facts)


@pytest.mark.parametrize("role", ["operations", "province_manager"])
async def test_operations_and_province_managers_read_the_reports(role: str, folder: Path) -> None:
    pages, v = views(role, folder)
    status, body = answer(await pages.as_person(v.drill_list)(request("GET", "/", cookie="tok")))
    assert status == 200 and body["reports"][0]["name"] == "gameday.json"
    got = request("GET", "/", cookie="tok")
    got.scope["path_params"] = {"name": "site-kill.json"}
    status, body = answer(await pages.as_person(v.drill_report)(got))
    assert status == 200 and body["drills"][0]["verdict"] == "FAIL"
    got.scope["path_params"] = {"name": "..%2Foutside.json"}
    status, body = answer(await pages.as_person(v.drill_report)(got))
    assert (status, body["error"]) == (400, "invalid")


@pytest.mark.parametrize("role", ["agent", "team_leader", "site_admin"])
async def test_anybody_else_is_refused(role: str, folder: Path) -> None:
    pages, v = views(role, folder)
    status, body = answer(await pages.as_person(v.drill_list)(request("GET", "/", cookie="tok")))
    assert (status, body["error"]) == (403, "forbidden") and "drill reports" in body["detail"]


async def test_an_ended_session_reads_nothing(folder: Path) -> None:
    pages, v = views("operations", folder)
    status, body = answer(await pages.as_person(v.drill_list)(request("GET", "/", cookie="old")))
    assert (status, body["error"]) == (401, "session_expired")
    status, body = answer(await pages.as_person(v.drill_list)(request("GET", "/")))
    assert (status, body["error"]) == (401, "session_expired")
