"""The wallboard page's server side without a browser: what the page is sent of a board,
and a stream the site ends becoming ``closed`` (with why) for the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from vcc_domain.errors import Unauthenticated
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.web import present
from vcc_site.web.app import DeskPages, PageFacts
from vcc_site.web.board import BoardPages
from vcc_site.web.client import DeskClient

BOARD = s.SiteBoard(
    site_id="KM",
    as_of_ms=10_000,
    day="2025-12-05",
    businesses=[
        s.BusinessBoard(
            figures=c.QueueFigures(business_id="general", waiting=2, longest_wait_ms=4000),
            tiers=[s.TierLevel(tier="vip", answered_within=9, sl_calls=10, target_percent=90)],
            abandoned_today=1,
            answered_today=9,
        )
    ],
    agents=[s.AgentOnBoard(agent_id="KM-0131", state="busy", since_ms=7_000)],
)


def test_the_page_gets_queues_levels_and_time_in_state() -> None:
    board = present.board(BOARD)
    row = board["businesses"][0]
    assert (row["business_id"], row["waiting"], row["longest_wait_ms"]) == ("general", 2, 4000)
    assert (row["abandoned"], row["answered"]) == (1, 9)
    assert row["tiers"][0]["answered_within"] == 9 and row["tiers"][0]["sl_calls"] == 10
    assert board["agents"] == [
        {
            "agent_id": "KM-0131",
            "name": "",
            "state": "busy",
            "reason": "",
            "in_state_ms": 3000,
            "call_id": "",
        }
    ]


class FakeClient:
    def __init__(self, boards: list[s.SiteBoard], end: Exception | None) -> None:
        self.boards, self.end = boards, end

    async def watch_board(self, bearer: str) -> AsyncIterator[s.SiteBoard]:
        for board in self.boards:
            yield board
        if self.end is not None:
            raise self.end


def pages(client: FakeClient) -> BoardPages:
    facts = PageFacts("KM", "Kunming", [], [], 60_000, https=False)
    return BoardPages(DeskPages(cast(DeskClient, client), facts))


async def read_all(client: FakeClient) -> list[dict[str, Any]]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await pages(client)._read("token", queue)
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_an_ended_session_closes_the_page_with_its_reason() -> None:
    events = await read_all(FakeClient([BOARD], Unauthenticated("session ended")))
    assert [e["type"] for e in events] == ["board", "closed"]
    assert events[-1]["code"] == "session_expired"
    events = await read_all(FakeClient([], None))  # the site went away
    assert events == [{"type": "closed", "code": "unavailable"}]
