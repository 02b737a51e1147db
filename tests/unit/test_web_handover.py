"""The team leader console's shift handover without a browser: the unfinished work listed,
the handover written and acknowledged as the signed-in leaders (never an ID the page
sends), the role gate, CSRF, and a sign-out refused before the handover shown as such."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.web_requests import page_request
from vcc_domain.errors import Conflict, InvalidInput, Unauthenticated
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import site_pb2 as s
from vcc_site.web.app import DeskPages, PageFacts
from vcc_site.web.board import LEAD_COOKIE, BoardPages
from vcc_site.web.client import DeskClient
from vcc_site.web.handover import HandoverPages

NOW_MS = 1_800_000_000_000


def request(
    method: str, body: dict[str, Any] | None = None, *, token: str = "", csrf: bool = True
) -> Request:
    return page_request(method, body, cookies={LEAD_COOKIE: token} if token else {}, csrf=csrf)


def answer(response: Response) -> tuple[int, Any]:
    return response.status_code, json.loads(bytes(response.body))


class Site:
    """The site as the pages see it: two KM team leaders and an agent signed in."""

    def __init__(self) -> None:
        self.people = {
            "lead-a": ("KM-0190", "team_leader"),
            "lead-b": ("KM-0191", "team_leader"),
            "agent": ("KM-0131", "agent"),
        }
        self.made: list[s.HandoverView] = []

    async def who_am_i(self, bearer: str) -> p.PersonView:
        if bearer not in self.people:
            raise Unauthenticated("session ended")
        person_id, role = self.people[bearer]
        return p.PersonView(person_id=person_id, role=role)

    async def work_orders(self, bearer: str, state: str) -> list[s.WorkOrder]:
        return [
            s.WorkOrder(order_id="wo_1", site_id="KM", owner_site="KM", state="dispatched"),
            s.WorkOrder(
                order_id="wo_2",
                site_id="KM",
                owner_site="KM",
                state="replied",
                callback_required=True,
                callback_from_ms=1,
                callback_due_ms=NOW_MS * 2,
            ),
            s.WorkOrder(order_id="wo_3", site_id="KM", owner_site="DL", state="created"),
        ]

    async def handovers(self, bearer: str, limit: int = 20) -> list[s.HandoverView]:
        return self.made[::-1][:limit]

    async def create_handover(self, bearer: str, outgoing: str, notes: str) -> s.HandoverView:
        made = s.HandoverView(
            handover_id=f"chg_{len(self.made) + 1}",
            site_id="KM",
            outgoing_leader=outgoing,
            created_at_ms=NOW_MS,
            unfinished_orders=["wo_1", "wo_2"],
            due_callbacks=["wo_2"],
            notes=notes,
        )
        self.made.append(made)
        return made

    async def acknowledge_handover(
        self, bearer: str, handover_id: str, incoming: str
    ) -> s.HandoverView:
        held = next(h for h in self.made if h.handover_id == handover_id)
        if incoming == held.outgoing_leader:
            raise InvalidInput(
                "the incoming leader must be another person", field="incoming_leader"
            )
        if held.acknowledged_at_ms:
            raise Conflict(f"handover {handover_id} was already acknowledged", field="handover")
        held.incoming_leader, held.acknowledged_at_ms = incoming, NOW_MS + 1
        return held

    async def sign_out(self, bearer: str) -> None:
        if not any(h.acknowledged_at_ms for h in self.made):
            raise Conflict("hand over before signing out", field="handover")


@pytest.fixture
def site() -> Site:
    return Site()


def desk(site: Site) -> DeskPages:
    return DeskPages(cast(DeskClient, site), PageFacts("KM", "Kunming", [], [], 60_000, True))


def handovers(site: Site) -> HandoverPages:
    return HandoverPages(desk(site))


async def listing(site: Site, token: str) -> tuple[int, Any]:
    pages = handovers(site)
    return answer(await pages.as_leader(pages.listing)(request("GET", token=token)))


async def test_the_outgoing_leader_sees_the_unfinished_work(site: Site) -> None:
    status, got = await listing(site, "lead-a")
    assert status == 200 and got["me"] == "KM-0190" and got["handovers"] == []
    orders = {o["order_id"]: o for o in got["open_orders"]}
    assert set(orders) == {"wo_1", "wo_2"}  # wo_3 lives at DL: not this site's to hand over
    assert orders["wo_2"]["callback_due"] and not orders["wo_1"]["callback_due"]


async def test_written_by_one_leader_acknowledged_by_the_other(site: Site) -> None:
    pages = handovers(site)
    write = pages.as_leader(pages.create, True)
    ack = pages.as_leader(pages.acknowledge, True)
    body = {"notes": "wo_2: call back before 18:00", "outgoing_leader": "KM-0191"}
    status, made = answer(await write(request("POST", body, token="lead-a")))
    assert status == 200 and made["outgoing_leader"] == "KM-0190"  # the signed-in one
    assert made["due_callbacks"] == ["wo_2"] and made["mine"] is True
    status, got = answer(await ack(request("POST", {"handover_id": "chg_1"}, token="lead-a")))
    assert (status, got["error"], got["field"]) == (400, "invalid", "incoming_leader")
    status, got = answer(await ack(request("POST", {"handover_id": "chg_1"}, token="lead-b")))
    assert status == 200 and got["incoming_leader"] == "KM-0191" and got["mine"] is False
    status, got = answer(await ack(request("POST", {"handover_id": "chg_1"}, token="lead-b")))
    assert (status, got["error"]) == (409, "conflict")
    status, got = await listing(site, "lead-b")
    assert got["handovers"][0]["acknowledged_at_ms"] and got["handovers"][0]["mine"] is False


async def test_only_team_leaders_with_a_live_session_take_part(site: Site) -> None:
    pages = handovers(site)
    status, got = await listing(site, "agent")
    assert (status, got["error"]) == (403, "wrong_role")
    status, got = await listing(site, "ended")
    assert (status, got["error"]) == (401, "session_expired")
    status, got = await listing(site, "")
    assert (status, got["error"]) == (401, "session_expired")
    write = pages.as_leader(pages.create, True)
    status, got = answer(await write(request("POST", {}, token="lead-a", csrf=False)))
    assert (status, got["error"]) == (403, "csrf") and site.made == []
    status, got = answer(await write(request("POST", {"notes": "x" * 4001}, token="lead-a")))
    assert (status, got["field"]) == (400, "notes") and site.made == []


async def test_a_sign_out_before_the_handover_is_refused_saying_why(site: Site) -> None:
    board = BoardPages(desk(site))
    response = await board.logout(request("POST", token="lead-a"))
    status, got = answer(response)
    assert (status, got["error"]) == (409, "handover") and "set-cookie" not in response.headers
    pages = handovers(site)
    await pages.as_leader(pages.create, True)(request("POST", {}, token="lead-a"))
    got_ack = pages.as_leader(pages.acknowledge, True)
    await got_ack(request("POST", {"handover_id": "chg_1"}, token="lead-b"))
    response = await board.logout(request("POST", token="lead-a"))
    assert response.status_code == 200 and f'{LEAD_COOKIE}=""' in response.headers["set-cookie"]
