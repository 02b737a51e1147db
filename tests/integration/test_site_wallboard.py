"""The site's live wallboard (``Remote.WatchBoard``) over the gRPC API of a real site
process: a team leader signed in with ``People`` watches; a board comes at once, a call
offered shows waiting on a following board, answered it is no longer waiting (the agent
busy), and once it ended and was wrapped up the day's figures count it against the tier's
target. (Who may watch is checked on the mutual-TLS port by the authorization table; the
pages check the role at sign-in.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.site import PASSWORD, Client, SiteProcess, until
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s

pytestmark = pytest.mark.integration

LEADER, AGENT = "KM-0190", "KM-0131"  # a KM team leader; a general agent
NEW = "board-watcher-2026"
CALLER = "13700009876"  # not a customer: an ordinary caller


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteProcess]:
    proc = SiteProcess(tmp_path, ring_s=60, wrapup_s=60).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(site: SiteProcess) -> AsyncIterator[Client]:
    cl = Client(site.target)
    try:
        yield cl
    finally:
        await cl.close()


async def bearer_of(client: Client, who: str) -> tuple[tuple[str, str]]:
    """A usable session of ``who``: signed in and the initial password changed."""
    people = pg.PeopleStub(client.channel)
    first = await people.SignIn(p.SignInRequest(person_id=who, password=PASSWORD))
    token = first.session_token
    if first.person.must_change_password:
        changed = await people.ChangePassword(
            p.ChangePasswordRequest(old_password=PASSWORD, new_password=NEW),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        token = changed.session_token
    return (("authorization", f"Bearer {token}"),)


class Watcher:
    """Boards of one stream, collected in the background."""

    def __init__(self, client: Client, metadata: tuple[tuple[str, str]]) -> None:
        self.boards: list[s.SiteBoard] = []
        self.call = client.remote.WatchBoard(s.WatchBoardRequest(), metadata=metadata)
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for board in self.call:
            self.boards.append(board)

    async def seen(self, what: str, check: Callable[[s.SiteBoard], bool], after: int) -> int:
        """Wait for a board after the first ``after`` that passes ``check``; its index."""

        async def found() -> int | None:
            for i in range(after, len(self.boards)):
                if check(self.boards[i]):
                    return i + 1
            return None

        index: int = await until(found, what, timeout_s=30)
        return index

    async def close(self) -> None:
        self.call.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass


def general(board: s.SiteBoard) -> s.BusinessBoard:
    return next(b for b in board.businesses if b.figures.business_id == "general")


def agent_state(board: s.SiteBoard, agent_id: str) -> str:
    return next((a.state for a in board.agents if a.agent_id == agent_id), "")


async def test_a_call_offered_shows_waiting_then_answered_not(client: Client) -> None:
    watcher = Watcher(client, await bearer_of(client, LEADER))
    try:
        n = await watcher.seen("the first board", lambda b: general(b).figures.waiting == 0, 0)
        first = watcher.boards[0]
        assert first.site_id == "KM" and first.day
        assert {t.tier for t in general(first).tiers} >= {"vip", "ordinary"}
        assert all(t.target_percent > 0 and t.target_within_s > 0 for t in general(first).tiers)

        desk = await client.login(AGENT)
        call_id = (await client.offer(CALLER, "1000", "0")).call_id
        n = await watcher.seen(
            "the call waiting on the board",
            lambda b: general(b).figures.waiting == 1 and agent_state(b, AGENT) == "not_ready",
            n,
        )

        status = await desk.ready()
        assert status.call_id == call_id
        await desk.answer(call_id)
        n = await watcher.seen(
            "the call answered: nobody waiting, the agent busy",
            lambda b: general(b).figures.waiting == 0 and agent_state(b, AGENT) == "busy",
            n,
        )

        await desk.hang_up(call_id)
        await desk.wrap_up(call_id)
        await watcher.seen(
            "the day's figures counting the answered call",
            lambda b: (
                general(b).answered_today == 1
                and sum(t.sl_calls for t in general(b).tiers) == 1
                and agent_state(b, AGENT) == "ready"
            ),
            n,
        )
    finally:
        await watcher.close()
