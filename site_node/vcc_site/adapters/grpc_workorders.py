"""gRPC side of work orders: the ``WorkOrders`` servicer, its codec, and the client that
forwards an order to the caller's home site (:class:`GrpcWorkOrderForwarder`)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc
import grpc.aio

from vcc_domain.errors import Unavailable
from vcc_domain.handover import Handover
from vcc_domain.outbound import CampaignEntry
from vcc_domain.workorder_figures import total
from vcc_domain.workorders import WorkOrder
from vcc_failover.sites import SiteEndpoints
from vcc_proto.authz_interceptor import actor_of
from vcc_proto.channels import ChannelPool
from vcc_proto.server import ServedService
from vcc_proto.status import from_rpc_error, grpc_errors
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_proto.workorders import figure_msg, order_msg, order_record
from vcc_site.adapters.codec import step as step_msg
from vcc_site.service.campaigns import CampaignService, HandoverService
from vcc_site.service.outbound_calls import OutboundCalls
from vcc_site.service.workorders import WorkOrderService

Ctx: TypeAlias = Any
FORWARD_TIMEOUT_S = 2.0


def entry_msg(e: CampaignEntry) -> s.CampaignEntry:
    return s.CampaignEntry(
        campaign_id=e.campaign_id,
        entry_no=e.entry_no,
        kind=e.kind,
        customer_id=e.customer_id,
        phone=e.phone,
        tier=e.tier,
        notice=e.notice,
        attempts=e.attempts,
        state=e.state,
        result=e.result,
        last_attempt_at_ms=e.last_attempt_at_ms,
    )


def handover_msg(h: Handover) -> s.HandoverView:
    return s.HandoverView(
        handover_id=h.handover_id,
        site_id=h.site_id,
        outgoing_leader=h.outgoing_leader,
        created_at_ms=h.created_at_ms,
        unfinished_orders=list(h.unfinished_orders),
        due_callbacks=list(h.due_callbacks),
        open_incidents=list(h.open_incidents),
        notes=h.notes,
        incoming_leader=h.incoming_leader,
        acknowledged_at_ms=h.acknowledged_at_ms,
    )


class WorkOrdersServicer(sg.WorkOrdersServicer):
    def __init__(
        self, orders: WorkOrderService, campaigns: CampaignService, handovers: HandoverService
    ) -> None:
        self.orders = orders
        self.campaigns = campaigns
        self.handovers = handovers
        self.outbound = OutboundCalls(orders.core, campaigns)

    @grpc_errors
    async def Create(self, request: s.CreateWorkOrderRequest, context: Ctx) -> s.WorkOrder:
        return order_msg(
            await self.orders.create(
                request.session_token,
                request.call_id,
                dict(request.fields),
                request.business_id,
                request.home_site_id,
            )
        )

    @grpc_errors
    async def Accept(self, request: s.AcceptWorkOrderRequest, context: Ctx) -> s.WorkOrder:
        return order_msg(await self.orders.accept(order_record(request.order)))

    @grpc_errors
    async def Get(self, request: s.WorkOrderRef, context: Ctx) -> s.WorkOrder:
        return order_msg(await self.orders.get(request.order_id))

    @grpc_errors
    async def List(self, request: s.ListWorkOrdersRequest, context: Ctx) -> s.ListWorkOrdersReply:
        found = await self.orders.orders(
            open_only=request.open_only, state=request.state, limit=request.limit or 1000
        )
        return s.ListWorkOrdersReply(orders=[order_msg(o) for o in found])

    @grpc_errors
    async def Feedback(
        self, request: s.WorkOrderFeedbackRequest, context: Ctx
    ) -> s.ListWorkOrdersReply:
        changed = await self.orders.feedback(
            request.order_id,
            request.action,
            dict(request.details),
            request.result,
            actor_of(request.actor),
        )
        return s.ListWorkOrdersReply(orders=[order_msg(o) for o in changed])

    @grpc_errors
    async def Reply(self, request: s.WorkOrderStep, context: Ctx) -> s.WorkOrder:
        return order_msg(await self.orders.reply(request.order_id, actor_of(request.actor)))

    @grpc_errors
    async def CallbackDone(self, request: s.WorkOrderStep, context: Ctx) -> s.WorkOrder:
        return order_msg(
            await self.orders.callback_done(
                request.order_id, request.result, actor_of(request.actor)
            )
        )

    @grpc_errors
    async def Close(self, request: s.WorkOrderStep, context: Ctx) -> s.WorkOrder:
        return order_msg(await self.orders.close(request.order_id, actor_of(request.actor)))

    @grpc_errors
    async def Chase(self, request: s.WorkOrderStep, context: Ctx) -> s.WorkOrder:
        return order_msg(await self.orders.chase(request.order_id, actor_of(request.actor)))

    @grpc_errors
    async def GetFigures(
        self, request: s.WorkOrderFiguresRequest, context: Ctx
    ) -> s.WorkOrderFiguresReply:
        rows = await self.orders.figures()
        return s.WorkOrderFiguresReply(
            figures=[figure_msg(f) for f in [*rows, total(rows)]],
            as_of_ms=self.orders.core.now_ms(),
        )

    @grpc_errors
    async def LoadCampaign(self, request: s.LoadCampaignRequest, context: Ctx) -> s.CampaignReply:
        entries = await self.campaigns.load(request.campaign_id, request.kind, request.csv)
        return s.CampaignReply(entries=[entry_msg(e) for e in entries])

    @grpc_errors
    async def NextOutbound(self, request: s.CampaignRef, context: Ctx) -> s.CampaignReply:
        entry = await self.campaigns.next_entry(request.campaign_id)
        return s.CampaignReply(entries=[entry_msg(entry)] if entry else [])

    @grpc_errors
    async def ListCampaign(self, request: s.CampaignRef, context: Ctx) -> s.CampaignReply:
        return s.CampaignReply(
            entries=[entry_msg(e) for e in await self.campaigns.entries(request.campaign_id)]
        )

    @grpc_errors
    async def ConnectOutbound(self, request: s.ConnectOutboundRequest, context: Ctx) -> s.CallStep:
        view = await self.outbound.connect(
            request.campaign_id, request.entry_no, request.business_id
        )
        return step_msg(view, self.orders.core.site_id)

    @grpc_errors
    async def RecordOutbound(
        self, request: s.RecordOutboundRequest, context: Ctx
    ) -> s.CampaignReply:
        entry = await self.campaigns.record(
            request.campaign_id, request.entry_no, request.outcome, request.agent_id
        )
        return s.CampaignReply(entries=[entry_msg(entry)])

    @grpc_errors
    async def ReturnedList(self, request: s.CampaignRef, context: Ctx) -> s.CampaignReply:
        entries = await self.campaigns.returned(request.campaign_id)
        return s.CampaignReply(entries=[entry_msg(e) for e in entries])

    @grpc_errors
    async def CreateHandover(
        self, request: s.CreateHandoverRequest, context: Ctx
    ) -> s.HandoverView:
        return handover_msg(await self.handovers.create(request.outgoing_leader, request.notes))

    @grpc_errors
    async def AcknowledgeHandover(
        self, request: s.AcknowledgeHandoverRequest, context: Ctx
    ) -> s.HandoverView:
        return handover_msg(
            await self.handovers.acknowledge(request.handover_id, request.incoming_leader)
        )

    @grpc_errors
    async def ListHandovers(
        self, request: s.ListHandoversRequest, context: Ctx
    ) -> s.ListHandoversReply:
        found = await self.handovers.list(request.limit or 100)
        return s.ListHandoversReply(handovers=[handover_msg(h) for h in found])


def work_order_services(
    orders: WorkOrderService, handovers: HandoverService | None = None
) -> list[ServedService]:
    servicer = WorkOrdersServicer(
        orders, CampaignService(orders.core), handovers or HandoverService(orders.core)
    )
    return [ServedService("vcc_proto.v1.WorkOrders", servicer, sg.add_WorkOrdersServicer_to_server)]


class GrpcWorkOrderForwarder:
    """Calls the home site's ``WorkOrders.Accept`` (endpoint from etcd or the static map);
    any failure to get an answer is :class:`Unavailable` (the order then waits here)."""

    def __init__(self, endpoints: SiteEndpoints, timeout_s: float = FORWARD_TIMEOUT_S) -> None:
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self._channels = ChannelPool()

    async def forward(self, home_site: str, order: WorkOrder) -> WorkOrder:
        try:
            async with asyncio.timeout(self.timeout_s):
                endpoint = await self.endpoints.endpoint(home_site)
                channel = self._channels.get(endpoint)
                reply: s.WorkOrder = await sg.WorkOrdersStub(channel).Accept(
                    s.AcceptWorkOrderRequest(order=order_msg(order)), timeout=self.timeout_s
                )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self.endpoints.forget(home_site)
                raise Unavailable(f"site {home_site}: {exc.code().name}") from exc
            raise from_rpc_error(exc) from exc
        except (TimeoutError, OSError) as exc:
            self.endpoints.forget(home_site)
            raise Unavailable(f"site {home_site} did not answer") from exc
        return order_record(reply)

    async def close(self) -> None:
        await self._channels.close()
