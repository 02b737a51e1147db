"""The agent desktop's client of the site's ``AgentDesk`` gRPC service.

Every call is translated to the project's errors (:mod:`vcc_domain.errors`), so the web
layer answers a wrong password, a lock or an ended session the same way whatever the
transport said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio

from vcc_proto.status import translate_rpc_errors
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

NOT_READY_REASONS = {
    "away": s.NOT_READY_REASON_AWAY,
    "break": s.NOT_READY_REASON_BREAK,
    "training": s.NOT_READY_REASON_TRAINING,
    "other": s.NOT_READY_REASON_OTHER,
}

CONSULT_MODES = {
    "transfer": s.CONSULT_MODE_TRANSFER,
    "conference": s.CONSULT_MODE_CONFERENCE,
    "cancel": s.CONSULT_MODE_CANCEL,
}


class DeskClient:
    """One channel to the site, shared by every signed-in agent of the pages."""

    def __init__(
        self, endpoint: str, tls: ClientTls | None = None, rpc_timeout_s: float = 10.0
    ) -> None:
        self.endpoint = endpoint
        self.rpc_timeout_s = rpc_timeout_s
        self._channel = (
            grpc.aio.insecure_channel(endpoint) if tls is None else tls.channel(endpoint)
        )
        self.stub = sg.AgentDeskStub(self._channel)
        self.orders = sg.WorkOrdersStub(self._channel)
        self.people = pg.PeopleStub(self._channel)
        self.remote = sg.RemoteStub(self._channel)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel to the site (the other services' clients share it)."""
        return self._channel

    # -- the person (People): sign-in, the first-sign-in password change, sign-out --------

    async def sign_in(self, person_id: str, password: str) -> p.SignInReply:
        with translate_rpc_errors():
            reply: p.SignInReply = await self.people.SignIn(
                p.SignInRequest(person_id=person_id, password=password),
                timeout=self.rpc_timeout_s,
            )
        return reply

    async def change_password(self, bearer: str, old: str, new: str) -> p.SignInReply:
        """A new password; the person's sessions end and a new one is returned."""
        with translate_rpc_errors():
            reply: p.SignInReply = await self.people.ChangePassword(
                p.ChangePasswordRequest(old_password=old, new_password=new),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def sign_out(self, bearer: str) -> None:
        with translate_rpc_errors():
            await self.people.SignOut(
                p.SignOutRequest(), timeout=self.rpc_timeout_s, metadata=_bearer(bearer)
            )

    async def who_am_i(self, bearer: str) -> p.PersonView:
        with translate_rpc_errors():
            reply: p.PersonView = await self.people.WhoAmI(
                p.WhoAmIRequest(), timeout=self.rpc_timeout_s, metadata=_bearer(bearer)
            )
        return reply

    # -- the wallboard (team leaders) -------------------------------------------------------

    async def watch_board(self, bearer: str) -> AsyncIterator[s.SiteBoard]:
        """The site's boards as it changes, as the bearer (errors translated)."""
        with translate_rpc_errors():
            async for board in self.remote.WatchBoard(
                s.WatchBoardRequest(), metadata=_bearer(bearer)
            ):
                yield board

    async def supervise(
        self, bearer: str, agent_id: str, action: str, reason: str, supervisor_id: str
    ) -> s.SuperviseReply:
        """A team leader's action on an agent (``force_not_ready``, ``force_sign_out``,
        ``listen``, ``whisper``, ``barge_in``), as the bearer."""
        request = s.SuperviseRequest(
            agent_id=agent_id,
            action=s.SuperviseAction.Value(f"SUPERVISE_ACTION_{action.upper()}"),
            reason=reason,
            supervisor_id=supervisor_id,
        )
        with translate_rpc_errors():
            reply: s.SuperviseReply = await self.remote.Supervise(
                request, timeout=self.rpc_timeout_s, metadata=_bearer(bearer)
            )
        return reply

    async def unlock(self, bearer: str, person_id: str) -> p.PersonView:
        """Lift the lock of a person's repeated failed sign-ins, as the bearer."""
        with translate_rpc_errors():
            reply: p.PersonView = await self.people.Unlock(
                p.PersonRef(person_id=person_id),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    # -- shift handover (team leaders) ------------------------------------------------------

    async def handovers(self, bearer: str, limit: int = 20) -> list[s.HandoverView]:
        with translate_rpc_errors():
            reply: s.ListHandoversReply = await self.orders.ListHandovers(
                s.ListHandoversRequest(limit=limit),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return list(reply.handovers)

    async def create_handover(self, bearer: str, outgoing: str, notes: str) -> s.HandoverView:
        """The outgoing leader's handover (the site lists the unfinished work)."""
        with translate_rpc_errors():
            reply: s.HandoverView = await self.orders.CreateHandover(
                s.CreateHandoverRequest(outgoing_leader=outgoing, notes=notes),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def acknowledge_handover(
        self, bearer: str, handover_id: str, incoming: str
    ) -> s.HandoverView:
        with translate_rpc_errors():
            reply: s.HandoverView = await self.orders.AcknowledgeHandover(
                s.AcknowledgeHandoverRequest(handover_id=handover_id, incoming_leader=incoming),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    # -- the seat (AgentDesk) -----------------------------------------------------------------

    async def login(self, agent_id: str, password: str, device: str) -> s.LoginReply:
        with translate_rpc_errors():
            reply: s.LoginReply = await self.stub.Login(
                s.LoginRequest(agent_id=agent_id, password=password, device=device),
                timeout=self.rpc_timeout_s,
            )
        return reply

    async def logout(self, token: str) -> s.AgentStatus:
        with translate_rpc_errors():
            reply: s.AgentStatus = await self.stub.Logout(
                s.SessionRef(session_token=token), timeout=self.rpc_timeout_s
            )
        return reply

    async def set_ready(self, token: str) -> s.AgentStatus:
        with translate_rpc_errors():
            reply: s.AgentStatus = await self.stub.SetReady(
                s.SessionRef(session_token=token), timeout=self.rpc_timeout_s
            )
        return reply

    async def set_not_ready(self, token: str, reason: str) -> s.AgentStatus:
        with translate_rpc_errors():
            reply: s.AgentStatus = await self.stub.SetNotReady(
                s.SetNotReadyRequest(session_token=token, reason=NOT_READY_REASONS[reason]),
                timeout=self.rpc_timeout_s,
            )
        return reply

    async def call_action(self, action: str, token: str, call_id: str) -> s.CallView:
        """``answer``, ``hold``, ``resume`` or ``hangup`` on one call."""
        method = {
            "answer": self.stub.Answer,
            "hold": self.stub.Hold,
            "resume": self.stub.Resume,
            "hangup": self.stub.HangUp,
        }[action]
        with translate_rpc_errors():
            reply: s.CallView = await method(
                s.CallAction(session_token=token, call_id=call_id), timeout=self.rpc_timeout_s
            )
        return reply

    async def wrap_up(self, token: str, call_id: str, disposition: str, notes: str) -> None:
        with translate_rpc_errors():
            await self.stub.WrapUp(
                s.WrapUpRequest(
                    session_token=token, call_id=call_id, disposition=disposition, notes=notes
                ),
                timeout=self.rpc_timeout_s,
            )

    async def transfer(
        self,
        token: str,
        call_id: str,
        site_id: str,
        business_id: str,
        note: str,
        agent_id: str = "",
    ) -> c.TransferResult:
        """Blind transfer to a named agent (wherever they work), else to a business at
        ``site_id`` (empty: the hub chooses)."""
        target = (
            c.TransferTarget(agent_id=agent_id)
            if agent_id
            else c.TransferTarget(site_id=site_id, business_id=business_id)
        )
        request = s.TransferRequest(session_token=token, call_id=call_id, target=target, note=note)
        with translate_rpc_errors():
            reply: c.TransferResult = await self.stub.Transfer(
                request, timeout=max(self.rpc_timeout_s, 30.0)
            )
        return reply

    async def consult(
        self, token: str, call_id: str, site_id: str, business_id: str, note: str, agent_id: str
    ) -> c.TransferResult:
        """Hold the caller and open a consult leg to a named agent or a business."""
        target = (
            c.TransferTarget(agent_id=agent_id)
            if agent_id
            else c.TransferTarget(site_id=site_id, business_id=business_id)
        )
        request = s.TransferRequest(session_token=token, call_id=call_id, target=target, note=note)
        with translate_rpc_errors():
            reply: c.TransferResult = await self.stub.Consult(
                request, timeout=max(self.rpc_timeout_s, 30.0)
            )
        return reply

    async def consult_complete(self, token: str, call_id: str, mode: str) -> s.CallView:
        """End the consultation: ``transfer``, ``conference`` or ``cancel``."""
        request = s.ConsultCompleteRequest(
            session_token=token, call_id=call_id, mode=CONSULT_MODES[mode]
        )
        with translate_rpc_errors():
            reply: s.CallView = await self.stub.ConsultComplete(
                request, timeout=max(self.rpc_timeout_s, 30.0)
            )
        return reply

    async def my_day(self, token: str) -> s.AgentDay:
        with translate_rpc_errors():
            reply: s.AgentDay = await self.stub.GetMyDay(
                s.SessionRef(session_token=token), timeout=self.rpc_timeout_s
            )
        return reply

    async def ready_where(self, token: str) -> s.ReadyWhereReply:
        with translate_rpc_errors():
            reply: s.ReadyWhereReply = await self.stub.GetReadyWhere(
                s.SessionRef(session_token=token), timeout=self.rpc_timeout_s
            )
        return reply

    async def recent_calls(self, token: str, call_id: str) -> list[s.RecentCall]:
        with translate_rpc_errors():
            reply: s.RecentCallsReply = await self.stub.GetRecentCalls(
                s.CallAction(session_token=token, call_id=call_id), timeout=self.rpc_timeout_s
            )
        return list(reply.calls)

    async def work_orders(self, bearer: str, state: str) -> list[s.WorkOrder]:
        """The site's open orders in ``state``, as the person ``bearer``."""
        with translate_rpc_errors():
            reply: s.ListWorkOrdersReply = await self.orders.List(
                s.ListWorkOrdersRequest(open_only=True, state=state),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return list(reply.orders)

    async def create_work_order(
        self, token: str, call_id: str, fields: dict[str, str]
    ) -> s.WorkOrder:
        """An order on the call's business form (validated by the site, field by field)."""
        with translate_rpc_errors():
            reply: s.WorkOrder = await self.orders.Create(
                s.CreateWorkOrderRequest(session_token=token, call_id=call_id, fields=fields),
                timeout=self.rpc_timeout_s,
            )
        return reply

    async def events(self, token: str) -> AsyncIterator[s.AgentEvent]:
        """The session's event stream until the session ends (errors translated)."""
        with translate_rpc_errors():
            async for event in self.stub.Events(s.SessionRef(session_token=token)):
                yield event

    async def close(self) -> None:
        await self._channel.close()


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)
