"""One signed-in agent's live feed: the site's ``AgentDesk.Events`` stream, read once and
handed to every open page of that agent.

The site keeps one event queue per session, so the pages never open a second stream:
each :class:`Feed` reads it once, remembers what the desktop shows now (the agent's
state, the call ringing or held, with its screen pop) and replays that to a page that
(re)connects, then passes on every new event. When the stream ends (sign-out, the site
ended the session) the pages are told ``closed`` and the feed is forgotten.

Every event the feed passes on carries ``seq``, its place in the feed's one order (the
answer to a page's POST is the same event, with the same ``seq``). A page receives the
answer to its POST and the pushed copy over two connections, in either order, and on a
reconnect the replay again: it applies an event only when its ``seq`` is newer than the
last one applied, so an answer that arrives late never puts back a state the call has
left (held after it was retrieved).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable

from vcc_domain.errors import Unauthenticated, VccError
from vcc_site.web import present
from vcc_site.web.client import DeskClient
from vcc_site.web.present import Json

log = logging.getLogger(__name__)

PAGE_QUEUE = 256  # events a slow page may lag behind before the oldest are dropped
IDLE_STATES = frozenset({"ready", "not_ready", "logged_out"})


class Feed:
    def __init__(
        self,
        client: DeskClient,
        token: str,
        agent_id: str,
        name: str,
        wrapup_ms: int,
        on_end: Callable[[Feed], None],
    ) -> None:
        self.client, self.token = client, token
        self.agent_id, self.name = agent_id, name
        self.wrapup_ms = wrapup_ms  # wall time of the automatic wrap-up
        self._on_end = on_end
        self.agent: Json | None = None
        self.offer: Json | None = None
        self.call: Json | None = None
        self._wrap_since: float | None = None
        self._pages: set[asyncio.Queue[Json]] = set()
        self._task: asyncio.Task[None] | None = None
        self.ended = False
        self.person_token = ""  # the person's session (People), ended at sign-out
        self._seq = itertools.count(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"desk-feed-{self.agent_id}")

    async def _run(self) -> None:
        try:
            async for msg in self.client.events(self.token):
                event = present.event(msg)
                if event is not None:
                    self.publish(event)
        except Unauthenticated:
            pass  # the session ended before the stream opened
        except VccError as err:
            log.warning("desk events of %s ended: %s", self.agent_id, err)
        finally:
            self.ended = True
            self._send({"type": "closed"})
            self._on_end(self)

    def publish(self, event: Json) -> Json:
        """Remember ``event`` for pages that connect later and pass it on; returns it with
        its ``seq`` (what a POST that caused it answers)."""
        stamped = {**event, "seq": next(self._seq)}
        self._remember(stamped)
        self._send(self._timed(stamped))
        return stamped

    def _remember(self, event: Json) -> None:
        kind = event["type"]
        if kind == "agent":
            self.agent = event
            if event["state"] != "wrap_up":
                self._wrap_since = None
            elif self._wrap_since is None:
                self._wrap_since = time.monotonic()
            if event["state"] in IDLE_STATES:
                self.offer = self.call = None
        elif kind == "offer":
            self.offer, self.call = event, None
        elif (
            kind == "call" and self.offer is not None and event["call_id"] == self.offer["call_id"]
        ):
            self.call = event

    def _timed(self, event: Json) -> Json:
        """An agent event in wrap-up carries the wall time left of the automatic wrap-up."""
        if event["type"] != "agent" or event["state"] != "wrap_up" or self._wrap_since is None:
            return event
        spent = round((time.monotonic() - self._wrap_since) * 1000)
        return {**event, "wrapup_left_ms": max(0, self.wrapup_ms - spent)}

    def replay(self) -> list[Json]:
        """What a page that connects now must be shown, in the order it happened (a page
        drops an event older than one it applied)."""
        hello: Json = {"type": "hello", "agent_id": self.agent_id, "name": self.name}
        kept = [e for e in (self.offer, self.call) if e is not None]
        if self.agent is not None:
            kept.append(self._timed(self.agent))
        return [hello, *sorted(kept, key=lambda e: int(e["seq"]))]

    def subscribe(self) -> asyncio.Queue[Json]:
        queue: asyncio.Queue[Json] = asyncio.Queue(PAGE_QUEUE)
        for event in self.replay():
            queue.put_nowait(event)
        if self.ended:
            queue.put_nowait({"type": "closed"})
        else:
            self._pages.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Json]) -> None:
        self._pages.discard(queue)

    def _send(self, event: Json) -> None:
        for queue in self._pages:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Feeds:
    """The feeds of every agent signed in through these pages, by session token."""

    def __init__(self, client: DeskClient, wrapup_ms: int) -> None:
        self.client = client
        self.wrapup_ms = wrapup_ms
        self._feeds: dict[str, Feed] = {}

    def get(self, token: str) -> Feed | None:
        return self._feeds.get(token) if token else None

    def open(self, token: str, agent_id: str, name: str, status: Json) -> Feed:
        feed = Feed(self.client, token, agent_id, name, self.wrapup_ms, self._forget)
        feed.publish(status)
        self._feeds[token] = feed
        feed.start()
        return feed

    def _forget(self, feed: Feed) -> None:
        if self._feeds.get(feed.token) is feed:
            del self._feeds[feed.token]

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
