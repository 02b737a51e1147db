"""The agent desktop's HTTP routes (Starlette).

``GET /`` is the page; its script talks to ``/api/*`` with JSON POSTs (CSRF-checked, see
:mod:`.guard`) and listens on ``GET /api/events`` (Server-Sent Events from the agent's
:class:`~vcc_site.web.feed.Feed`). Every action is one ``AgentDesk`` request to the site.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from vcc_domain.errors import ErrorKind, VccError
from vcc_proto import web
from vcc_proto.v1 import people_pb2 as p
from vcc_site.web import guard, present
from vcc_site.web.client import NOT_READY_REASONS, DeskClient
from vcc_site.web.feed import Feed, Feeds

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing a quiet stream
MAX_BODY = 16_384
CALL_ACTIONS = frozenset({"answer", "hold", "resume", "hangup"})
ERRORS = {  # error kind -> (HTTP status, code the page translates)
    ErrorKind.UNAUTHENTICATED: (401, "session_expired"),
    ErrorKind.LOCKED: (403, "locked"),
    ErrorKind.FORBIDDEN: (403, "forbidden"),
    ErrorKind.CONFLICT: (409, "conflict"),
    ErrorKind.INVALID: (400, "invalid"),
    ErrorKind.NOT_FOUND: (404, "not_found"),
    ErrorKind.UNAVAILABLE: (503, "unavailable"),
    ErrorKind.EXHAUSTED: (503, "unavailable"),
}


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What the page needs to know about the province (from its file)."""

    site_id: str
    site_name: str
    sites: list[dict[str, str]]
    businesses: list[dict[str, Any]]  # id, name, sites (accepting)
    wrapup_ms: int
    https: bool
    kpi: dict[str, int] | None = None  # the agents' targets: ring_s, acw_s, talk_s, transfer_pct


class ApiError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


Handler = Callable[[Request, Feed], Awaitable[Response]]


