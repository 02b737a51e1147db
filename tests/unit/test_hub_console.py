"""The province console's server side without a browser: what the pages are sent (the
board with stale sites, a directory version's field-by-field difference), its refusals
(wrong password, wrong role, ended session, CSRF, an unconfirmed close) and the hub's
``Routing.WatchBoard`` stream pushing after reports and when a site turns stale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.web_requests import page_request
from vcc_domain.errors import Forbidden, Unauthenticated
from vcc_domain.province import load_province_file
from vcc_hub.adapters.grpc_routing import RoutingServicer
from vcc_hub.domain.overflow import FRESH_S, OverflowAdvisor
from vcc_hub.web import present
from vcc_hub.web.app import COOKIE, ConsolePages
from vcc_hub.web.client import HubClient
from vcc_hub.web.views import ConsoleFacts, day_range
from vcc_ops.cli import example_province_path
from vcc_ops.web_links import desktop_lines
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import people_pb2 as p


def request(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    cookie: str = "",
    csrf: bool = True,
    query: str = "",
) -> Request:
    cookies = {COOKIE: cookie} if cookie else {}
    return page_request(method, body, cookies=cookies, csrf=csrf, path=path, query=query)


def answer(response: Response) -> tuple[int, Any]:
    return response.status_code, json.loads(bytes(response.body))


class FakeHub:
    def __init__(self, role: str = "province_manager", must_change: bool = False) -> None:
        self.role, self.must_change = role, must_change
        self.signed_out: list[str] = []
        self.closed: list[str] = []

    async def sign_in(self, person_id: str, password: str) -> p.SignInReply:
        if password != "right":
            raise Unauthenticated("wrong ID or password")
        view = p.PersonView(
            person_id=person_id, role=self.role, must_change_password=self.must_change
        )
        return p.SignInReply(session_token="tok", person=view)

    async def sign_out(self, bearer: str) -> None:
        self.signed_out.append(bearer)

    async def statement(self, bearer: str, period_id: str, close: bool = False) -> h.Statement:
        if bearer != "tok":
            raise Unauthenticated("session ended")
        if close:
            self.closed.append(period_id)
        return h.Statement(period_id=period_id, closed=close)

    async def report(self, bearer: str, view: str, *args: Any) -> h.Report:
        if view == "agent":
            raise Forbidden("not your role")
        return h.Report(content=b"site,answered\nKM,1\n", content_type="text/csv")


def pages(hub: FakeHub) -> ConsolePages:
    return ConsolePages(cast(HubClient, hub), ConsoleFacts({"KM": "Kunming", "DL": "Dali"}, True))


async def test_sign_in_refuses_a_wrong_password_and_a_wrong_role() -> None:
    status, body = answer(
        await pages(FakeHub()).login(
            request("POST", "/api/login", {"person_id": "YN-PM-01", "password": "no"})
        )
    )
    assert (status, body["error"]) == (401, "wrong_login")
    hub = FakeHub(role="agent")
    status, body = answer(
        await pages(hub).login(
            request("POST", "/api/login", {"person_id": "KM-0001", "password": "right"})
        )
    )
    assert (status, body["error"]) == (403, "wrong_role") and hub.signed_out == ["tok"]
    response = await pages(FakeHub(must_change=True)).login(
        request("POST", "/api/login", {"person_id": "YN-PM-01", "password": "right"})
    )
    assert answer(response)[1]["must_change"] is True
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=tok" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


async def test_posts_need_the_csrf_value_and_a_live_session() -> None:
    console = pages(FakeHub())
    close = console.as_person(console_views(console).close_period, True)
    body = {"period": "2026-11", "confirm": "2026-11"}
    status, got = answer(await close(request("POST", "/x", body, cookie="tok", csrf=False)))
    assert (status, got["error"]) == (403, "csrf")
    status, got = answer(await close(request("POST", "/x", body)))
    assert (status, got["error"]) == (401, "session_expired")
    response = await close(request("POST", "/x", body, cookie="ended"))
    assert answer(response)[0] == 401 and f'{COOKIE}=""' in response.headers["set-cookie"]


async def test_closing_a_period_needs_it_typed_again() -> None:
    hub = FakeHub()
    console = pages(hub)
    close = console.as_person(console_views(console).close_period, True)
    status, got = answer(
        await close(
            request("POST", "/x", {"period": "2026-11", "confirm": "2026-10"}, cookie="tok")
        )
    )
    assert (status, got["error"], hub.closed) == (400, "confirm", [])
    status, got = answer(
        await close(
            request("POST", "/x", {"period": "2026-11", "confirm": "2026-11"}, cookie="tok")
        )
    )
    assert (status, got["closed"], hub.closed) == (200, True, ["2026-11"])


async def test_the_csv_export_is_an_attachment_and_a_refused_role_is_said() -> None:
    console = pages(FakeHub())
    views = console_views(console)
    csv = console.as_person(views.report_csv)
    response = await csv(
        request("GET", "/api/report.csv", cookie="tok", query="view=province&day=2026-12-05")
    )
    assert response.status_code == 200 and bytes(response.body) == b"site,answered\nKM,1\n"
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="vcc-province-2026-12-05.csv"'
    )
    report = console.as_person(views.report)
    status, got = answer(
        await report(request("GET", "/api/report", cookie="tok", query="view=agent&day=2026-12-05"))
    )
    assert (status, got["error"]) == (403, "forbidden")
    status, got = answer(
        await report(request("GET", "/api/report", cookie="tok", query="view=province&day=5.12"))
    )
    assert (status, got["field"]) == (400, "day")


def console_views(console: ConsolePages) -> Any:
    from vcc_hub.web.views import ConsoleViews

    return ConsoleViews(console.client, console.facts)


def test_a_beijing_day_is_its_own_24_hours() -> None:
    start, end = day_range("2026-12-05")
    assert end - start == 86_400_000
    assert start % 86_400_000 == 16 * 3_600_000  # midnight at UTC+8 is 16:00 UTC


def test_the_board_flags_stale_and_silent_sites() -> None:
    msg = h.Board(
        rows=[
            h.BoardRow(
                figures=c.QueueFigures(site_id="KM", business_id="bill", waiting=2), age_ms=300
            )
        ],
        stale_site_ids=["DL"],
        as_of_ms=5,
    )
    board = present.board(msg, {"KM": "Kunming", "DL": "Dali"})
    km, dl = board["sites"]
    assert (km["stale"], km["rows"][0]["waiting"], km["age_ms"]) == (False, 2, 300)
    assert (dl["stale"], dl["rows"]) == (True, [])


def delta(version: int, *changes: h.DirectoryChange) -> h.DirectoryDelta:
    return h.DirectoryDelta(version=version, changes=changes, actor=c.Actor(operator="ops"))


def upsert(kind: int, ident: str, entity: dict[str, Any]) -> h.DirectoryChange:
    return h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT, kind=kind, entity_id=ident,  # type: ignore[arg-type]
        entity_json=json.dumps(entity).encode(),
    )  # fmt: skip


def test_a_version_diff_names_each_field_changed() -> None:
    entry = {"name": "Airport", "number": "0871-96566", "area_code": "0871"}
    doc = {"directory": [entry], "sites": [{"id": "KM", "name": "Kunming"}]}
    deltas = [
        delta(1, upsert(h.ENTITY_KIND_DOCUMENT, "", doc)),
        delta(
            2,
            upsert(
                h.ENTITY_KIND_DIRECTORY_ENTRY, "0871-96566", {**entry, "name": "Airport enquiries"}
            ),
        ),
        delta(
            3,
            h.DirectoryChange(
                op=h.DirectoryChange.OP_DELETE,
                kind=h.ENTITY_KIND_DIRECTORY_ENTRY,
                entity_id="0871-96566",
            ),
        ),
    ]
    second = present.version_diff(deltas, 2)
    assert second["version"] == 2 and second["actor"] == "ops"
    assert second["diff"] == [
        {
            "kind": "directory_entry", "op": "upsert", "id": "0871-96566",
            "fields": [{"field": "name", "before": '"Airport"', "after": '"Airport enquiries"'}],
        }
    ]  # fmt: skip
    removed = present.version_diff(deltas, 3)["diff"][0]["fields"]
    assert {f["field"] for f in removed} == {"name", "number", "area_code"}
    assert all(f["after"] is None for f in removed)
    assert present.version_diff(deltas, 9)["missing"] is True


@pytest.fixture
def routing() -> tuple[RoutingServicer, list[float]]:
    now = [1000.0]
    province = load_province_file(example_province_path())

    async def current() -> Any:
        return province

    servicer = RoutingServicer(cast(Any, None), OverflowAdvisor(clock=lambda: now[0]), current)
    return servicer, now


def report(site: str, waiting: int) -> h.ReportQueueFiguresRequest:
    return h.ReportQueueFiguresRequest(
        site_id=site, figures=[c.QueueFigures(site_id=site, business_id="bill", waiting=waiting)]
    )


async def test_the_board_stream_pushes_after_a_report_and_when_a_site_goes_quiet(
    routing: tuple[RoutingServicer, list[float]],
) -> None:
    servicer, now = routing
    await servicer.ReportQueueFigures(report("KM", 1), None)
    stream = cast(
        AsyncGenerator[h.Board, None], servicer.WatchBoard(h.GetBoardRequest(site_ids=["KM"]), None)
    )
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.rows[0].figures.waiting == 1 and list(first.stale_site_ids) == []
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    await servicer.ReportQueueFigures(report("KM", 3), None)
    second = await asyncio.wait_for(pending, 5)
    assert second.rows[0].figures.waiting == 3
    pending = asyncio.ensure_future(anext(stream))
    now[0] += FRESH_S + 1  # KM stops reporting: no report, yet the board changes
    third = await asyncio.wait_for(pending, 5)
    assert list(third.stale_site_ids) == ["KM"]
    await stream.aclose()


def test_vcc_up_prints_the_province_console_with_the_desks() -> None:
    lines = desktop_lines([("hub-1", "http://127.0.0.1:9000/"), ("site-KM", "http://h:1/")])
    assert lines == [
        "province console (hub-1): http://127.0.0.1:9000/",
        "agent desktop KM: http://h:1/",
        "team leader wallboard KM: http://h:1/board",
        "quality inspection KM: http://h:1/quality",
        "schedule KM: http://h:1/schedule",
    ]
