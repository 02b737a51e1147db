"""gRPC servicers of a site node: Access, AgentDesk and Remote.

Thin: decode the request, call a use case, encode the reply. ``@grpc_errors`` maps the
project's errors to status codes; nothing else here knows about gRPC status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeAlias, runtime_checkable

from vcc_domain.errors import InvalidInput, NotFound, ResourceExhausted, Unavailable
from vcc_domain.ids import new_id
from vcc_domain.privacy import mask_phone
from vcc_domain.read_budget import ReadBudget
from vcc_proto.authz_interceptor import actor_of, current_caller
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc
from vcc_replication.events import MAX_REPUBLISH_RANGE
from vcc_site.adapters import codec, grpc_board, grpc_desk_info
from vcc_site.domain.results import Assignment, Queued
from vcc_site.service.access import AccessService, rating_offer
from vcc_site.service.core import SiteCore
from vcc_site.service.deadline import answer_within
from vcc_site.service.desk import DeskService
from vcc_site.service.moves import CallMoves
from vcc_site.service.moves.ownership import ownership_of
from vcc_site.service.supervise import supervise
from vcc_site.service.transfer import KEPT, RELEASED, UNKNOWN, TransferAnswer
from vcc_site.store.api import AuditRecord, UnitOfWork

Ctx: TypeAlias = Any  # grpc.aio.ServicerContext (untyped in grpcio)
log = logging.getLogger(__name__)
_O = s.CallOwnershipReply
OWNERSHIP_VALUES = {
    KEPT: _O.OWNERSHIP_KEPT,
    RELEASED: _O.OWNERSHIP_RELEASED,
    UNKNOWN: _O.OWNERSHIP_UNKNOWN,
}


class AccessServicer(site_pb2_grpc.AccessServicer):
    def __init__(self, access: AccessService) -> None:
        self.access = access

    @grpc_errors
    async def OfferCall(self, request: s.OfferCallRequest, context: Ctx) -> s.CallStep:
        with answer_within(context.time_remaining()):  # the edge waits this long
            view = await self.access.offer_call(
                request.caller_number,
                request.dialed_code,
                request.entry_site_id,
                request.call_id,
                request.original_arrival_at_ms,
                number_trusted=_from_edge(),
            )
        return codec.step(view, self.access.core.site_id)

    @grpc_errors
    async def SendDigits(self, request: s.SendDigitsRequest, context: Ctx) -> s.CallStep:
        with answer_within(context.time_remaining()):
            view = await self.access.send_digits(request.call_id, request.digits)
        return codec.step(view, self.access.core.site_id)

    @grpc_errors
    async def HangUp(self, request: s.CallRef, context: Ctx) -> s.CallView:
        return codec.call_view(await self.access.hang_up(request.call_id))

    @grpc_errors
    async def GetCall(self, request: s.CallRef, context: Ctx) -> s.CallView:
        record = await self.access.get_call(request.call_id)
        core = self.access.core
        live = core.calls.get(request.call_id)
        legs = live.all_legs() if live is not None else await core.store.legs(record.call_id)
        view = codec.call_view(record, legs)
        surveys = self.access.surveys
        if surveys is not None and surveys.pending(request.call_id) is not None:
            view.rating.CopyFrom(codec.step(rating_offer(request.call_id), core.site_id))
        return view


def _from_edge() -> bool:
    """The caller number may identify the caller: it comes from the access edge (on a
    checked port), or the port checks nobody (plaintext, as before)."""
    caller = current_caller()
    return caller is None or (caller.node is not None and caller.node.kind == "edge")


class AgentDeskServicer(site_pb2_grpc.AgentDeskServicer):
    def __init__(self, desk: DeskService) -> None:
        self.desk = desk

    @grpc_errors
    async def Login(self, request: s.LoginRequest, context: Ctx) -> s.LoginReply:
        # on a checked port (mutual TLS) an initial password must be changed first
        checked = current_caller() is not None
        agent = await self.desk.login(
            request.agent_id, request.password, request.device, first_change=checked
        )
        return s.LoginReply(
            session_token=agent.token,
            session_id=agent.session_id,
            status=codec.agent_status(agent),
            site_id=self.desk.core.site_id,
            agent_name=agent.name,
        )

    @grpc_errors
    async def Logout(self, request: s.SessionRef, context: Ctx) -> s.AgentStatus:
        agent = await self.desk.logout(request.session_token)
        status = codec.agent_status(agent)
        status.state = s.AGENT_STATE_LOGGED_OUT
        return status

    @grpc_errors
    async def SetReady(self, request: s.SessionRef, context: Ctx) -> s.AgentStatus:
        return codec.agent_status(await self.desk.set_ready(request.session_token))

    @grpc_errors
    async def SetNotReady(self, request: s.SetNotReadyRequest, context: Ctx) -> s.AgentStatus:
        reason = codec.NOT_READY_NAMES.get(request.reason)
        if reason is None or reason == "ring_no_answer":
            raise InvalidInput("choose away, break, training or other", field="reason")
        return codec.agent_status(await self.desk.set_not_ready(request.session_token, reason))

    @grpc_errors
    async def Events(self, request: s.SessionRef, context: Ctx) -> AsyncIterator[s.AgentEvent]:
        async for event in self.desk.events(request.session_token):
            yield codec.desk_event(event)

    @grpc_errors
    async def Answer(self, request: s.CallAction, context: Ctx) -> s.CallView:
        return codec.call_view(await self.desk.answer(request.session_token, request.call_id))

    @grpc_errors
    async def Hold(self, request: s.CallAction, context: Ctx) -> s.CallView:
        return codec.call_view(
            await self.desk.hold(request.session_token, request.call_id, on=True)
        )

    @grpc_errors
    async def Resume(self, request: s.CallAction, context: Ctx) -> s.CallView:
        return codec.call_view(
            await self.desk.hold(request.session_token, request.call_id, on=False)
        )

    @grpc_errors
    async def HangUp(self, request: s.CallAction, context: Ctx) -> s.CallView:
        return codec.call_view(await self.desk.hang_up(request.session_token, request.call_id))

    @grpc_errors
    async def WrapUp(self, request: s.WrapUpRequest, context: Ctx) -> s.AgentStatus:
        agent = await self.desk.wrap_up(
            request.session_token, request.call_id, request.disposition, request.notes
        )
        return codec.agent_status(agent)

    @grpc_errors
    async def Transfer(self, request: s.TransferRequest, context: Ctx) -> c.TransferResult:
        target = request.target
        what = target.WhichOneof("what")
        decision = await self.desk.transfer(
            request.session_token,
            request.call_id,
            site_id=target.site_id,
            business_id=target.business_id if what == "business_id" else "",
            skill_id=target.skill_id if what == "skill_id" else "",
            agent_id=target.agent_id if what == "agent_id" else "",
            note=request.note,
        )
        if isinstance(decision, TransferAnswer):  # to another site, through the hub
            return codec.transfer_result(decision)
        result = c.TransferResult(
            outcome=c.TransferResult.OUTCOME_ACCEPTED,
            call_id=request.call_id,
            site_id=self.desk.core.site_id,
        )
        if isinstance(decision, Queued):
            result.queue_position = decision.waiting
        elif isinstance(decision, Assignment):
            result.agent_id = decision.agent_id
        return result

    @grpc_errors
    async def Consult(self, request: s.TransferRequest, context: Ctx) -> c.TransferResult:
        target = request.target
        what = target.WhichOneof("what")
        answer = await self.desk.consult(
            request.session_token,
            request.call_id,
            site_id=target.site_id,
            business_id=target.business_id if what == "business_id" else "",
            skill_id=target.skill_id if what == "skill_id" else "",
            agent_id=target.agent_id if what == "agent_id" else "",
            note=request.note,
        )
        return codec.transfer_result(answer)

    @grpc_errors
    async def ConsultComplete(self, request: s.ConsultCompleteRequest, context: Ctx) -> s.CallView:
        mode = codec.CONSULT_MODES.get(request.mode)
        if mode is None:
            self.desk.session(request.session_token)
            raise InvalidInput("choose transfer, conference or cancel", field="mode")
        return codec.call_view(
            await self.desk.consult_complete(request.session_token, request.call_id, mode)
        )

    @grpc_errors
    async def GetMyDay(self, request: s.SessionRef, context: Ctx) -> s.AgentDay:
        return await grpc_desk_info.my_day(self.desk, request.session_token)

    @grpc_errors
    async def GetReadyWhere(self, request: s.SessionRef, context: Ctx) -> s.ReadyWhereReply:
        return await grpc_desk_info.ready_where(self.desk, request.session_token)

    @grpc_errors
    async def GetRecentCalls(self, request: s.CallAction, context: Ctx) -> s.RecentCallsReply:
        return await grpc_desk_info.recent_calls(self.desk, request.session_token, request.call_id)


@runtime_checkable
class Republisher(Protocol):
    """Publishes held outbox events again (the site's outbox relay)."""

    async def republish(self, from_seq: int, to_seq: int) -> tuple[int, int]:
        """Re-publish ``[from_seq, to_seq]``; returns (count, lowest sequence held)."""
        ...


class RemoteServicer(site_pb2_grpc.RemoteServicer):
    """What the hub and other sites ask of this site."""

    def __init__(
        self, core: SiteCore, republisher: Republisher | None = None, moves: CallMoves | None = None
    ) -> None:
        self.core = core
        self.republisher = republisher
        # takes transferred calls in, serves and hears about consult legs, answers who
        # owns a call (None: this site takes no calls from other sites)
        self.moves = moves
        # reads of this site's customers per reader (a walk of the base is refused)
        self.read_budget = ReadBudget(core.clock)

    @grpc_errors
    async def LookupCustomer(
        self, request: s.LookupCustomerRequest, context: Ctx
    ) -> s.LookupCustomerReply:
        store = self.core.store
        key = request.WhichOneof("key")
        if key not in ("customer_id", "phone_number", "contract_number"):
            raise InvalidInput("give a customer id, phone number or contract number", field="key")
        actor = request.actor
        claimed = f"remote:{actor.site_id or '?'}" + (
            f"/{actor.agent_id}" if actor.agent_id else ""
        )
        who = actor_of(claimed)  # the certificate's (or person's) identity, not the claim
        now = self.core.now_ms()
        caller = current_caller()
        reader = caller.actor if caller is not None and caller.actor else claimed
        if not self.read_budget.take(reader):  # by who is checked, never by the claim
            self.core.submit(
                UnitOfWork().add(
                    AuditRecord(new_id("req"), now, reader, "remote_read_refused", key, "budget")
                )
            )
            raise ResourceExhausted("too many customer reads: try again shortly", field=key)
        if key == "customer_id":
            record = await store.customer(request.customer_id)
        elif key == "phone_number":
            record = await store.customer_by_phone(request.phone_number)
        else:
            record = await store.customer_by_account(request.contract_number)
        # every read by another site is audited here too (the reader audits its side)
        self.core.submit(
            UnitOfWork().add(
                AuditRecord(
                    new_id("req"),
                    now,
                    who,
                    "served_remote_read" if record else "remote_read_miss",
                    record.customer_id if record else f"{key}:{mask_phone(request.phone_number)}",
                    (request.reason or "")[:200],
                )
            )
        )
        if record is None:
            raise NotFound("no such customer at this site", field=key)
        return s.LookupCustomerReply(customer=codec.customer(record), as_of_ms=now)

    @grpc_errors
    async def AcceptTransfer(
        self, request: s.AcceptTransferRequest, context: Ctx
    ) -> c.TransferResult:
        if not request.HasField("context") or not request.context.call_id:
            raise InvalidInput("give the call context", field="context")
        if self.moves is None:
            raise Unavailable("this site does not accept transferred calls", field="context")
        handoff = codec.handoff(request.context, request.request_id, self.core.site_id)
        answer = await self.moves.accept_transfer(handoff, request.deadline_ms)
        return codec.transfer_result(answer)

    @grpc_errors
    async def ConcludeConsult(
        self, request: s.ConcludeConsultRequest, context: Ctx
    ) -> c.TransferResult:
        mode = codec.CONSULT_MODES.get(request.mode)
        if mode is None:
            raise InvalidInput("choose transfer, conference or cancel", field="mode")
        if not request.call_id or not request.consult_leg_id:
            raise InvalidInput("give the call and its consult leg", field="consult_leg_id")
        if self.moves is None:
            raise Unavailable("this site does not take consultations", field="call_id")
        answer = await self.moves.conclude_consult(
            request.call_id, request.consult_leg_id, mode, request.actor.site_id
        )
        return codec.transfer_result(answer)

    @grpc_errors
    async def ReportLeg(self, request: s.ReportLegRequest, context: Ctx) -> s.ReportLegReply:
        state = codec.LEG_STATE_NAMES.get(request.state)
        if self.moves is None or state is None:
            return s.ReportLegReply(known=request.call_id in self.core.calls)
        known = self.moves.leg_reported(
            request.call_id,
            request.leg_id,
            state,
            request.agent_id,
            request.site_id,
            codec.END_REASON_NAMES.get(request.end_reason, ""),
        )
        return s.ReportLegReply(known=known)

    @grpc_errors
    async def RepublishEvents(
        self, request: s.RepublishEventsRequest, context: Ctx
    ) -> s.RepublishEventsReply:
        if request.from_seq < 1 or request.to_seq < request.from_seq:
            raise InvalidInput("give a range 1 <= from_seq <= to_seq", field="from_seq")
        if request.to_seq - request.from_seq >= MAX_REPUBLISH_RANGE:
            raise InvalidInput(
                f"a range holds at most {MAX_REPUBLISH_RANGE} events; ask "
                "for a longer gap in parts",
                field="to_seq",
            )
        if self.republisher is None:
            raise Unavailable(
                "event replication to the hub is not running at this site", field="from_seq"
            )
        count, lowest = await self.republisher.republish(request.from_seq, request.to_seq)
        return s.RepublishEventsReply(count=count, lowest_held_seq=lowest)

    @grpc_errors
    async def GetCallOwnership(
        self, request: s.CallOwnershipRequest, context: Ctx
    ) -> s.CallOwnershipReply:
        if not request.call_id:
            raise InvalidInput("give the call", field="call_id")
        found = (
            await self.moves.ownership(request.call_id)
            if self.moves is not None
            else await ownership_of(self.core, request.call_id)
        )
        log.info(
            "ownership of call %s asked by %s: %s%s",
            request.call_id,
            request.site_id or "?",
            found.answer,
            f" to {found.to_site}" if found.to_site else "",
        )
        return s.CallOwnershipReply(
            ownership=OWNERSHIP_VALUES[found.answer],
            released_to_site_id=found.to_site,
            state=codec.CALL_STATES.get(found.state, c.CALL_STATE_UNSPECIFIED),
        )

    @grpc_errors
    async def GetQueueFigures(
        self, request: s.GetQueueFiguresRequest, context: Ctx
    ) -> s.GetQueueFiguresReply:
        figures = self.core.queue_figures(request.business_id or None)
        return s.GetQueueFiguresReply(
            figures=[grpc_board.queue_figures(self.core.site_id, f) for f in figures]
        )

    @grpc_errors
    async def WatchBoard(
        self, request: s.WatchBoardRequest, context: Ctx
    ) -> AsyncIterator[s.SiteBoard]:
        async for board in grpc_board.watch_board(self.core, request.business_id):
            yield board

    @grpc_errors
    async def Supervise(self, request: s.SuperviseRequest, context: Ctx) -> s.SuperviseReply:
        if request.action not in s.SuperviseAction.values():
            raise InvalidInput(f"unknown action {request.action}", field="action")
        action = s.SuperviseAction.Name(request.action).removeprefix("SUPERVISE_ACTION_").lower()
        claimed = f"person:{request.supervisor_id}" if request.supervisor_id else "supervisor"
        done = await supervise(
            self.core, actor_of(claimed), request.agent_id, action, request.reason
        )
        return s.SuperviseReply(
            agent_id=done.agent_id, state=done.state, call_id=done.call_id, audit_id=done.audit_id
        )


def site_services(
    core: SiteCore,
    access: AccessService,
    desk: DeskService,
    moves: CallMoves,
    republisher: Republisher | None = None,
) -> list[ServedService]:
    return [
        ServedService(
            "vcc_proto.v1.Access",
            AccessServicer(access),
            site_pb2_grpc.add_AccessServicer_to_server,
        ),
        ServedService(
            "vcc_proto.v1.AgentDesk",
            AgentDeskServicer(desk),
            site_pb2_grpc.add_AgentDeskServicer_to_server,
        ),
        ServedService(
            "vcc_proto.v1.Remote",
            RemoteServicer(core, republisher, moves),
            site_pb2_grpc.add_RemoteServicer_to_server,
        ),
    ]