class DeskPages:
    def __init__(self, client: DeskClient, facts: PageFacts) -> None:
        self.client = client
        self.facts = facts
        self.feeds = Feeds(client, facts.wrapup_ms)

    # -- helpers --------------------------------------------------------------------------

    def failure(self, err: VccError, *, login: bool = False) -> JSONResponse:
        status, code = ERRORS.get(err.kind, (500, "internal"))
        if login and err.kind is ErrorKind.UNAUTHENTICATED:
            code = "wrong_login"
        elif login and err.kind is ErrorKind.CONFLICT:
            code = "already_signed_in"
        return guard.refused(code, err.message, status, err.field or "")

    async def json_body(self, request: Request) -> dict[str, Any]:
        raw = bytearray()
        async for chunk in request.stream():  # never more than MAX_BODY held
            raw += chunk
            if len(raw) > MAX_BODY:
                raise ApiError(guard.refused("invalid", "request too large", 413))
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(guard.refused("invalid", "the body is not JSON", 400)) from None
        if not isinstance(data, dict):
            raise ApiError(guard.refused("invalid", "the body is not a JSON object", 400))
        return data

    async def body(self, request: Request) -> dict[str, str]:
        """The body's text and number members as text."""
        data = await self.json_body(request)
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int)}

    def session(self, request: Request) -> Feed:
        feed = self.feeds.get(request.cookies.get(guard.SESSION_COOKIE, ""))
        if feed is None:
            raise ApiError(guard.refused("session_expired", "sign in again", 401))
        return feed

    def post(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in agent's POST: CSRF-checked, errors answered as JSON."""

        async def endpoint(request: Request) -> Response:
            refusal = guard.check_post(request)
            if refusal is not None:
                return refusal
            try:
                feed = self.session(request)
                return await handler(request, feed)
            except ApiError as err:
                return err.response
            except VccError as err:
                response = self.failure(err)
                if err.kind is ErrorKind.UNAUTHENTICATED:
                    guard.clear_session(response, self.facts.https)
                return response

        return endpoint

    # -- routes ---------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        response = FileResponse(STATIC / "desk.html", headers={"Cache-Control": "no-store"})
        guard.ensure_csrf(request, response, self.facts.https)
        return response

    async def meta(self, request: Request) -> Response:
        f = self.facts
        return JSONResponse(
            {
                "site_id": f.site_id,
                "site_name": f.site_name,
                "sites": f.sites,
                "businesses": f.businesses,
                "reasons": sorted(NOT_READY_REASONS),
                "kpi": f.kpi or {},
            }
        )

    async def me(self, request: Request) -> Response:
        """Whether this browser is signed in (a question, so never an error status)."""
        feed = self.feeds.get(request.cookies.get(guard.SESSION_COOKIE, ""))
        if feed is None:
            return JSONResponse({"signed_in": False})
        return JSONResponse({"signed_in": True, "agent_id": feed.agent_id, "name": feed.name})

    async def person_sign_in(self, request: Request) -> tuple[str, str, p.SignInReply]:
        """The person of a sign-in form (``People.SignIn``): their ID, password and
        session; raises :class:`ApiError` with the refusal to show. The desk and the
        wallboard sign people in with it."""
        data = await self.body(request)
        person_id, password = data.get("agent_id", "").strip(), data.get("password", "")
        if not person_id or not password:
            raise ApiError(guard.refused("missing", "give your agent ID and password", 400))
        try:
            return person_id, password, await self.client.sign_in(person_id, password)
        except VccError as err:
            raise ApiError(self.failure(err, login=True)) from None

    async def person_new_password(self, request: Request, cookie: str) -> tuple[str, p.SignInReply]:
        """The first sign-in's new password for the person whose session is in
        ``cookie``: the new password and session; raises :class:`ApiError`."""
        bearer = request.cookies.get(cookie, "")
        data = await self.body(request)
        new = data.get("new_password", "")
        if not bearer:
            raise ApiError(guard.refused("session_expired", "sign in again", 401))
        try:
            person = await self.client.change_password(bearer, data.get("old_password", ""), new)
        except VccError as err:
            if err.kind is ErrorKind.UNAUTHENTICATED:
                raise ApiError(guard.refused("change_refused", err.message, 401)) from None
            raise ApiError(self.failure(err)) from None
        return new, person

    async def login(self, request: Request) -> Response:
        """The person signs in (``People.SignIn``); on their initial password the page
        asks for a new one first, else the seat opens (``AgentDesk.Login``)."""
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        try:
            agent_id, password, person = await self.person_sign_in(request)
        except ApiError as err:
            return err.response
        if person.person.must_change_password:
            response = JSONResponse({"must_change": True, "agent_id": agent_id})
            guard.set_person(response, person.session_token, self.facts.https)
            return response
        return await self.open_desk(request, agent_id, password, person.session_token)

    async def change_password(self, request: Request) -> Response:
        """The first sign-in's new password, then the seat opens with it."""
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        try:
            new, person = await self.person_new_password(request, guard.PERSON_COOKIE)
        except ApiError as err:
            return err.response
        agent_id = person.person.person_id
        return await self.open_desk(request, agent_id, new, person.session_token)

    async def open_desk(
        self, request: Request, agent_id: str, password: str, person_token: str
    ) -> Response:
        agent = request.headers.get("user-agent", "")[:60]
        try:
            reply = await self.client.login(agent_id, password, f"web {agent}")
        except VccError as err:
            await self._sign_out(person_token)  # no seat: no person session left behind
            response = self.failure(err, login=True)
            guard.clear_session(response, self.facts.https)
            return response
        feed = self.feeds.open(
            reply.session_token, agent_id, reply.agent_name, present.agent_status(reply.status)
        )
        feed.person_token = person_token
        response = JSONResponse({"agent_id": agent_id, "name": reply.agent_name})
        guard.set_session(response, reply.session_token, self.facts.https)
        guard.set_person(response, person_token, self.facts.https)
        return response

    async def _sign_out(self, person_token: str) -> None:
        try:
            await self.client.sign_out(person_token)
        except VccError as err:  # already ended: nothing to undo
            log.info("person sign-out: %s", err)

    async def logout(self, request: Request, feed: Feed) -> Response:
        try:  # the person first: a team leader stays until a successor took the handover
            await self.client.sign_out(feed.person_token)
        except VccError as err:
            if err.kind is ErrorKind.CONFLICT:
                return guard.refused("handover", str(err), 409, err.field or "")
            log.info("person sign-out: %s", err)  # already ended: nothing to undo
        await self.client.logout(feed.token)
        response = JSONResponse({"ok": True})
        guard.clear_session(response, self.facts.https)
        return response

    async def ready(self, request: Request, feed: Feed) -> Response:
        await self.client.set_ready(feed.token)
        return JSONResponse({"ok": True})

    async def not_ready(self, request: Request, feed: Feed) -> Response:
        reason = (await self.body(request)).get("reason", "")
        if reason not in NOT_READY_REASONS:
            return guard.refused(
                "invalid", f"reason must be one of {sorted(NOT_READY_REASONS)}", 400
            )
        await self.client.set_not_ready(feed.token, reason)
        return JSONResponse({"ok": True})

    async def call_action(self, request: Request, feed: Feed) -> Response:
        action = request.path_params["action"]
        if action not in CALL_ACTIONS:
            return guard.refused("not_found", f"no call action {action!r}", 404)
        call_id = (await self.body(request)).get("call_id", "")
        view = await self.client.call_action(action, feed.token, call_id)
        # holding and resuming change no agent state: say it here (every page of the
        # agent); the answer is the same event with its place in the feed's order
        return JSONResponse(feed.publish(present.call_view(view)))

    async def wrap_up(self, request: Request, feed: Feed) -> Response:
        data = await self.body(request)
        await self.client.wrap_up(
            feed.token, data.get("call_id", ""), data.get("disposition", ""), data.get("notes", "")
        )
        return JSONResponse({"ok": True})

    async def transfer(self, request: Request, feed: Feed) -> Response:
        data = await self.body(request)
        agent_id = data.get("agent_id", "").strip()
        if not data.get("business_id") and not agent_id:
            return guard.refused("invalid", "choose a business or give an agent ID", 400)
        result = await self.client.transfer(
            feed.token,
            data.get("call_id", ""),
            data.get("site_id", ""),
            data.get("business_id", ""),
            data.get("note", ""),
            agent_id,
        )
        return JSONResponse(present.transfer_result(result))

    async def work_order(self, request: Request, feed: Feed) -> Response:
        data = await self.json_body(request)
        raw = data.get("fields")
        if not isinstance(raw, dict):
            return guard.refused("invalid", "fill in the form", 400, "fields")
        fields = {str(k): str(v) for k, v in raw.items() if isinstance(v, str)}
        order = await self.client.create_work_order(
            feed.token, str(data.get("call_id", "")), fields
        )
        return JSONResponse(present.work_order(order))

    async def events(self, request: Request) -> Response:
        try:
            feed = self.session(request)
        except ApiError as err:
            return err.response
        return StreamingResponse(
            self._stream(feed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, feed: Feed) -> AsyncIterator[str]:
        queue = feed.subscribe()
        try:
            async for text in web.queued_lines(queue, KEEPALIVE_S):
                yield text
        finally:
            feed.unsubscribe(queue)

    def routes(self) -> list[Route | Mount]:
        post = self.post
        return [
            Route("/", self.page),
            Route("/api/meta", self.meta),
            Route("/api/me", self.me),
            Route("/api/events", self.events),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/change-password", self.change_password, methods=["POST"]),
            Route("/api/logout", post(self.logout), methods=["POST"]),
            Route("/api/ready", post(self.ready), methods=["POST"]),
            Route("/api/not-ready", post(self.not_ready), methods=["POST"]),
            Route("/api/call/{action}", post(self.call_action), methods=["POST"]),
            Route("/api/wrap-up", post(self.wrap_up), methods=["POST"]),
            Route("/api/transfer", post(self.transfer), methods=["POST"]),
            Route("/api/work-order", post(self.work_order), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]


def create_app(pages: DeskPages, more: list[Route] | None = None) -> ASGIApp:
    """The desk's routes and ``more`` (the wallboard's)."""
    return web.with_security_headers(Starlette(routes=[*(more or []), *pages.routes()]))
