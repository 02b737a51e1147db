"""The agent desktop's routes beyond the call itself.

* ``POST /api/consult``: hold the caller and consult a named agent or a business at any
  city (``AgentDesk.Consult``); ``POST /api/consult/{mode}``: end it (``transfer``,
  ``conference`` or ``cancel``; ``AgentDesk.ConsultComplete``);
* ``GET /api/my-day``: the agent's own figures today (``AgentDesk.GetMyDay``), the page
  compares them with the agents' targets (``/api/meta`` ``kpi``);
* ``GET /api/ready-where``: who is ready where, per city and business
  (``AgentDesk.GetReadyWhere``: the hub's board, or this site's own figures);
* ``GET /api/recent-calls?call_id=``: the caller's earlier calls at this site, for the
  screen pop (``AgentDesk.GetRecentCalls``);
* ``GET /api/callbacks``: the agent's work orders awaiting their reply to the caller or a
  callback (``WorkOrders.List`` as the signed-in person), callers' numbers masked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vcc_domain.errors import Conflict, ErrorKind, VccError
from vcc_domain.privacy import mask_phone
from vcc_domain.workorders import ANSWERED, REPLIED
from vcc_proto.v1 import site_pb2 as s
from vcc_site.web import guard, present
from vcc_site.web.app import ApiError, DeskPages
from vcc_site.web.client import CONSULT_MODES
from vcc_site.web.feed import Feed

MAX_CALLBACKS = 50


def _order(order: s.WorkOrder, kind: str) -> present.Json:
    return {
        "kind": kind,  # reply: tell the caller the result; callback: ask how it went
        "order_id": order.order_id,
        "order_type": order.order_type,
        "business_id": order.business_id,
        "caller": mask_phone(order.caller_number) if order.caller_number else "",
        "result": order.result,
        "due_ms": order.reply_due_ms if kind == "reply" else order.callback_due_ms,
        "from_ms": order.callback_from_ms if kind == "callback" else 0,
    }


class DeskExtras:
    def __init__(self, pages: DeskPages) -> None:
        self.pages = pages
        self.client = pages.client

    def get(
        self, handler: Callable[[Request, Feed], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in agent's GET (a read: no CSRF value needed), errors as JSON."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, self.pages.session(request))
            except ApiError as err:
                return err.response
            except VccError as err:
                response = self.pages.failure(err)
                if err.kind is ErrorKind.UNAUTHENTICATED:
                    guard.clear_session(response, self.pages.facts.https)
                return response

        return endpoint

    async def consult(self, request: Request, feed: Feed) -> Response:
        data = await self.pages.body(request)
        agent_id = data.get("agent_id", "").strip()
        if not data.get("business_id") and not agent_id:
            return guard.refused("invalid", "choose a business or give an agent ID", 400)
        result = await self.client.consult(
            feed.token,
            data.get("call_id", ""),
            data.get("site_id", ""),
            data.get("business_id", ""),
            data.get("note", ""),
            agent_id,
        )
        return JSONResponse({**present.transfer_result(result), "type": "consult_result"})

    async def consult_end(self, request: Request, feed: Feed) -> Response:
        mode = request.path_params["mode"]
        if mode not in CONSULT_MODES:
            return guard.refused("not_found", f"no consultation ending {mode!r}", 404)
        call_id = (await self.pages.body(request)).get("call_id", "")
        view = await self.client.consult_complete(feed.token, call_id, mode)
        return JSONResponse(feed.publish(present.call_view(view)))

    async def my_day(self, request: Request, feed: Feed) -> Response:
        day = await self.client.my_day(feed.token)
        return JSONResponse(
            {
                "day": day.day,
                "answered": day.answered,
                "transferred": day.transferred,
                "ring_ms": day.ring_ms,
                "talk_ms": day.talk_ms,
                "wrap_ups": day.wrap_ups,
                "wrap_up_ms": day.wrap_up_ms,
            }
        )

    async def ready_where(self, request: Request, feed: Feed) -> Response:
        reply = await self.client.ready_where(feed.token)
        rows = [
            {
                "site_id": f.site_id,
                "business_id": f.business_id,
                "ready": f.agents_ready,
                "waiting": f.waiting,
                "ewt_ms": f.ewt_ms,
            }
            for f in reply.figures
        ]
        return JSONResponse(
            {"province": reply.province, "stale": list(reply.stale_site_ids), "rows": rows}
        )

    async def recent_calls(self, request: Request, feed: Feed) -> Response:
        try:
            calls = await self.client.recent_calls(
                feed.token, request.query_params.get("call_id", "")
            )
        except Conflict:  # the call left the agent before the page asked: nothing to show
            calls = []
        return JSONResponse(
            {
                "calls": [
                    {
                        "call_id": r.call_id,
                        "arrival_at_ms": r.arrival_at_ms,
                        "business_id": r.business_id,
                        "state": r.state,
                        "end_reason": r.end_reason,
                        "agent_id": r.agent_id,
                        "disposition": r.disposition,
                        "notes": r.notes,
                    }
                    for r in calls
                ]
            }
        )

    async def callbacks(self, request: Request, feed: Feed) -> Response:
        bearer = feed.person_token
        replies = await self.client.work_orders(bearer, ANSWERED)
        calls = await self.client.work_orders(bearer, REPLIED)
        mine = [
            *(_order(o, "reply") for o in replies if o.agent_id == feed.agent_id),
            *(
                _order(o, "callback")
                for o in calls
                if o.agent_id == feed.agent_id and o.callback_required
            ),
        ]
        mine.sort(key=lambda o: o["due_ms"] or 2**62)
        return JSONResponse({"orders": mine[:MAX_CALLBACKS], "more": len(mine) > MAX_CALLBACKS})

    def routes(self) -> list[Route]:
        post, get = self.pages.post, self.get
        return [
            Route("/api/consult", post(self.consult), methods=["POST"]),
            Route("/api/consult/{mode}", post(self.consult_end), methods=["POST"]),
            Route("/api/my-day", get(self.my_day)),
            Route("/api/ready-where", get(self.ready_where)),
            Route("/api/callbacks", get(self.callbacks)),
            Route("/api/recent-calls", get(self.recent_calls)),
        ]
