"""The quality inspector's page and the schedule page without a browser: the role gates
(an inspector only on /quality; an agent sees only their own shifts and reviews), the
form's item-by-item check before the site's, the recording relayed as WAV to the
inspector only, and the published week laid out per Beijing day."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.web_requests import page_request
from vcc_domain.errors import InvalidInput, NotFound, Unauthenticated
from vcc_domain.province import load_province_file
from vcc_domain.schedule import INTERVAL_MS
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import quality_pb2 as q
from vcc_site.web.app import DeskPages, PageFacts
from vcc_site.web.client import DeskClient
from vcc_site.web.qa_client import QualityClient
from vcc_site.web.qa_pages import STAFF_COOKIE, QaPages
from vcc_site.web.server import qa_form_of

EXAMPLE = Path(__file__).parents[2] / "ops" / "vcc_ops" / "examples" / "yunnan.toml"
WEEK_MS = 1_798_992_000_000  # Monday 2027-01-04 00:00 Beijing
FORM = [
    {"id": "greeting", "name": "Greeting", "max": 10},
    {"id": "accuracy", "name": "Accuracy", "max": 40},
]


def request(
    method: str,
    body: dict[str, Any] | None = None,
    *,
    token: str = "",
    cookie: str = STAFF_COOKIE,
    csrf: bool = True,
    query: str = "",
    params: dict[str, str] | None = None,
) -> Request:
    cookies = {cookie: token} if token else {}
    return page_request(method, body, cookies=cookies, csrf=csrf, query=query, params=params)


def answer(response: Response) -> tuple[int, Any]:
    return response.status_code, json.loads(bytes(response.body))


class Site:
    """The site as the pages see it: people by session, and the Quality service."""

    def __init__(self) -> None:
        self.people = {
            "qa": ("KM-0300", "quality_inspector"),
            "lead": ("KM-0190", "team_leader"),
            "agent": ("KM-0131", "agent"),
        }
        self.signed_out: list[str] = []
        self.asked: list[tuple[str, ...]] = []
        self.scored: list[tuple[str, dict[str, int], bool]] = []
        self.published = True

    async def who_am_i(self, bearer: str) -> p.PersonView:
        if bearer not in self.people:
            raise Unauthenticated("session ended")
        person_id, role = self.people[bearer]
        return p.PersonView(person_id=person_id, role=role, name=person_id)

    async def sign_in(self, person_id: str, password: str) -> p.SignInReply:
        token = next(t for t, (pid, _) in self.people.items() if pid == person_id)
        pid, role = self.people[token]
        return p.SignInReply(session_token=token, person=p.PersonView(person_id=pid, role=role))

    async def sign_out(self, bearer: str) -> None:
        self.signed_out.append(bearer)

    # -- Quality --
    async def reviews(
        self, bearer: str, period: str, agent_id: str = "", state: str = ""
    ) -> list[q.QaReview]:
        self.asked.append(("reviews", period, agent_id, state))
        every = [
            q.QaReview(review_id="qa_1", agent_id="KM-0131", business_id="general",
                       state="scored", final_score_bp=8000, period=period),
            q.QaReview(review_id="qa_2", agent_id="KM-0131", business_id="general",
                       state="sampled", final_score_bp=-1, period=period),
            q.QaReview(review_id="qa_3", agent_id="KM-0132", business_id="general",
                       state="reviewed", final_score_bp=6000, period=period),
        ]  # fmt: skip
        return [r for r in every if not agent_id or r.agent_id == agent_id]

    async def score(
        self, bearer: str, review_id: str, points: Mapping[str, int], comment: str, second: bool
    ) -> q.QaReview:
        if review_id == "qa_same":
            raise InvalidInput("the second review needs another inspector", field="inspector_id")
        self.scored.append((review_id, dict(points), second))
        return q.QaReview(review_id=review_id, state="reviewed" if second else "scored")

    async def play(self, bearer: str, recording_id: str) -> AsyncIterator[bytes]:
        if recording_id != "rec_1":
            raise NotFound(f"no recording {recording_id}")
        yield b"RIFF"
        yield b"data"

    async def schedule(self, bearer: str, week_start_ms: int, agent_id: str = "") -> q.Schedule:
        self.asked.append(("schedule", str(week_start_ms), agent_id))
        if not self.published:
            raise NotFound("no schedule published for that week")
        start = week_start_ms + 9 * 4 * INTERVAL_MS  # Monday 09:00
        shifts = [
            q.ScheduleShift(agent_id="KM-0131", start_ms=start, end_ms=start + 32 * INTERVAL_MS,
                            break_start_ms=start + 16 * INTERVAL_MS,
                            break_end_ms=start + 18 * INTERVAL_MS),
            q.ScheduleShift(agent_id="KM-0132", start_ms=start + 96 * INTERVAL_MS,
                            end_ms=start + 128 * INTERVAL_MS),
        ]  # fmt: skip
        on_phone = [0] * 672
        sl = [0] * 672
        on_phone[36:40] = [1, 1, 1, 2]
        sl[36:40] = [8250] * 4
        return q.Schedule(
            week_start_ms=week_start_ms,
            shifts=[s for s in shifts if not agent_id or s.agent_id == agent_id],
            on_phone=on_phone,
            predicted_sl_bp=sl,
            published_by="KM-0900",
        )


@pytest.fixture
def site() -> Site:
    return Site()


def pages(site: Site) -> QaPages:
    businesses = [{"id": "general", "name": "General", "sites": ["KM"], "qa_form": FORM}]
    facts = PageFacts("KM", "Kunming", [], businesses, 60_000, True)
    return QaPages(DeskPages(cast(DeskClient, site), facts), cast(QualityClient, site))


async def test_only_an_inspector_uses_the_inspection_api(site: Site) -> None:
    qa = pages(site)
    listing = qa.as_role(frozenset({"quality_inspector"}), qa.reviews)
    status, got = answer(await listing(request("GET", token="qa", query="period=2027-01")))
    assert status == 200 and [r["review_id"] for r in got["reviews"]] == ["qa_1", "qa_2", "qa_3"]
    for who in ("agent", "lead"):
        status, got = answer(await listing(request("GET", token=who)))
        assert (status, got["error"]) == (403, "wrong_role")
        assert "quality_inspector only" in got["detail"]
    status, got = answer(await listing(request("GET", token="ended")))
    assert (status, got["error"]) == (401, "session_expired")
    status, got = answer(await listing(request("GET", token="qa", query="period=2027-13")))
    assert (status, got["field"]) == (400, "period")


async def test_the_inspection_page_refuses_another_role_at_sign_in(site: Site) -> None:
    qa = pages(site)
    body = {"agent_id": "KM-0131", "password": "secret-pass"}
    response = await qa.login(request("POST", body, query="page=quality"))
    status, got = answer(response)
    assert (status, got["error"]) == (403, "wrong_role") and site.signed_out == ["agent"]
    assert "set-cookie" not in response.headers
    response = await qa.login(request("POST", body, query="page=schedule"))
    assert response.status_code == 200 and f"{STAFF_COOKIE}=agent" in response.headers["set-cookie"]
    body = {"agent_id": "KM-0300", "password": "secret-pass"}
    response = await qa.login(request("POST", body, query="page=quality"))
    assert answer(response)[1]["role"] == "quality_inspector"


async def test_a_score_is_checked_item_by_item_before_the_site(site: Site) -> None:
    qa = pages(site)
    score = qa.as_role(frozenset({"quality_inspector"}), qa.score, True)
    base = {"review_id": "qa_2", "business_id": "general"}
    cases = [
        ({"greeting": 11, "accuracy": 40}, "points.greeting"),
        ({"greeting": 5}, "points.accuracy"),
        ({"greeting": "x", "accuracy": 3}, "points.greeting"),
        ({"greeting": True, "accuracy": 3}, "points.greeting"),
        ([1, 2], "points"),
    ]
    for points, field in cases:
        status, got = answer(await score(request("POST", {**base, "points": points}, token="qa")))
        assert (status, got["error"], got["field"]) == (400, "invalid", field), points
    assert site.scored == []
    status, got = answer(
        await score(request("POST", {**base, "points": {}}, token="qa", csrf=False))
    )
    assert (status, got["error"]) == (403, "csrf")
    good = {**base, "points": {"greeting": "7", "accuracy": 30}, "comment": "ok"}
    status, got = answer(await score(request("POST", good, token="qa")))
    assert status == 200 and got["state"] == "scored"
    second = {**good, "review_id": "qa_1", "second": True}
    status, got = answer(await score(request("POST", second, token="qa")))
    assert status == 200 and got["state"] == "reviewed"
    assert site.scored == [
        ("qa_2", {"greeting": 7, "accuracy": 30}, False),
        ("qa_1", {"greeting": 7, "accuracy": 30}, True),
    ]
    refused = {**good, "review_id": "qa_same", "second": True}
    status, got = answer(await score(request("POST", refused, token="qa")))
    assert (status, got["field"]) == (400, "inspector_id")  # the site's refusal, as it said


async def test_a_recording_plays_as_wav_for_the_inspector_only(site: Site) -> None:
    qa = pages(site)
    audio = qa.as_role(frozenset({"quality_inspector"}), qa.audio)
    response = await audio(request("GET", token="qa", params={"recording_id": "rec_1"}))
    assert isinstance(response, StreamingResponse)
    assert response.media_type == "audio/wav" and response.headers["cache-control"] == "no-store"
    body = b"".join([bytes(c) async for c in response.body_iterator])  # type: ignore[arg-type]
    assert body == b"RIFFdata"
    status, got = answer(await audio(request("GET", token="qa", params={"recording_id": "x"})))
    assert (status, got["error"]) == (404, "not_found")
    status, got = answer(
        await audio(request("GET", token="agent", params={"recording_id": "rec_1"}))
    )
    assert (status, got["error"]) == (403, "wrong_role")


async def test_the_week_per_day_and_an_agent_sees_only_their_shifts(site: Site) -> None:
    qa = pages(site)
    roles = frozenset({"agent", "team_leader"})
    sched = qa.as_role(roles, qa.schedule)
    status, got = answer(await sched(request("GET", token="lead", query="week=2027-01-06")))
    assert status == 200 and got["published"] and got["week"] == "2027-01-04"
    assert (got["prev"], got["next"]) == ("2026-12-28", "2027-01-11")
    monday, tuesday = got["days"][0], got["days"][1]
    assert monday["shifts"] == [
        {"agent_id": "KM-0131", "start": "09:00", "end": "17:00", "break": "13:00–13:30",
         "hours": 8.0},
    ]  # fmt: skip
    assert [s["agent_id"] for s in tuesday["shifts"]] == ["KM-0132"]
    start = WEEK_MS + 36 * INTERVAL_MS
    assert [(i["start"], i["end"], i["on_phone"], i["sl_bp"]) for i in monday["intervals"]] == [
        ("09:00", "09:45", 1, 8250),  # three alike intervals, one row
        ("09:45", "10:00", 2, 8250),
    ]
    assert monday["intervals"][0]["start_ms"] == start
    assert site.asked[-1] == ("schedule", str(WEEK_MS), "")
    status, got = answer(await sched(request("GET", token="agent", query="week=2027-01-04")))
    assert site.asked[-1] == ("schedule", str(WEEK_MS), "KM-0131")
    assert [s["agent_id"] for d in got["days"] for s in d["shifts"]] == ["KM-0131"]
    site.published = False
    status, got = answer(await sched(request("GET", token="lead", query="week=2027-01-04")))
    assert status == 200 and got["published"] is False and got["week"] == "2027-01-04"
    status, got = answer(await sched(request("GET", token="lead", query="week=soon")))
    assert (status, got["field"]) == (400, "week")


async def test_the_desk_session_opens_the_agents_own_scores(site: Site) -> None:
    qa = pages(site)
    mine = qa.as_role(frozenset({"agent"}), qa.my_quality)
    status, got = answer(
        await mine(request("GET", token="agent", cookie="vcc_person", query="period=2027-01"))
    )
    assert status == 200 and site.asked[-1] == ("reviews", "2027-01", "KM-0131", "")
    assert [r["review_id"] for r in got["reviews"]] == ["qa_1", "qa_2"]
    assert got["average_bp"] == 8000  # the unscored one left out
    status, got = answer(await mine(request("GET", token="qa")))
    assert (status, got["error"]) == (403, "wrong_role")


def test_the_meta_carries_each_business_form() -> None:
    province = load_province_file(EXAMPLE)
    forms = {b.id: qa_form_of(b) for b in province.businesses}
    assert forms["general"] and all(set(i) == {"id", "name", "max"} for i in forms["general"])
    assert any(f == [] for f in forms.values())  # a business without a form: nothing to score
