"""The console's client of the hub's own gRPC API, every call as the signed-in person
(their session is the bearer, so the hub's authorization table decides what they may do).

Every call is translated to the project's errors (:mod:`vcc_domain.errors`), so the pages
answer a wrong password, a role refused or an ended session the same way whatever the
transport said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio

from vcc_proto.status import translate_rpc_errors
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s

VIEWS = {
    "province": h.REPORT_VIEW_PROVINCE,
    "site": h.REPORT_VIEW_SITE,
    "agent": h.REPORT_VIEW_AGENT,
    "interval": h.REPORT_VIEW_INTERVAL,
}
FORMATS = {"json": h.REPORT_FORMAT_JSON, "csv": h.REPORT_FORMAT_CSV}


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


class HubClient:
    """One channel to the hub, shared by every person signed in to the console."""

    def __init__(self, endpoint: str, tls: ClientTls | None = None, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self._channel = (
            grpc.aio.insecure_channel(endpoint) if tls is None else tls.channel(endpoint)
        )
        self.people = pg.PeopleStub(self._channel)
        self.routing = hg.RoutingStub(self._channel)
        self.reports = hg.ReportsStub(self._channel)
        self.directory = hg.DirectoryStub(self._channel)
        self.orders = hg.ProvinceWorkOrdersStub(self._channel)

    # -- the person ------------------------------------------------------------------------

    async def sign_in(self, person_id: str, password: str) -> p.SignInReply:
        with translate_rpc_errors():
            reply: p.SignInReply = await self.people.SignIn(
                p.SignInRequest(person_id=person_id, password=password), timeout=self.timeout_s
            )
        return reply

    async def change_password(self, bearer: str, old: str, new: str) -> p.SignInReply:
        with translate_rpc_errors():
            reply: p.SignInReply = await self.people.ChangePassword(
                p.ChangePasswordRequest(old_password=old, new_password=new),
                timeout=self.timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def sign_out(self, bearer: str) -> None:
        with translate_rpc_errors():
            await self.people.SignOut(
                p.SignOutRequest(), timeout=self.timeout_s, metadata=_bearer(bearer)
            )

    async def who_am_i(self, bearer: str) -> p.PersonView:
        with translate_rpc_errors():
            reply: p.PersonView = await self.people.WhoAmI(
                p.WhoAmIRequest(), timeout=self.timeout_s, metadata=_bearer(bearer)
            )
        return reply

    # -- the board -------------------------------------------------------------------------

    async def watch_board(self, bearer: str) -> AsyncIterator[h.Board]:
        with translate_rpc_errors():
            async for board in self.routing.WatchBoard(
                h.GetBoardRequest(), metadata=_bearer(bearer)
            ):
                yield board

    # -- reports and settlement ------------------------------------------------------------

    async def report(
        self, bearer: str, view: str, from_ms: int, to_ms: int, site_ids: list[str], fmt: str
    ) -> h.Report:
        request = h.GetReportRequest(
            view=VIEWS[view],
            from_at_ms=from_ms,
            to_at_ms=to_ms,
            site_ids=site_ids,
            format=FORMATS[fmt],
        )
        with translate_rpc_errors():
            reply: h.Report = await self.reports.GetReport(
                request, timeout=max(self.timeout_s, 30.0), metadata=_bearer(bearer)
            )
        return reply

    async def statement(self, bearer: str, period_id: str, close: bool = False) -> h.Statement:
        method = self.reports.CloseSettlement if close else self.reports.GetStatement
        with translate_rpc_errors():
            reply: h.Statement = await method(
                h.SettlementPeriod(period_id=period_id),
                timeout=max(self.timeout_s, 30.0),
                metadata=_bearer(bearer),
            )
        return reply

    # -- the directory ---------------------------------------------------------------------

    async def entities(self, bearer: str, kind: int) -> h.ListEntitiesReply:
        with translate_rpc_errors():
            reply: h.ListEntitiesReply = await self.directory.ListEntities(
                h.ListEntitiesRequest(kind=kind),  # type: ignore[arg-type]
                timeout=self.timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def deltas(self, bearer: str, since: int, limit: int) -> h.GetDeltasReply:
        with translate_rpc_errors():
            reply: h.GetDeltasReply = await self.directory.GetDeltas(
                h.GetDeltasRequest(since_version=since, max_deltas=limit),
                timeout=self.timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def apply(
        self, bearer: str, change: h.DirectoryChange, expected: int, actor: c.Actor
    ) -> h.ApplyChangeReply:
        request = h.ApplyChangeRequest(changes=[change], expected_version=expected, actor=actor)
        with translate_rpc_errors():
            reply: h.ApplyChangeReply = await self.directory.ApplyChange(
                request, timeout=self.timeout_s, metadata=_bearer(bearer)
            )
        return reply

    # -- province-wide work orders ---------------------------------------------------------

    async def work_orders(
        self, bearer: str, site_id: str, open_only: bool, overdue_only: bool
    ) -> s.ListWorkOrdersReply:
        request = h.ListProvinceOrdersRequest(
            owner_site_id=site_id, open_only=open_only, overdue_only=overdue_only, limit=500
        )
        with translate_rpc_errors():
            reply: s.ListWorkOrdersReply = await self.orders.ListOrders(
                request, timeout=self.timeout_s, metadata=_bearer(bearer)
            )
        return reply

    async def close(self) -> None:
        await self._channel.close()
