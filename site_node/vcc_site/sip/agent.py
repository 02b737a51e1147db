"""The site's side of its SIP agent: SIP calls driven through the site's own gRPC API.

A caller's INVITE becomes ``Access.OfferCall`` (the path every call takes), the caller's
keys are gathered per collect step and sent with ``Access.SendDigits``, and the caller's
hang-up is ``Access.HangUp``: the IVR's logic, the ACD and the call's state stay in the
site. Each agent phone served here is an agent desk session (``AgentDesk.Login`` with the
device ``sip:<agent>``): the ACD's ``Offer`` rings the phone, its answer is
``AgentDesk.Answer``, its hang-up ``AgentDesk.HangUp`` and a wrap-up, and a call taken
away (ring-no-answer, the caller hung up) stops the ringing or releases the phone.

Over mutual TLS the two sides present different identities: the callers' side the
process's own (an ``edge`` certificate: the site trusts a caller's number only from an
access edge), the phones' desk sessions ``desk_tls`` (an ``ops`` gateway carrying each
person's session, as the web desk does).

Runs on an asyncio loop in its own thread; SIP events arrive through the :class:`Calls`
methods (called on the SIP thread) and SIP actions go back through ``sip_call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from vcc_domain.errors import Unavailable
from vcc_failover.sites import SiteEndpoints
from vcc_proto.channels import ChannelPool
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.sip.dtmf import Collector
from vcc_site.sip.ua import CallerLeg, PhoneLeg

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 5.0
NOT_RINGING = frozenset({s.AGENT_STATE_READY, s.AGENT_STATE_NOT_READY, s.AGENT_STATE_LOGGED_OUT})
FOLLOW_EVERY_S = 0.5  # how often a transferred call is read at the site that has it
NOT_THERE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
SipCall = Callable[..., None]


@dataclass
class SipCallState:
    leg: CallerLeg
    keys: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    phone: PhoneLeg | None = None
    task: asyncio.Task[None] | None = None


@dataclass
class Phone:
    agent_id: str
    password: str
    token: str = ""
    task: asyncio.Task[None] | None = None
    legs: dict[str, PhoneLeg] = field(default_factory=dict)  # by call ID
    # the desk's actions on a call in the order the phone asked for them
    acting: asyncio.Lock = field(default_factory=asyncio.Lock)


class SiteSipAgent:
    """One site's SIP calls and agent phones (see the module's docstring)."""

    def __init__(
        self,
        site_target: str,
        phones: dict[str, str],
        stack_factory: Any,
        sites: SiteEndpoints | None = None,
        desk_tls: ClientTls | None = None,
    ) -> None:
        self.site_target = site_target
        self.sites = sites  # other sites' gRPC endpoints (following transferred calls)
        self.phones = {a: Phone(a, pw) for a, pw in phones.items()}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pool = ChannelPool()  # the callers' side: the process's (edge) identity
        self._desk_pool = ChannelPool(desk_tls)  # the phones' desk sessions
        self.calls: dict[str, SipCallState] = {}  # by site call ID
        self._legs: dict[int, SipCallState] = {}  # by id(leg), before the site has it
        self._stack_factory = stack_factory
        self.stack: Any = None
        self.sip_call: SipCall = lambda fn, *args: None
        self._tasks: set[asyncio.Future[None]] = set()

    # -- life cycle (asyncio thread) ----------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.access = sg.AccessStub(self._pool.get(self.site_target))
        self.desk = sg.AgentDeskStub(self._desk_pool.get(self.site_target))
        for phone in self.phones.values():
            await self._sign_in(phone)
            phone.task = asyncio.create_task(self._watch(phone))

    async def close(self) -> None:
        for phone in self.phones.values():
            if phone.task is not None:
                phone.task.cancel()
            if phone.token:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self.desk.Logout(s.SessionRef(session_token=phone.token), timeout=2)
        await self._pool.close()
        await self._desk_pool.close()

    async def _sign_in(self, phone: Phone) -> None:
        reply = await self.desk.Login(
            s.LoginRequest(
                agent_id=phone.agent_id, password=phone.password, device=f"sip:{phone.agent_id}"
            ),
            timeout=RPC_TIMEOUT_S,
        )
        phone.token = reply.session_token
        await self.desk.SetReady(s.SessionRef(session_token=phone.token), timeout=RPC_TIMEOUT_S)
        log.info("agent %s's SIP phone signed in and ready", phone.agent_id)

    # -- from SIP (SIP thread: hand over to the loop) -------------------------------

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def caller_arrived(self, leg: CallerLeg, caller: str, dialed: str) -> None:
        self._on_loop(self._arrived, leg, caller, dialed)

    def caller_key(self, leg: CallerLeg, key: str) -> None:
        self._on_loop(self._key, leg, key)

    def caller_gone(self, leg: CallerLeg) -> None:
        self._on_loop(self._caller_gone, leg)

    def phone_answered(self, leg: PhoneLeg) -> None:
        self._on_loop(lambda: self._spawn(self._answered(leg)))

    def phone_gone(self, leg: PhoneLeg, code: int) -> None:
        self._on_loop(lambda: self._spawn(self._phone_gone(leg, code)))

    def phone_held(self, leg: PhoneLeg, held: bool) -> None:
        self._on_loop(lambda: self._spawn(self._hold(leg, held)))

    def phone_transferred(self, leg: PhoneLeg, target: str) -> None:
        self._on_loop(lambda: self._spawn(self._transfer(leg, target)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping a reference until it is done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- callers (asyncio thread) ---------------------------------------------------

    def _arrived(self, leg: CallerLeg, caller: str, dialed: str) -> None:
        state = SipCallState(leg)
        self._legs[id(leg)] = state
        state.task = asyncio.create_task(self._run_call(state, caller, dialed))

    def _key(self, leg: CallerLeg, key: str) -> None:
        state = self._legs.get(id(leg))
        if state is not None:
            state.keys.put_nowait(key)

    def _caller_gone(self, leg: CallerLeg) -> None:
        state = self._legs.pop(id(leg), None)
        if state is None:
            return
        if state.task is not None and not state.task.done():
            state.task.cancel()
        if leg.call_id:
            self._spawn(self._hang_up_at_site(leg.call_id))

    async def _hang_up_at_site(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        try:
            await self.access.HangUp(s.CallRef(call_id=call_id), timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            log.info("hang-up of %s at the site: %s", call_id, exc.code().name)

    async def _run_call(self, state: SipCallState, caller: str, dialed: str) -> None:
        leg = state.leg
        try:
            step = await self.access.OfferCall(
                s.OfferCallRequest(caller_number=caller, dialed_code=dialed),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            code, reason = (503, "Site Unavailable") if exc.code() in NOT_THERE else (404, "")
            log.info("call from the edge not taken: %s", exc.code().name)
            self._legs.pop(id(leg), None)
            self.sip_call(leg.refuse, code, reason or "Not Taken")
            return
        leg.call_id = step.call_id
        self.calls[step.call_id] = state
        log.info("SIP call taken by the site as %s (dialed %s)", step.call_id, dialed)
        self.sip_call(leg.answer)
        while step.WhichOneof("next") == "collect":
            log.debug("call %s at IVR node %s", step.call_id, step.ivr_node_id)
            digits = await self._collect(state, step.collect)
            step = await self.access.SendDigits(
                s.SendDigitsRequest(call_id=step.call_id, digits=digits), timeout=RPC_TIMEOUT_S
            )
        if step.WhichOneof("next") == "ended":
            self._legs.pop(id(leg), None)
            self.calls.pop(step.call_id, None)
            self.sip_call(leg.hang_up)
        # queued or offered: the ACD's offer rings an agent's phone (see _watch)

    async def _collect(self, state: SipCallState, collect: s.Collect) -> str:
        """The caller's keys for one collect step ("" when the caller keyed nothing in
        the step's time)."""
        gathered = Collector(collect.max_digits, collect.terminator)
        timeout = collect.timeout_ms / 1000 if collect.timeout_ms > 0 else None
        while True:
            try:
                key = await asyncio.wait_for(state.keys.get(), timeout)
            except TimeoutError:
                return gathered.digits
            if gathered.add(key):
                return gathered.digits

    # -- agents' phones (asyncio thread) ---------------------------------------------

    async def _watch(self, phone: Phone) -> None:
        """Follow the agent's desk events: offers ring the phone, calls taken away
        release it."""
        while True:
            try:
                stream = self.desk.Events(s.SessionRef(session_token=phone.token))
                async for event in stream:
                    self._desk_event(phone, event)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.warning("agent %s's events: %s; again", phone.agent_id, exc.code().name)
            await asyncio.sleep(0.5)

    def _desk_event(self, phone: Phone, event: s.AgentEvent) -> None:
        which = event.WhichOneof("event")
        if which == "offer":
            self._ring(phone, event.offer.call_id)
        elif which == "agent_state" and event.agent_state.state in NOT_RINGING:
            self._stop_ringing(phone)  # the offer was taken back (ring-no-answer)
        elif which == "call_state":
            self._call_changed(phone, event.call_state)

    def _stop_ringing(self, phone: Phone) -> None:
        for call_id, ringing in list(phone.legs.items()):
            if not ringing.answered:
                phone.legs.pop(call_id, None)
                self.sip_call(ringing.hang_up)

    def _call_changed(self, phone: Phone, changed: s.CallStateChanged) -> None:
        """Release the phone when its call ended, or stop it ringing when the call is no
        longer offered to it."""
        leg = phone.legs.get(changed.call_id)
        if leg is None:
            return
        ringing_over = not leg.answered and changed.state != c.CALL_STATE_OFFERED
        if changed.state == c.CALL_STATE_ENDED or ringing_over:
            phone.legs.pop(changed.call_id, None)
            self.sip_call(leg.hang_up)

    def _ring(self, phone: Phone, call_id: str) -> None:
        state = self.calls.get(call_id)
        caller = state.leg.caller if state is not None else "vcc"
        leg = PhoneLeg(self.stack, phone.agent_id, call_id)
        phone.legs[call_id] = leg
        if state is not None:
            state.phone = leg
        log.debug("ringing agent %s's phone for call %s", phone.agent_id, call_id)
        self.sip_call(leg.ring, caller)

    async def _answered(self, leg: PhoneLeg) -> None:
        phone = self.phones[leg.agent_id]
        try:
            async with phone.acting:
                await self.desk.Answer(
                    s.CallAction(session_token=phone.token, call_id=leg.call_id),
                    timeout=RPC_TIMEOUT_S,
                )
            state = self.calls.get(leg.call_id)
            if state is not None:
                self.sip_call(state.leg.record, leg.agent_id)
        except grpc.aio.AioRpcError as exc:  # the offer was taken back meanwhile
            log.info("answer of %s refused: %s", leg.call_id, exc.code().name)
            phone.legs.pop(leg.call_id, None)
            self.sip_call(leg.hang_up)

    async def _hold(self, leg: PhoneLeg, held: bool) -> None:
        """The phone put the call on hold (send-only/inactive media) or took it back."""
        phone = self.phones[leg.agent_id]
        action = s.CallAction(session_token=phone.token, call_id=leg.call_id)
        async with phone.acting:
            try:
                if held:
                    await self.desk.Hold(action, timeout=RPC_TIMEOUT_S)
                else:
                    await self.desk.Resume(action, timeout=RPC_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                log.info("%s of %s: %s", "hold" if held else "resume", leg.call_id, exc.code().name)

    async def _phone_gone(self, leg: PhoneLeg, code: int) -> None:
        phone = self.phones[leg.agent_id]
        log.debug(
            "agent %s's phone released call %s (%s)", leg.agent_id, leg.call_id, code or "bye"
        )
        if phone.legs.pop(leg.call_id, None) is None or not leg.answered:
            return  # released by us, or never answered (the ACD's ring timer decides)
        action = s.CallAction(session_token=phone.token, call_id=leg.call_id)
        try:
            async with phone.acting:
                await self.desk.HangUp(action, timeout=RPC_TIMEOUT_S)
            await self.desk.WrapUp(
                s.WrapUpRequest(session_token=phone.token, call_id=leg.call_id, disposition=""),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            log.info("agent hang-up of %s: %s", leg.call_id, exc.code().name)
        state = self.calls.pop(leg.call_id, None)
        if state is not None:
            self._legs.pop(id(state.leg), None)
            self.sip_call(state.leg.hang_up)

    # -- blind transfer from the phone (REFER) ------------------------------------------

    async def _transfer(self, leg: PhoneLeg, target: str) -> None:
        """The agent's phone REFERred the call to ``SITE`` or ``SITE.business``: the
        site's transfer (the call keeps its ID), then the caller's line is held here
        until the call ends at the site that has it."""
        phone = self.phones[leg.agent_id]
        phone.legs.pop(leg.call_id, None)
        site_id, _, business = target.partition(".")
        request = s.TransferRequest(
            session_token=phone.token,
            call_id=leg.call_id,
            target=c.TransferTarget(site_id=site_id, business_id=business),
        )
        try:
            async with phone.acting:  # after the answer the phone gave before its REFER
                result = await self.desk.Transfer(request, timeout=RPC_TIMEOUT_S * 2)
            await self.desk.WrapUp(
                s.WrapUpRequest(session_token=phone.token, call_id=leg.call_id, disposition=""),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("transfer of %s to %s: %s", leg.call_id, target, exc.code().name)
            return
        log.info("call %s transferred to %s: %s", leg.call_id, target, result.outcome)
        if result.outcome == c.TransferResult.OUTCOME_ACCEPTED:
            self._spawn(self._follow(leg.call_id, result.site_id or site_id))

    async def _follow(self, call_id: str, site_id: str) -> None:
        """Hold the caller's line until the call ends at ``site_id``, then release it."""
        while call_id in self.calls:
            try:
                if self.sites is None:
                    raise LookupError("no etcd to find the other site")
                stub = sg.AccessStub(self._pool.get(await self.sites.endpoint(site_id)))
                view = await stub.GetCall(s.CallRef(call_id=call_id), timeout=RPC_TIMEOUT_S)
                if view.state == c.CALL_STATE_ENDED:
                    break
            except (grpc.aio.AioRpcError, LookupError, Unavailable) as exc:
                log.info("following %s at %s: %s", call_id, site_id, exc)
            await asyncio.sleep(FOLLOW_EVERY_S)
        state = self.calls.pop(call_id, None)
        if state is not None:
            self._legs.pop(id(state.leg), None)
            self.sip_call(state.leg.hang_up)
