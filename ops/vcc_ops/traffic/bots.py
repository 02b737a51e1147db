"""Agent bots: simulated agents working their desks over the real ``AgentDesk`` API.

A bot logs in with its ID and password, listens to its event stream, and for every offer
waits a ring delay, answers, talks for the caller's handle time, hangs up (or, for a
share of calls, transfers the caller to another city and is released when that site
accepts), does after-call work, wraps up, and now and then takes a break. Every delay is
in province time, slept as ``t / speed`` wall seconds.

Shared with the callers (same process): ``answered[call_id]`` is set when an agent
answers, so a waiting caller stops counting patience; a bot that ends a call tells the
access edge process (``edge.ended``), as the switch would see the line released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import grpc.aio

from vcc_domain.province import Agent, Province
from vcc_ops.traffic.orders import WorkOrderDesk
from vcc_ops.traffic.plan import PlannedCall, TrafficConfig
from vcc_ops.traffic.ratings import asks_for_rating, caller_rates
from vcc_ops.traffic.seat import open_seat
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.edge.client import EdgeClient

log = logging.getLogger(__name__)
DEMO_PASSWORD = "vcc-demo-2026"
GONE = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND})


@dataclass
class Shared:
    """What callers and bots of one traffic run share."""

    config: TrafficConfig
    province: Province
    edge: EdgeClient
    rng: random.Random
    answered: dict[str, asyncio.Event] = field(default_factory=dict)
    plans: dict[str, PlannedCall] = field(default_factory=dict)
    answered_at: dict[str, str] = field(default_factory=dict)  # call -> site that answered
    overflowed: set[str] = field(default_factory=set)  # calls answered after an overflow
    counters: Counter[str] = field(default_factory=Counter)
    orders: WorkOrderDesk | None = None
    errors: list[str] = field(default_factory=list)
    # monotonic time a bot first read an offer of the call, and the time just before the
    # caller's request that put it in the queue was sent (offer-to-agent latency)
    offer_seen_at: dict[str, float] = field(default_factory=dict)
    queued_at: dict[str, float] = field(default_factory=dict)
    # each agent's password (the initial secrets of the province's start); else DEMO_PASSWORD
    passwords: dict[str, str] = field(default_factory=dict)

    def answered_event(self, call_id: str) -> asyncio.Event:
        event = self.answered.get(call_id)
        if event is None:
            event = self.answered[call_id] = asyncio.Event()
        return event

    def error(self, what: str) -> None:
        self.counters["bot_errors"] += 1
        if len(self.errors) < 50:
            self.errors.append(what)


class AgentBot:
    def __init__(
        self,
        agent: Agent,
        site: str,
        stub: sg.AgentDeskStub,
        shared: Shared,
        people: pg.PeopleStub | None = None,
    ) -> None:
        self.agent = agent
        self.site = site
        self.stub = stub
        self.people = people  # to change an initial password (a checked site asks first)
        self.shared = shared
        self.token = ""
        self.state = "logged_out"  # ready | busy | wrap_up | not_ready | logged_out
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, password: str | None = None) -> None:
        password = password or self.shared.passwords.get(self.agent.id, DEMO_PASSWORD)
        reply, used = await open_seat(
            self.stub, self.people, self.agent.id, password, f"bot-{self.agent.id}"
        )
        self.shared.passwords[self.agent.id] = used
        self.token = reply.session_token
        self._spawn(self._listen())
        await self.stub.SetReady(s.SessionRef(session_token=self.token), timeout=10)
        self.state = "ready"

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _listen(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for event in self.stub.Events(s.SessionRef(session_token=self.token)):
                if event.HasField("offer"):
                    self.shared.offer_seen_at.setdefault(event.offer.call_id, time.monotonic())
                    self._spawn(self._serve(event.offer))
                elif (
                    event.HasField("agent_state")
                    and event.agent_state.state == s.AGENT_STATE_NOT_READY
                    and event.agent_state.not_ready_reason == s.NOT_READY_REASON_RING_NO_ANSWER
                ):
                    # the site made us not-ready (we answered too late): back to work
                    self.shared.counters["ring_no_answer"] += 1
                    self._spawn(self._ready_again())
        self.state = "logged_out"

    async def _ready_again(self) -> None:
        await self._sleep(self.shared.config.ring_s)
        try:
            await self.stub.SetReady(s.SessionRef(session_token=self.token), timeout=10)
            self.state = "ready"
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in GONE:
                self.shared.error(f"{self.agent.id} ready again: {exc.code().name}")

    def _act(self, call_id: str) -> s.CallAction:
        return s.CallAction(session_token=self.token, call_id=call_id)

    async def _sleep(self, province_s: float) -> None:
        await asyncio.sleep(self.shared.config.wall(province_s))

    async def _serve(self, offer: s.Offer) -> None:
        if offer.screen_pop.attached_data.get("direction") == "callback":
            await self._call_back(offer)
            return
        shared, cfg, call_id = self.shared, self.shared.config, offer.call_id
        self.state = "busy"
        try:
            await self._sleep(cfg.ring_s * (0.5 + shared.rng.random()))
            try:
                await self.stub.Answer(self._act(call_id), timeout=10)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in GONE:  # gone = the caller left or the ring timed out
                    shared.error(f"{self.agent.id} answer {call_id}: {exc.code().name}")
                shared.counters["answer_too_late"] += 1
                self.state = "ready"
                return
            shared.counters["answered"] += 1
            shared.answered_at[call_id] = self.site
            if offer.kind == c.LEG_KIND_OVERFLOW:
                shared.overflowed.add(call_id)
            shared.answered_event(call_id).set()
            plan = shared.plans.get(call_id)
            handle = plan.handle_s if plan else cfg.handle_s
            transfer = plan is not None and plan.transfer and offer.kind == c.LEG_KIND_INITIAL
            if transfer:
                await self._sleep(handle * 0.3)
                if await self._transfer(call_id, offer.screen_pop.business_id):
                    await self._wrap_up(call_id, "transferred")
                    return
                handle *= 0.7
            await self._sleep(handle)
            try:
                await self.stub.HangUp(self._act(call_id), timeout=10)
                await shared.edge.ended(call_id, "END_REASON_AGENT_HANGUP")
                if asks_for_rating(shared, offer.screen_pop.business_id):
                    self._spawn(caller_rates(shared, call_id))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in GONE:
                    shared.error(f"{self.agent.id} hang up {call_id}: {exc.code().name}")
            business = offer.screen_pop.business_id
            if (
                shared.orders is not None
                and shared.orders.has_form(business)
                and shared.rng.random() < cfg.work_order_share
            ):
                await shared.orders.create(self.site, self.token, call_id, business, self.agent.id)
                await self._wrap_up(call_id, "work_order")
                return
            await self._wrap_up(call_id, "resolved")
        except grpc.aio.AioRpcError as exc:
            shared.error(f"{self.agent.id} {call_id}: {exc.code().name} {exc.details()}")
        except asyncio.CancelledError:
            raise

    async def _call_back(self, offer: s.Offer) -> None:
        """A callback the site offers: answer (the network dials the customer), talk,
        hang up and wrap up with the outcome, which the site records on the order."""
        shared, cfg, call_id = self.shared, self.shared.config, offer.call_id
        self.state = "busy"
        try:
            await self._sleep(cfg.ring_s * (0.5 + shared.rng.random()))
            try:
                await self.stub.Answer(self._act(call_id), timeout=10)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in GONE:
                    shared.error(f"{self.agent.id} answer callback {call_id}: {exc.code().name}")
                self.state = "ready"
                return
            shared.counters["callbacks_answered"] += 1
            reached = shared.rng.random() < cfg.callback_reach_share
            await self._sleep(cfg.handle_s * 0.5 if reached else cfg.ring_s * 5)
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.stub.HangUp(self._act(call_id), timeout=10)
            await self._wrap_up(call_id, "customer satisfied" if reached else "no answer")
        except grpc.aio.AioRpcError as exc:
            shared.error(f"{self.agent.id} callback {call_id}: {exc.code().name} {exc.details()}")

    async def _transfer(self, call_id: str, business_id: str) -> bool:
        shared = self.shared
        try:
            business = shared.province.business(business_id)
        except Exception:
            return False
        others = [x for x in business.accepting_sites if x != self.site]
        if not others:
            return False
        target = c.TransferTarget(site_id=shared.rng.choice(others), business_id=business_id)
        result = await self.stub.Transfer(
            s.TransferRequest(
                session_token=self.token,
                call_id=call_id,
                target=target,
                note=f"demo transfer by {self.agent.id}",
            ),
            timeout=15,
        )
        outcome = c.TransferResult.Outcome.Name(result.outcome)
        shared.counters[f"transfer_{outcome.removeprefix('OUTCOME_').lower()}"] += 1
        return bool(result.outcome == c.TransferResult.OUTCOME_ACCEPTED)

    async def _wrap_up(self, call_id: str, disposition: str) -> None:
        shared, cfg = self.shared, self.shared.config
        self.state = "wrap_up"
        await self._sleep(shared.rng.expovariate(1 / cfg.acw_s) if cfg.acw_s > 0 else 0.0)
        try:
            await self.stub.WrapUp(
                s.WrapUpRequest(session_token=self.token, call_id=call_id, disposition=disposition),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in GONE:  # the site's wrap-up timer may have been first
                shared.error(f"{self.agent.id} wrap up {call_id}: {exc.code().name}")
        if shared.rng.random() < cfg.break_share:
            self.state = "not_ready"
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.stub.SetNotReady(
                    s.SetNotReadyRequest(session_token=self.token, reason=s.NOT_READY_REASON_BREAK),
                    timeout=10,
                )
                shared.counters["breaks"] += 1
                await self._sleep(shared.rng.expovariate(1 / cfg.break_s))
                await self.stub.SetReady(s.SessionRef(session_token=self.token), timeout=10)
        self.state = "ready"

    async def stop(self, logout: bool = True) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        if logout and self.token:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.stub.Logout(s.SessionRef(session_token=self.token), timeout=5)
        self.state = "logged_out"


def call_takers(province: Province, site: str, limit: int | None = None) -> list[Agent]:
    """The agents of a site who take calls, in directory order."""
    agents = [a for a in province.agents_at(site) if a.takes_calls]
    return agents[:limit] if limit is not None else agents


class BotPool:
    """The bots of every site; a site's bots can be dropped and logged in again."""

    def __init__(
        self,
        shared: Shared,
        endpoint_of: Callable[[str], str],
        agents_per_site: int | None = None,
        login_concurrency: int = 8,
    ) -> None:
        self.shared = shared
        self.endpoint_of = endpoint_of
        self.agents_per_site = agents_per_site
        self.login_concurrency = login_concurrency
        self.bots: dict[str, list[AgentBot]] = {}
        self.channels: dict[str, grpc.aio.Channel] = {}

    async def start_site(self, site: str) -> int:
        channel = open_channel(self.endpoint_of(site))
        self.channels[site] = channel
        stub, people = sg.AgentDeskStub(channel), pg.PeopleStub(channel)
        bots = [
            AgentBot(a, site, stub, self.shared, people)
            for a in call_takers(self.shared.province, site, self.agents_per_site)
        ]
        gate = asyncio.Semaphore(self.login_concurrency)

        async def login(bot: AgentBot) -> None:
            async with gate:
                try:
                    await bot.start()
                except grpc.aio.AioRpcError as exc:
                    self.shared.error(f"login {bot.agent.id}: {exc.code().name} {exc.details()}")

        await asyncio.gather(*(login(b) for b in bots))
        self.bots[site] = [b for b in bots if b.token]
        return len(self.bots[site])

    async def stop_site(self, site: str, logout: bool = True) -> None:
        """Stop a site's bots (``logout=False`` when the site is dead)."""
        for bot in self.bots.pop(site, []):
            await bot.stop(logout)
        channel = self.channels.pop(site, None)
        if channel is not None:
            await channel.close()

    async def stop(self) -> None:
        for site in list(self.bots):
            await self.stop_site(site)

    def states(self, site: str) -> Counter[str]:
        return Counter(b.state for b in self.bots.get(site, []))
