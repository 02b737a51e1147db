"""The quality inspector's page (``GET /quality``) and the published week's schedule
(``GET /schedule``), both clients of the site's ``Quality`` service as the signed-in
person.

* ``/quality``: a quality inspector only. Draws the month's sample, lists the reviews,
  scores a call on its business's form (``/api/meta``'s ``qa_form``, from the province
  file; checked here item by item, then by the site), does the second review of a
  disputed one, lists recordings and plays one: ``GET /api/quality/recordings/{id}/audio``
  relays ``Quality.PlayRecording`` as ``audio/wav`` to this inspector (the site audits
  every play).
* ``/schedule``: the week published to the team leaders (``Quality.GetSchedule``); an
  agent sees only their own shifts (the site enforces it too) and their own QA reviews of
  the month (``/api/my-quality``), which they may dispute.

The person signs in on the page (``vcc_staff`` cookie) or is already signed in on the
wallboard (``vcc_lead``) or the desk (``vcc_person``); the role is asked of the site on
every request, never taken from the page.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from vcc_domain.errors import ErrorKind, VccError
from vcc_proto import web
from vcc_proto.v1 import people_pb2 as p
from vcc_site.web import guard
from vcc_site.web import qa_present as qp
from vcc_site.web.app import STATIC, ApiError, DeskPages
from vcc_site.web.board import LEAD_COOKIE
from vcc_site.web.qa_client import QualityClient

log = logging.getLogger(__name__)

STAFF_COOKIE = "vcc_staff"
COOKIES = (STAFF_COOKIE, LEAD_COOKIE, guard.PERSON_COOKIE)  # the first one present is used
INSPECTORS = frozenset({"quality_inspector"})
SCHEDULE_ROLES = frozenset({"agent", "team_leader", "site_admin", "operations"})
PAGE_ROLES = {"quality": INSPECTORS, "schedule": SCHEDULE_ROLES}
MAX_COMMENT = 500
MAX_REASON = 500

Handler = Callable[[Request, str, p.PersonView], Awaitable[Response]]


def now_ms() -> int:
    return int(time.time() * 1000)


def bearer_of(request: Request) -> str:
    return next((t for c in COOKIES if (t := request.cookies.get(c, ""))), "")


def check_points(raw: Any, form: list[dict[str, Any]]) -> dict[str, int]:
    """Every item of the form given whole points 0..its maximum; else the refusal naming
    the item (``points.<item>``)."""
    if not isinstance(raw, dict):
        raise ApiError(guard.refused("invalid", "score every item of the form", 400, "points"))
    points: dict[str, int] = {}
    for item in form:
        value = raw.get(item["id"])
        field = f"points.{item['id']}"
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(guard.refused("invalid", f"score {item['name']}", 400, field))
        if not 0 <= value <= item["max"]:
            detail = f"{item['name']} takes 0..{item['max']} points"
            raise ApiError(guard.refused("invalid", detail, 400, field))
        points[item["id"]] = value
    return points


class QaPages:
    def __init__(self, desk: DeskPages, qa: QualityClient) -> None:
        self.desk = desk
        self.qa = qa
        self.https = desk.facts.https
        self.forms = {b["id"]: b.get("qa_form") or [] for b in desk.facts.businesses}

    def as_role(
        self, roles: frozenset[str], handler: Handler, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in person of ``roles`` (asked of the site each time); errors as JSON."""

        async def endpoint(request: Request) -> Response:
            if post and (refusal := guard.check_post(request)) is not None:
                return refusal
            bearer = bearer_of(request)
            try:
                if not bearer:
                    return guard.refused("session_expired", "sign in again", 401)
                view = await self.desk.client.who_am_i(bearer)
                if view.role not in roles:
                    wanted = " or ".join(sorted(roles))
                    return guard.refused(
                        "wrong_role", f"a {view.role} may not use this page ({wanted} only)", 403
                    )
                return await handler(request, bearer, view)
            except ApiError as err:
                return err.response
            except VccError as err:
                response = self.desk.failure(err)
                if err.kind is ErrorKind.UNAUTHENTICATED:
                    web.clear_cookie(response, STAFF_COOKIE, self.https)
                return response

        return endpoint

    # -- pages and sign-in ----------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        response = FileResponse(STATIC / "qa.html", headers={"Cache-Control": "no-store"})
        guard.ensure_csrf(request, response, self.https)
        return response

    async def login(self, request: Request) -> Response:
        """Signs in for ``?page=quality`` or ``schedule``; another role is refused and its
        new session ended."""
        if (refusal := guard.check_post(request)) is not None:
            return refusal
        roles = PAGE_ROLES.get(request.query_params.get("page", ""), INSPECTORS)
        try:
            _, _, person = await self.desk.person_sign_in(request)
        except ApiError as err:
            return err.response
        role = person.person.role
        if role not in roles:
            with contextlib.suppress(VccError):
                await self.desk.client.sign_out(person.session_token)
            wanted = " or ".join(sorted(roles))
            return guard.refused("wrong_role", f"a {role} may not open this page ({wanted})", 403)
        return web.signed_in(person, STAFF_COOKIE, self.https)

    async def change_password(self, request: Request) -> Response:
        if (refusal := guard.check_post(request)) is not None:
            return refusal
        try:
            _, person = await self.desk.person_new_password(request, STAFF_COOKIE)
        except ApiError as err:
            return err.response
        return web.signed_in(person, STAFF_COOKIE, self.https)

    async def me(self, request: Request) -> Response:
        """Who is signed in for these pages (never an error status)."""
        bearer = bearer_of(request)
        if not bearer:
            return JSONResponse({"signed_in": False})
        try:
            view = await self.desk.client.who_am_i(bearer)
        except VccError:
            return JSONResponse({"signed_in": False})
        own = bool(request.cookies.get(STAFF_COOKIE))
        return JSONResponse(
            {
                "signed_in": not view.must_change_password,
                "person_id": view.person_id,
                "name": view.name,
                "role": view.role,
                "own_session": own,  # signed in here (else on the desk or the wallboard)
            }
        )

    async def logout(self, request: Request) -> Response:
        if (refusal := guard.check_post(request)) is not None:
            return refusal
        bearer = request.cookies.get(STAFF_COOKIE, "")
        if bearer:
            with contextlib.suppress(VccError):  # already ended: nothing to undo
                await self.desk.client.sign_out(bearer)
        response = JSONResponse({"ok": True})
        web.clear_cookie(response, STAFF_COOKIE, self.https)
        return response

    # -- the inspector ----------------------------------------------------------------------

    async def reviews(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        period = qp.period_of(request.query_params.get("period", ""), now_ms())
        state = request.query_params.get("state", "")
        found = await self.qa.reviews(bearer, period, "", state)
        return JSONResponse(
            {"period": period, "me": me.person_id, "reviews": [qp.review(r) for r in found]}
        )

    async def sample(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        data = await self.desk.body(request)
        period = qp.period_of(data.get("period", ""), now_ms())
        drawn = await self.qa.draw_sample(bearer, period)
        return JSONResponse({"period": period, "reviews": [qp.review(r) for r in drawn]})

    async def score(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        data = await self.desk.json_body(request)
        review_id = str(data.get("review_id", "")).strip()
        if not review_id:
            return guard.refused("invalid", "choose the call to score", 400, "review_id")
        form = self.forms.get(str(data.get("business_id", "")), [])
        if not form:
            return guard.refused("invalid", "its business has no quality form", 400, "review_id")
        points = check_points(data.get("points"), form)
        comment = str(data.get("comment", ""))
        if len(comment) > MAX_COMMENT:
            return guard.refused("invalid", f"comment longer than {MAX_COMMENT}", 400, "comment")
        second = data.get("second") is True
        done = await self.qa.score(bearer, review_id, points, comment, second)
        return JSONResponse(qp.review(done))

    async def recordings(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        q = request.query_params
        day = q.get("day", "").strip()
        if day:
            qp.week_of(day, 0)  # a day YYYY-MM-DD, else refused naming the field
        found = await self.qa.recordings(
            bearer, q.get("agent_id", "").strip(), q.get("business_id", ""), day
        )
        return JSONResponse({"recordings": [qp.recording(r) for r in found]})

    async def audio(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        """The recording as ``audio/wav``; the first chunk is awaited before answering so a
        refusal (swept, unknown, not allowed) is a JSON error, not a broken player."""
        chunks = self.qa.play(bearer, request.path_params["recording_id"])
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        return StreamingResponse(
            self._rest(first, chunks),
            media_type="audio/wav",
            headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
        )

    async def _rest(self, first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        yield first
        try:
            async for data in chunks:
                yield data
        except VccError as err:  # the answer has started: all that is left is to stop
            log.warning("recording play ended early: %s", err)

    # -- the schedule and the agent's own scores ----------------------------------------------

    async def schedule(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        week = qp.week_of(request.query_params.get("week", ""), now_ms())
        mine = me.person_id if me.role == "agent" else ""
        try:
            sched = await self.qa.schedule(bearer, week, mine)
        except VccError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                raise
            return JSONResponse({**qp.week_dates(week), "published": False, "days": []})
        return JSONResponse({**qp.schedule(sched), "published": True, "agent": mine})

    async def my_quality(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        """The agent's own reviews of the month (never another agent's) and their average."""
        period = qp.period_of(request.query_params.get("period", ""), now_ms())
        found = await self.qa.reviews(bearer, period, me.person_id)
        scored = [r.final_score_bp for r in found if r.final_score_bp >= 0]
        average = sum(scored) // len(scored) if scored else -1
        return JSONResponse(
            {
                "period": period,
                "agent_id": me.person_id,
                "average_bp": average,
                "reviews": [qp.review(r) for r in found if r.agent_id == me.person_id],
            }
        )

    async def dispute(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        data = await self.desk.body(request)
        review_id, reason = data.get("review_id", "").strip(), data.get("reason", "").strip()
        if not review_id:
            return guard.refused("invalid", "choose the review", 400, "review_id")
        if not reason or len(reason) > MAX_REASON:
            return guard.refused("invalid", f"give a reason (≤ {MAX_REASON})", 400, "reason")
        done = await self.qa.dispute(bearer, review_id, me.person_id, reason)
        return JSONResponse(qp.review(done))

    def routes(self) -> list[Route]:
        ins, agent = INSPECTORS, frozenset({"agent"})
        role = self.as_role
        return [
            Route("/quality", self.page),
            Route("/schedule", self.page),
            Route("/api/staff/me", self.me),
            Route("/api/staff/login", self.login, methods=["POST"]),
            Route("/api/staff/change-password", self.change_password, methods=["POST"]),
            Route("/api/staff/logout", self.logout, methods=["POST"]),
            Route("/api/quality/reviews", role(ins, self.reviews)),
            Route("/api/quality/sample", role(ins, self.sample, True), methods=["POST"]),
            Route("/api/quality/score", role(ins, self.score, True), methods=["POST"]),
            Route("/api/quality/recordings", role(ins, self.recordings)),
            Route("/api/quality/recordings/{recording_id}/audio", role(ins, self.audio)),
            Route("/api/schedule", role(SCHEDULE_ROLES, self.schedule)),
            Route("/api/my-quality", role(agent, self.my_quality)),
            Route("/api/my-quality/dispute", role(agent, self.dispute, True), methods=["POST"]),
        ]
