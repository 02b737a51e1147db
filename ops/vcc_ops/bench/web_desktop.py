"""The web bench's agent desktop pages: each signs in over HTTP, reads its pushes and
serves the calls offered to it with the page's own POSTs (see :mod:`.web`).

A page's first sign-in changes the initial password (as a person does at the desk); the
bench signs its pages out between measured phases and in again with the changed one.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import suppress

from vcc_domain.province import Agent
from vcc_ops.bench import site as sb
from vcc_ops.bench.web_client import HttpError, Page

NEW_PASSWORD = "vcc-web-bench-2026!"
SIGN_IN_GATE = 4  # pages signing in at once (each costs the site argon2 hashes)
SIGN_IN_TRIES = 4  # a sign-in the loaded site answered "unavailable" (deadline) is retried
LISTEN_TIMEOUT_S = 30.0


class Desktop:
    """One agent desktop page: signs in, listens, serves the calls offered to it.
    ``push``: where every event's site-to-page delay (ms) is appended."""

    def __init__(
        self, url: str, agent: Agent, push: list[float], talk_ms: float, password: str
    ) -> None:
        self.page, self.agent = Page(url), agent
        self.push, self.talk_ms = push, talk_ms
        self.password = password  # the initial one until the first sign-in changed it
        self.rng = random.Random(agent.id)
        self.tally = sb._Tally()
        self.tasks: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None
        self.served = 0
        self.listening = asyncio.Event()

    async def sign_in(self) -> None:
        for attempt in range(SIGN_IN_TRIES):
            try:
                await self._sign_in()
                return
            except HttpError as err:
                if err.status != 503 or attempt == SIGN_IN_TRIES - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    async def _sign_in(self) -> None:
        reply = await self.page.post(
            "/api/login", {"agent_id": self.agent.id, "password": self.password}
        )
        if reply.get("must_change"):
            await self.page.post(
                "/api/change-password",
                {"old_password": self.password, "new_password": NEW_PASSWORD},
            )
            self.password = NEW_PASSWORD

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read(), name=f"page-{self.agent.id}")

    async def _read(self) -> None:
        try:
            async for event in self.page.events():
                self.listening.set()
                if "at_ms" in event:
                    self.push.append(time.time() * 1000 - event["at_ms"])
                if event["type"] == "offer":
                    self._offered(event["call_id"])
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            self.tally.error(exc)
        finally:
            self.listening.set()

    def _offered(self, call_id: str) -> None:
        if call_id in self.tally.offered:
            self.tally.duplicate_offers += 1
        self.tally.offered[call_id] = time.perf_counter()
        self.tally.offered_to[call_id] = self.agent.id
        self.tally.by_page.add(call_id)
        task = asyncio.create_task(self._serve(call_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, call_id: str) -> None:
        try:
            await self.page.post("/api/call/answer", {"call_id": call_id})
            self.tally.answered.add(call_id)
            self.tally.check_done()
            self.served += 1
            talk = self.rng.uniform(0, self.talk_ms) / 1000
            if talk > 0:
                await asyncio.sleep(talk)
            await self.page.post("/api/call/hangup", {"call_id": call_id})
            await self.page.post("/api/wrap-up", {"call_id": call_id, "disposition": "resolved"})
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            self.tally.error(exc)

    async def ready(self) -> None:
        await self.page.post("/api/ready")

    async def close(self) -> None:
        """Finish the calls in hand, sign out (the person and the seat) and disconnect."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        with suppress(OSError, asyncio.IncompleteReadError, HttpError):
            await self.page.post("/api/logout")
        if self.reader is not None:
            self.reader.cancel()
            with suppress(asyncio.CancelledError):
                await self.reader
        await self.page.close()
        self.page = Page(f"http://{self.page.host}:{self.page.port}/")  # a fresh tab
        self.reader, self.listening = None, asyncio.Event()


async def open_desktops(pages: list[Desktop]) -> None:
    """Sign ``pages`` in (a few at a time), open their event streams and make them ready."""
    gate = asyncio.Semaphore(SIGN_IN_GATE)

    async def one(page: Desktop) -> None:
        async with gate:
            await page.sign_in()
        page.start()
        await asyncio.wait_for(page.listening.wait(), LISTEN_TIMEOUT_S)
        await page.ready()

    await asyncio.gather(*(one(p) for p in pages))


async def close_desktops(pages: list[Desktop]) -> None:
    await asyncio.gather(*(p.close() for p in pages), return_exceptions=True)
