"""The province console's HTTP routes (Starlette).

``GET /`` is the page; its script signs the person in (``People.SignIn`` at the hub:
province managers and operations only; the first sign-in changes the password), listens
on ``GET /api/board/events`` (Server-Sent Events of the hub's ``Routing.WatchBoard``
stream) and reads the reports, settlement, directory and work orders through ``/api/*``.
Every request is one call to the hub as the person (their session cookie ``vcc_province``
is the bearer), so the hub's authorization table decides; a POST is CSRF-checked
(:mod:`vcc_proto.web`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from vcc_domain.errors import ErrorKind, Unauthenticated, VccError
from vcc_hub.web import present
from vcc_hub.web.client import VIEWS, HubClient
from vcc_hub.web.present import Json
from vcc_hub.web.views import ConsoleFacts, ConsoleViews, Refusal
from vcc_proto import web

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
COOKIE = "vcc_province"
CONSOLE_ROLES = frozenset({"province_manager", "operations"})
# error kind -> (HTTP status, code the page translates)
ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.UNAUTHENTICATED: (401, "session_expired"),
    ErrorKind.FORBIDDEN: (403, "forbidden"),
    ErrorKind.LOCKED: (403, "locked"),
    ErrorKind.CONFLICT: (409, "conflict"),
    ErrorKind.INVALID: (400, "invalid"),
    ErrorKind.NOT_FOUND: (404, "not_found"),
    ErrorKind.NOT_LEADER: (503, "unavailable"),
    ErrorKind.UNAVAILABLE: (503, "unavailable"),
    ErrorKind.EXHAUSTED: (503, "unavailable"),
}


def failure(err: VccError) -> JSONResponse:
    status, code = ERRORS.get(err.kind, (500, "internal"))
    return web.refused(code, err.message, status, err.field or "")


Handler = Callable[[Request, str], Awaitable[Response]]


class ConsolePages:
    def __init__(self, client: HubClient, facts: ConsoleFacts) -> None:
        self.client = client
        self.facts = facts

    # -- plumbing --------------------------------------------------------------------------

    def as_person(
        self, handler: Handler, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in person's request: errors answered as JSON, an ended session's
        cookie cleared."""

        async def endpoint(request: Request) -> Response:
            if post and (refusal := web.check_post(request)) is not None:
                return refusal
            bearer = request.cookies.get(COOKIE, "")
            if not bearer:
                return web.refused("session_expired", "sign in again", 401)
            try:
                return await handler(request, bearer)
            except (Refusal, web.BodyError) as err:
                return err.response
            except VccError as err:
                response = failure(err)
                if err.kind is ErrorKind.UNAUTHENTICATED:
                    web.clear_cookie(response, COOKIE, self.facts.https)
                return response

        return endpoint

    # -- the page and the person -----------------------------------------------------------

    async def page(self, request: Request) -> Response:
        response = FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-store"})
        web.ensure_csrf(request, response, self.facts.https)
        return response

    async def meta(self, request: Request) -> Response:
        sites = [{"id": k, "name": v} for k, v in self.facts.sites.items()]
        return JSONResponse({"sites": sites, "views": list(VIEWS), "kinds": list(present.KINDS)})

    async def login(self, request: Request) -> Response:
        if (refusal := web.check_post(request)) is not None:
            return refusal
        try:
            data = await web.json_body(request)
        except web.BodyError as err:
            return err.response
        person_id = str(data.get("person_id", "")).strip()
        password = str(data.get("password", ""))
        if not person_id or not password:
            return web.refused("missing", "give your ID and password", 400)
        try:
            reply = await self.client.sign_in(person_id, password)
        except VccError as err:
            if err.kind is ErrorKind.UNAUTHENTICATED:
                return web.refused("wrong_login", err.message, 401)
            return failure(err)
        role = reply.person.role
        if role not in CONSOLE_ROLES:
            with contextlib.suppress(VccError):  # their session is of no use here
                await self.client.sign_out(reply.session_token)
            return web.refused("wrong_role", f"a {role} may not open the province console", 403)
        return web.signed_in(reply, COOKIE, self.facts.https)

    async def change_password(self, request: Request, bearer: str) -> Response:
        data = await web.json_body(request)
        try:
            reply = await self.client.change_password(
                bearer, str(data.get("old_password", "")), str(data.get("new_password", ""))
            )
        except Unauthenticated as err:
            return web.refused("change_refused", err.message, 401)
        return web.signed_in(reply, COOKIE, self.facts.https)

    async def me(self, request: Request) -> Response:
        """Whether this browser's console session is alive (never an error status)."""
        bearer = request.cookies.get(COOKIE, "")
        if not bearer:
            return JSONResponse({"signed_in": False})
        try:
            view = await self.client.who_am_i(bearer)
        except VccError:
            return JSONResponse({"signed_in": False, "expired": True})
        ok = view.role in CONSOLE_ROLES and not view.must_change_password
        return JSONResponse(
            {"signed_in": ok, "name": view.name, "person_id": view.person_id, "role": view.role}
        )

    async def logout(self, request: Request, bearer: str) -> Response:
        with contextlib.suppress(VccError):  # already ended: nothing to undo
            await self.client.sign_out(bearer)
        response = JSONResponse({"ok": True})
        web.clear_cookie(response, COOKIE, self.facts.https)
        return response

    # -- the board -------------------------------------------------------------------------

    async def board_events(self, request: Request, bearer: str) -> Response:
        return web.sse(self._boards(bearer))

    async def _boards(self, bearer: str) -> AsyncIterator[Json]:
        try:
            async for board in self.client.watch_board(bearer):
                yield present.board(board, self.facts.sites)
        except Unauthenticated:
            yield {"type": "closed", "code": "session_expired"}
        except VccError as err:
            log.warning("province board stream ended: %s", err)
            yield {"type": "closed", "code": ERRORS.get(err.kind, (0, "unavailable"))[1]}

    def routes(self) -> list[Route | Mount]:
        views = ConsoleViews(self.client, self.facts)

        person = self.as_person
        return [
            Route("/", self.page),
            Route("/api/meta", self.meta),
            Route("/api/me", self.me),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/change-password", person(self.change_password, True), methods=["POST"]),
            Route("/api/logout", person(self.logout, True), methods=["POST"]),
            Route("/api/board/events", person(self.board_events)),
            *views.routes(person),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]


def create_app(pages: ConsolePages) -> ASGIApp:
    return web.with_security_headers(Starlette(routes=pages.routes()))
