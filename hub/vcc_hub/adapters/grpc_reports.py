"""``Reports`` gRPC service: rendered reports, settlement periods and reconciliation.

Reports, statements and reconciliation are reads (any hub answers); closing a period is
a write and only the leader accepts it (a follower answers FAILED_PRECONDITION naming it).

Bounds: a report covers at most ``MAX_REPORT_DAYS`` days (INVALID_ARGUMENT naming
``from_at_ms``; an unset ``from_at_ms`` means that many days before ``to_at_ms``), and
ends at most a day from now. A period is closed only after it has ended (Beijing time):
closing one that has not answers FAILED_PRECONDITION naming ``period_id``, since a
closed period is final and its later calls could no longer be settled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from vcc_domain.clock import Clock
from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.province import Province
from vcc_domain.rating import Statement, check_period, period_bounds_ms
from vcc_domain.sqi import SqiConfig
from vcc_hub.adapters.directory_codec import actor_text
from vcc_hub.service.aggregator import Aggregator, target_of
from vcc_hub.service.report_render import CONTENT_TYPES, render
from vcc_hub.service.report_views import build
from vcc_hub.store import reports as store
from vcc_proto.authz_interceptor import actor_of
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc

ACTOR_LIMIT = 200  # an audit actor as the directory and settlement keep it

Ctx: TypeAlias = Any

VIEW_NAMES = {
    h.REPORT_VIEW_PROVINCE: "province",
    h.REPORT_VIEW_SITE: "site",
    h.REPORT_VIEW_AGENT: "agent",
    h.REPORT_VIEW_INTERVAL: "interval",
    h.REPORT_VIEW_UNSPECIFIED: "province",
}
DAY_MS = 86_400_000
MAX_REPORT_DAYS = 400  # a year and a bit: this month against the same month last year


def report_range(from_ms: int, to_ms: int, now_ms: int) -> tuple[int, int]:
    """``[lo, hi)`` of a report request within the bounds (see the module docstring)."""
    hi = to_ms or now_ms
    if hi > now_ms + DAY_MS:
        raise InvalidInput("a report ends at most a day from now", field="to_at_ms")
    lo = from_ms or max(0, hi - MAX_REPORT_DAYS * DAY_MS)
    if hi <= lo:
        raise InvalidInput("to_at_ms must be after from_at_ms", field="to_at_ms")
    if hi - lo > MAX_REPORT_DAYS * DAY_MS:
        raise InvalidInput(f"a report covers at most {MAX_REPORT_DAYS} days", field="from_at_ms")
    return lo, hi


def check_period_ended(period_id: str, now_ms: int) -> None:
    """FAILED_PRECONDITION unless the period is over."""
    _, end = period_bounds_ms(check_period(period_id))
    if end > now_ms:
        raise Conflict(
            f"period {period_id} has not ended yet; it can be closed from the "
            "first day of the next month",
            field="period_id",
        )


FORMAT_NAMES = {
    h.REPORT_FORMAT_TABLE: "table",
    h.REPORT_FORMAT_CSV: "csv",
    h.REPORT_FORMAT_JSON: "json",
    h.REPORT_FORMAT_HTML: "html",
    h.REPORT_FORMAT_UNSPECIFIED: "table",
}


def statement_to_proto(st: Statement) -> h.Statement:
    return h.Statement(
        period_id=st.period_id,
        closed=st.closed,
        closed_at_ms=st.closed_at_ms,
        entries=[
            h.SettlementEntry(
                payer_site_id=e.payer_site_id,
                serving_site_id=e.serving_site_id,
                calls=e.calls,
                handling_fee_fen=e.handling_fee_fen,
            )
            for e in st.entries
        ],
        positions=[
            h.NetPosition(
                site_id=p.site_id,
                receivable_fen=p.receivable_fen,
                payable_fen=p.payable_fen,
                net_fen=p.net_fen,
                access_fen=p.access_fen,
            )
            for p in st.positions
        ],
        calls=st.calls,
        total_access_fen=st.total_access_fen,
        total_handling_fee_fen=st.total_handling_fee_fen,
        adjustments_fen=st.adjustments_fen,
    )


class ReportsServicer(hub_pb2_grpc.ReportsServicer):
    def __init__(
        self,
        aggregator: Aggregator,
        province: Callable[[], Awaitable[Province]],
        clock: Clock,
        sqi_config: SqiConfig,
    ) -> None:
        self.aggregator = aggregator
        self.province = province
        self.clock = clock
        self.sqi_config = sqi_config

    @grpc_errors
    async def GetReport(self, request: h.GetReportRequest, context: Ctx) -> h.Report:
        view = VIEW_NAMES.get(request.view)
        fmt = FORMAT_NAMES.get(request.format)
        if view is None:
            raise InvalidInput("unknown report view", field="view")
        if fmt is None:
            raise InvalidInput("unknown report format", field="format")
        now = int(self.clock.now() * 1000)
        lo, hi = report_range(request.from_at_ms, request.to_at_ms, now)
        province = await self.province()
        async with self.aggregator.engine.connect() as conn:
            loaded = await store.load(
                conn,
                lo,
                hi,
                list(request.site_ids),
                request.agent_id,
                per_interval_agents=view == "interval",
            )
        data = build(
            view,
            loaded,
            target_of(province),
            self.sqi_config,
            self.aggregator.config.interval_ms,
            lo,
            hi,
        )
        return h.Report(
            content=render(data, fmt),
            content_type=CONTENT_TYPES[fmt],
            generated_at_ms=now,
            data_as_of_ms=loaded.as_of_ms,
        )

    @grpc_errors
    async def CloseSettlement(self, request: h.SettlementPeriod, context: Ctx) -> h.Statement:
        check_period_ended(request.period_id, int(self.clock.now() * 1000))
        st = await store.close_period(
            self.aggregator,
            request.period_id,
            actor_of(actor_text(request.actor), ACTOR_LIMIT),
            await self.province(),
            int(self.clock.now() * 1000),
        )
        return statement_to_proto(st)

    @grpc_errors
    async def GetStatement(self, request: h.SettlementPeriod, context: Ctx) -> h.Statement:
        province = await self.province()
        async with self.aggregator.engine.connect() as conn:
            st = await store.statement(conn, request.period_id, province)
        return statement_to_proto(st)

    @grpc_errors
    async def Reconcile(self, request: h.SettlementPeriod, context: Ctx) -> h.ReconcileReply:
        check_period(request.period_id)
        province = await self.province()
        async with self.aggregator.engine.connect() as conn:
            diffs = await store.reconcile(conn, request.period_id, province, self.aggregator.config)
        return h.ReconcileReply(
            period_id=request.period_id,
            balanced=not diffs,
            differences=[
                h.ReconcileDifference(
                    item=d.item,
                    statement_fen=d.statement_fen,
                    computed_fen=d.computed_fen,
                    cdr_id=d.cdr_id,
                )
                for d in diffs
            ],
        )
