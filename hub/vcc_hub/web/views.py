"""The province console's reading and acting pages: reports (with CSV export), settlement
(closing a period needs the period typed again), the directory (entries, a change with
the validator's field named, version history and each version's difference) and the
province-wide work orders. Each handler is called as the signed-in person
(:meth:`vcc_hub.web.app.ConsolePages.as_person`) with their session as ``bearer``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vcc_domain.rating import BEIJING
from vcc_hub.web import present
from vcc_hub.web.client import VIEWS, HubClient
from vcc_hub.web.drills import DrillReports
from vcc_proto import web
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
HISTORY_PAGE = 500  # deltas read per request while replaying the history
# who reads the drill reports (files the hub's authorization table does not cover, so the
# person's role is checked here, with the hub, on every request)
DRILL_ROLES = frozenset({"operations", "province_manager"})


@dataclass(frozen=True, slots=True)
class ConsoleFacts:
    sites: dict[str, str]  # id -> name, in the province file's order
    https: bool
    drill_reports: Path | None = None  # the folder of `vcc drill` reports (none: not shown)


class Refusal(Exception):
    """A request refused before the hub is asked; ``response`` says why."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def day_range(day: str) -> tuple[int, int]:
    """The [from, to) milliseconds of a Beijing calendar day ``YYYY-MM-DD``."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=BEIJING)
    except ValueError:
        raise Refusal(web.refused("invalid", "a day is YYYY-MM-DD", 400, "day")) from None
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def period_of(value: str) -> str:
    if not PERIOD.match(value):
        raise Refusal(web.refused("invalid", "a period is a month YYYY-MM", 400, "period"))
    return value


Handler = Callable[[Request, str], Awaitable[Response]]
Wrap = Callable[..., Callable[[Request], Awaitable[Response]]]


class ConsoleViews:
    def __init__(self, client: HubClient, facts: ConsoleFacts) -> None:
        self.client = client
        self.facts = facts
        self.drills = DrillReports(facts.drill_reports)

    # -- reports ---------------------------------------------------------------------------

    def _report_args(self, request: Request) -> tuple[str, int, int, list[str]]:
        q = request.query_params
        view = q.get("view", "province")
        if view not in VIEWS:
            raise Refusal(web.refused("invalid", f"no report view {view!r}", 400, "view"))
        site = q.get("site", "")
        if site and site not in self.facts.sites:
            raise Refusal(web.refused("invalid", f"no site {site!r}", 400, "site"))
        from_ms, to_ms = day_range(q.get("day", ""))
        return view, from_ms, to_ms, [site] if site else []

    async def report(self, request: Request, bearer: str) -> Response:
        view, from_ms, to_ms, sites = self._report_args(request)
        reply = await self.client.report(bearer, view, from_ms, to_ms, sites, "json")
        data = json.loads(reply.content)
        data["data_as_of_ms"] = reply.data_as_of_ms
        return JSONResponse(data)

    async def report_csv(self, request: Request, bearer: str) -> Response:
        view, from_ms, to_ms, sites = self._report_args(request)
        reply = await self.client.report(bearer, view, from_ms, to_ms, sites, "csv")
        day = request.query_params.get("day", "")
        name = f"vcc-{view}-{sites[0] + '-' if sites else ''}{day}.csv"
        return Response(
            reply.content,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- settlement ------------------------------------------------------------------------

    async def statement(self, request: Request, bearer: str) -> Response:
        period = period_of(request.query_params.get("period", ""))
        return JSONResponse(present.statement(await self.client.statement(bearer, period)))

    async def close_period(self, request: Request, bearer: str) -> Response:
        """Closing is final: the page asks the person to type the period again."""
        data = await web.json_body(request)
        period = period_of(str(data.get("period", "")))
        if str(data.get("confirm", "")) != period:
            return web.refused(
                "confirm", "type the period again to confirm closing it", 400, "confirm"
            )
        reply = await self.client.statement(bearer, period, close=True)
        return JSONResponse(present.statement(reply))

    # -- the directory ---------------------------------------------------------------------

    async def directory(self, request: Request, bearer: str) -> Response:
        kind = request.query_params.get("kind", "directory_entry")
        if kind not in present.KINDS or kind == "document":
            return web.refused("invalid", f"no directory kind {kind!r}", 400, "kind")
        return JSONResponse(
            present.entities(await self.client.entities(bearer, present.KINDS[kind]))
        )

    async def change_entry(self, request: Request, bearer: str) -> Response:
        """One entity upserted (the hub validates the whole province and names the field)."""
        data = await web.json_body(request)
        kind = str(data.get("kind", ""))
        entity = data.get("entity")
        if kind not in present.KINDS or kind == "document" or not isinstance(entity, dict):
            return web.refused("invalid", "give the kind and the entity's fields", 400)
        change = h.DirectoryChange(
            op=h.DirectoryChange.OP_UPSERT,
            kind=present.KINDS[kind],  # type: ignore[arg-type]
            entity_id=str(data.get("id", "")),
            entity_json=json.dumps(entity, ensure_ascii=False).encode(),
        )
        who = c.Actor(operator=f"province-console:{data.get('person_id', '')}")
        expected = int(data.get("expected_version", 0) or 0)
        reply = await self.client.apply(bearer, change, expected, who)
        return JSONResponse({"version": reply.version, "change_id": reply.change_id})

    async def _all_deltas(self, bearer: str) -> list[h.DirectoryDelta]:
        out: list[h.DirectoryDelta] = []
        while True:
            reply = await self.client.deltas(bearer, len(out), HISTORY_PAGE)
            if reply.snapshot_required:
                raise Refusal(web.refused("compacted", "the early history was compacted", 409))
            out += reply.deltas
            if not reply.deltas or len(out) >= reply.latest_version:
                return out

    async def history(self, request: Request, bearer: str) -> Response:
        deltas = await self._all_deltas(bearer)
        return JSONResponse({"versions": [present.version_summary(d) for d in reversed(deltas)]})

    async def version(self, request: Request, bearer: str) -> Response:
        try:
            version = int(request.path_params["version"])
        except ValueError:
            return web.refused("invalid", "a version is a number", 400, "version")
        deltas = await self._all_deltas(bearer)
        return JSONResponse(present.version_diff(deltas, version))

    # -- work orders -----------------------------------------------------------------------

    async def work_orders(self, request: Request, bearer: str) -> Response:
        q = request.query_params
        site = q.get("site", "")
        reply = await self.client.work_orders(
            bearer, site, q.get("open") == "1", q.get("overdue") == "1"
        )
        orders = [present.work_order(o) for o in reply.orders]
        return JSONResponse({"orders": orders[::-1]})  # newest first

    # -- drill reports ---------------------------------------------------------------------

    async def _drill_reader(self, bearer: str) -> None:
        view = await self.client.who_am_i(bearer)  # the session alive, and whose
        if view.role not in DRILL_ROLES:
            raise Refusal(
                web.refused("forbidden", f"a {view.role} may not read drill reports", 403)
            )

    async def drill_list(self, request: Request, bearer: str) -> Response:
        await self._drill_reader(bearer)
        return JSONResponse(await asyncio.to_thread(self.drills.listing))

    async def drill_report(self, request: Request, bearer: str) -> Response:
        await self._drill_reader(bearer)
        name = request.path_params["name"]
        return JSONResponse(await asyncio.to_thread(self.drills.report, name))

    def routes(self, person: Wrap) -> list[Route]:
        return [
            Route("/api/report", person(self.report)),
            Route("/api/report.csv", person(self.report_csv)),
            Route("/api/statement", person(self.statement)),
            Route("/api/statement/close", person(self.close_period, True), methods=["POST"]),
            Route("/api/directory", person(self.directory)),
            Route("/api/directory", person(self.change_entry, True), methods=["POST"]),
            Route("/api/directory/history", person(self.history)),
            Route("/api/directory/version/{version}", person(self.version)),
            Route("/api/work-orders", person(self.work_orders)),
            Route("/api/drills", person(self.drill_list)),
            Route("/api/drills/{name}", person(self.drill_report)),
        ]
