"""The team leader's live wallboard page (``GET /board``).

A team leader (or a site administrator) signs in with the desk's own sign-in
(:meth:`DeskPages.person_sign_in`, ``People.SignIn``); an agent or any other role is
refused with a clear message and their new session ended. The person's session is kept in
its own cookie (``vcc_lead``) so a desk open in the same browser is not disturbed. The page
listens on ``GET /api/board/events``: Server-Sent Events, one per board the site pushes
on ``Remote.WatchBoard`` (called as the person, so the site's authorization applies too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from vcc_domain.errors import Conflict, ErrorKind, Unauthenticated, VccError
from vcc_proto import web
from vcc_site.web import guard, present
from vcc_site.web.app import KEEPALIVE_S, STATIC, ApiError, DeskPages
from vcc_site.web.present import Json

log = logging.getLogger(__name__)

LEAD_COOKIE = "vcc_lead"
BOARD_ROLES = frozenset({"team_leader", "site_admin"})
PAGE_QUEUE = 16  # boards a slow page may lag behind (only the newest matters)
# what the console does to an agent: unlock (People.Unlock), the rest Remote.Supervise
AGENT_ACTIONS = frozenset(
    {"unlock", "force_not_ready", "force_sign_out", "listen", "whisper", "barge_in"}
)


class BoardPages:
    def __init__(self, desk: DeskPages) -> None:
        self.desk = desk
        self.client = desk.client
        self.https = desk.facts.https

    async def page(self, request: Request) -> Response:
        response = FileResponse(STATIC / "board.html", headers={"Cache-Control": "no-store"})
        guard.ensure_csrf(request, response, self.https)
        return response

    async def login(self, request: Request) -> Response:
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        try:
            _, _, person = await self.desk.person_sign_in(request)
        except ApiError as err:
            return err.response
        role = person.person.role
        if role not in BOARD_ROLES:
            with contextlib.suppress(VccError):  # their session is of no use here
                await self.client.sign_out(person.session_token)
            return guard.refused(
                "wrong_role", f"a {role} may not open the wallboard (team leaders only)", 403
            )
        return web.signed_in(person, LEAD_COOKIE, self.https)

    async def change_password(self, request: Request) -> Response:
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        try:
            _, person = await self.desk.person_new_password(request, LEAD_COOKIE)
        except ApiError as err:
            return err.response
        return web.signed_in(person, LEAD_COOKIE, self.https)

    async def me(self, request: Request) -> Response:
        """Whether this browser's wallboard session is alive (never an error status)."""
        bearer = request.cookies.get(LEAD_COOKIE, "")
        if not bearer:
            return JSONResponse({"signed_in": False})
        try:
            view = await self.client.who_am_i(bearer)
        except VccError:
            return JSONResponse({"signed_in": False})
        ok = view.role in BOARD_ROLES and not view.must_change_password
        return JSONResponse({"signed_in": ok, "name": view.name, "person_id": view.person_id})

    async def logout(self, request: Request) -> Response:
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        bearer = request.cookies.get(LEAD_COOKIE, "")
        if bearer:
            try:
                await self.client.sign_out(bearer)
            except Conflict as err:  # a leader stays until a successor took the handover
                return guard.refused("handover", str(err), 409, err.field or "")
            except VccError:  # already ended: nothing to undo
                pass
        response = JSONResponse({"ok": True})
        web.clear_cookie(response, LEAD_COOKIE, self.https)
        return response

    async def agent_action(self, request: Request) -> Response:
        """The console's action on an agent, as the signed-in team leader (whose role is
        checked here as well as by the site)."""
        refusal = guard.check_post(request)
        if refusal is not None:
            return refusal
        action = request.path_params["action"]
        if action not in AGENT_ACTIONS:
            return guard.refused("not_found", f"no agent action {action!r}", 404)
        bearer = request.cookies.get(LEAD_COOKIE, "")
        try:
            data = await self.desk.body(request)
            agent_id = data.get("agent_id", "").strip()
            if not agent_id:
                return guard.refused("invalid", "give the agent ID", 400, "agent_id")
            if not bearer:
                return guard.refused("session_expired", "sign in again", 401)
            view = await self.client.who_am_i(bearer)
            if view.role not in BOARD_ROLES:
                return guard.refused("wrong_role", f"a {view.role} may not act on agents", 403)
            if action == "unlock":
                person = await self.client.unlock(bearer, agent_id)
                return JSONResponse({"agent_id": person.person_id, "action": action})
            reply = await self.client.supervise(
                bearer, agent_id, action, data.get("reason", ""), view.person_id
            )
        except ApiError as err:
            return err.response
        except VccError as err:
            response = self.desk.failure(err)
            if err.kind is ErrorKind.UNAUTHENTICATED:
                web.clear_cookie(response, LEAD_COOKIE, self.https)
            return response
        return JSONResponse(
            {
                "agent_id": reply.agent_id,
                "action": action,
                "state": reply.state,
                "call_id": reply.call_id,
                "audit_id": reply.audit_id,
            }
        )

    async def events(self, request: Request) -> Response:
        bearer = request.cookies.get(LEAD_COOKIE, "")
        if not bearer:
            return guard.refused("session_expired", "sign in again", 401)
        return StreamingResponse(
            self._stream(bearer),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, bearer: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[Json] = asyncio.Queue(PAGE_QUEUE)
        reader = asyncio.create_task(self._read(bearer, queue), name="board-feed")
        try:
            async for text in web.queued_lines(queue, KEEPALIVE_S):
                yield text
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, bearer: str, queue: asyncio.Queue[Json]) -> None:
        closed: Json = {"type": "closed", "code": "unavailable"}
        try:
            async for board in self.client.watch_board(bearer):
                if queue.full():  # a page that lags: the newest board is all it needs
                    queue.get_nowait()
                queue.put_nowait(present.board(board))
        except Unauthenticated:
            closed = {"type": "closed", "code": "session_expired"}
        except VccError as err:
            log.warning("wallboard stream ended: %s", err)
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(closed)

    def routes(self) -> list[Route]:
        return [
            Route("/board", self.page),
            Route("/api/board/me", self.me),
            Route("/api/board/events", self.events),
            Route("/api/board/login", self.login, methods=["POST"]),
            Route("/api/board/change-password", self.change_password, methods=["POST"]),
            Route("/api/board/logout", self.logout, methods=["POST"]),
            Route("/api/board/agent/{action}", self.agent_action, methods=["POST"]),
        ]
