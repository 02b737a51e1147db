"""Shift handover on the team leader's console (``/board``, its handover panel).

The outgoing team leader sees the site's unfinished work (open orders, callbacks due),
writes the handover with notes (``WorkOrders.CreateHandover``: the site records what
was unfinished then); the successor signs in on their own console and acknowledges it
(``WorkOrders.AcknowledgeHandover``); only then may the outgoing leader sign out (the
site refuses the sign-out before, and the page says why). Both people are the signed-in
ones (their sessions in ``vcc_lead``, whose ID the site is told; never an ID from the
page), and only team leaders take part.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vcc_domain.errors import ErrorKind, VccError
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import site_pb2 as s
from vcc_site.web import guard
from vcc_site.web.app import ApiError, DeskPages
from vcc_site.web.board import LEAD_COOKIE
from vcc_site.web.present import Json

HANDOVER_ROLES = frozenset({"team_leader"})
SHOWN = 20  # the newest handovers listed
MAX_NOTES = 4000

Handler = Callable[[Request, str, p.PersonView], Awaitable[Response]]


def handover(h: s.HandoverView, me: str) -> Json:
    return {
        "handover_id": h.handover_id,
        "outgoing_leader": h.outgoing_leader,
        "incoming_leader": h.incoming_leader,
        "created_at_ms": h.created_at_ms,
        "acknowledged_at_ms": h.acknowledged_at_ms,
        "unfinished_orders": list(h.unfinished_orders),
        "due_callbacks": list(h.due_callbacks),
        "open_incidents": list(h.open_incidents),
        "notes": h.notes,
        "mine": h.outgoing_leader == me,
    }


def open_order(o: s.WorkOrder, now_ms: int) -> Json:
    callback_due = (
        o.state == "replied"
        and o.callback_required
        and not o.callback_done_at_ms
        and o.callback_from_ms <= now_ms
    )
    return {
        "order_id": o.order_id,
        "business_id": o.business_id,
        "order_type": o.order_type,
        "department": o.department,
        "state": o.state,
        "answer_due_ms": o.answer_due_ms,
        "callback_due": callback_due,
        "callback_due_ms": o.callback_due_ms if callback_due else 0,
    }


class HandoverPages:
    def __init__(self, desk: DeskPages) -> None:
        self.desk = desk
        self.client = desk.client

    def as_leader(
        self, handler: Handler, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in team leader's request (the role asked of the site each time)."""

        async def endpoint(request: Request) -> Response:
            if post and (refusal := guard.check_post(request)) is not None:
                return refusal
            bearer = request.cookies.get(LEAD_COOKIE, "")
            try:
                if not bearer:
                    return guard.refused("session_expired", "sign in again", 401)
                view = await self.client.who_am_i(bearer)
                if view.role not in HANDOVER_ROLES:
                    return guard.refused(
                        "wrong_role", f"a {view.role} takes no part in shift handovers", 403
                    )
                return await handler(request, bearer, view)
            except ApiError as err:
                return err.response
            except VccError as err:
                response = self.desk.failure(err)
                if err.kind is ErrorKind.UNAUTHENTICATED:
                    response.delete_cookie(LEAD_COOKIE, path="/")
                return response

        return endpoint

    async def listing(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        """The site's open work (what a handover written now would list) and the newest
        handovers, the leader's own marked."""
        found = await self.client.handovers(bearer, SHOWN)
        orders = await self.client.work_orders(bearer, "")
        now_ms = int(time.time() * 1000)
        return JSONResponse(
            {
                "me": me.person_id,
                "open_orders": [open_order(o, now_ms) for o in orders if o.owner_site == o.site_id],
                "handovers": [handover(h, me.person_id) for h in found],
            }
        )

    async def create(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        notes = (await self.desk.body(request)).get("notes", "")
        if len(notes) > MAX_NOTES:
            return guard.refused("invalid", f"notes longer than {MAX_NOTES}", 400, "notes")
        made = await self.client.create_handover(bearer, me.person_id, notes)
        return JSONResponse(handover(made, me.person_id))

    async def acknowledge(self, request: Request, bearer: str, me: p.PersonView) -> Response:
        handover_id = (await self.desk.body(request)).get("handover_id", "").strip()
        if not handover_id:
            return guard.refused("invalid", "choose the handover", 400, "handover_id")
        done = await self.client.acknowledge_handover(bearer, handover_id, me.person_id)
        return JSONResponse(handover(done, me.person_id))

    def routes(self) -> list[Route]:
        leader = self.as_leader
        return [
            Route("/api/board/handovers", leader(self.listing)),
            Route("/api/board/handover", leader(self.create, True), methods=["POST"]),
            Route(
                "/api/board/handover/acknowledge",
                leader(self.acknowledge, True),
                methods=["POST"],
            ),
        ]
