"""A Hypothesis state machine over a whole site (ACD + live calls + desk + store + outbox).

The service-level counterpart of ``test_acd_statemachine.py``: the example province's
KM site is built in-process over a :class:`MemorySiteStore` whose reads yield to the
loop like a database's, and driven through :class:`AccessService` and
:class:`DeskService` with random offers (VIP, blacklist, high, middle and unknown
callers; through the IVR to the general or bill queue, staying in the IVR, invalid
keys), caller hang-ups (abandons in the IVR, in the queue, while ringing; ends of
connected calls), agent logins (right and wrong passwords), logouts, ready/not-ready,
answers, holds, hang-ups, transfers, explicit wrap-ups, and the ring-no-answer and
wrap-up timers fired by hand (their real delays are set far beyond a run). Some steps
run two operations concurrently (a hang-up racing an answer, ...).

Checked after every step: the ACD's own invariants; the service's view agrees with the
ACD's; no call is held by two agents, no agent holds two calls, and a call's agent holds
it; a live call's life has a current leg exactly while it rings or is answered; exactly the ringing calls have a ring timer and exactly the wrapping-up agents a
wrap-up timer; every offered call is either live or has exactly one CDR, one
``call.ended`` and one ``cdr.created`` event; the outbox is numbered 1..N without gaps;
no commit failed. A refused operation (an expected domain error) changed nothing.
At the end every live call is hung up and every offered call must have exactly one
terminal state, one CDR and one ``call.ended`` event.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from argon2 import PasswordHasher, Type
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.integration._helpers.site import with_test_password
from vcc_domain.clock import ManualClock
from vcc_domain.errors import Conflict, InvalidInput, Locked, NotFound, Unauthenticated
from vcc_domain.province import parse_province
from vcc_ops.cli import example_province_path
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.desk import DeskService
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.store.api import CdrRecord, CredentialRecord, UnitOfWork
from vcc_site.store.customers import phone_for
from vcc_site.store.memory import MemorySiteStore

SITE = "KM"
UNKNOWN_CALL = "call_" + "0" * 26  # well-formed, never offered
PASSWORD = "vcc-demo-2026"
NEVER_S = 100_000  # ring and wrap-up limits: no real timer fires during a run
EXPECTED = (Conflict, NotFound, InvalidInput, Unauthenticated, Locked)

GENERAL = ["KM-0131", "KM-0133", "KM-0134"]  # general agents, levels 3, 3, 5
BILLING = ["KM-0001", "KM-0009", "KM-0025"]  # billing specialists
AGENTS = [*GENERAL, *BILLING]
CALLERS = [phone_for("0871", i) for i in range(4)] + ["13700000001", "13700000002"]
#           vip, blacklist, high, middle                 strangers (ordinary)
CODES = ["1000", "1000", "1000", "1000", "170", "112", "99999"]  # 99999: unknown -> general
KEYS = ["0", "0", "0", "1", "1", "1", "9", "2", "5", "*", "42"]  # 0 agent, 1 bill, 9 invalid
RACE_OPS = [
    "answer",
    "caller_hang_up",
    "agent_hang_up",
    "transfer",
    "logout",
    "not_ready",
    "ring_timeout",
    "wrap_up",
    "hold",
]

_text = with_test_password(example_province_path().read_text())
_slow = _text.replace("ring_timeout_s = 12 ", f"ring_timeout_s = {NEVER_S} ", 1).replace(
    "wrapup_s = 60 ", f"wrapup_s = {NEVER_S} ", 1
)
assert _slow.count(str(NEVER_S)) == 2, "the example province's timer lines changed"
PROVINCE = parse_province(_slow, "yunnan (slow timers)")
# The real password, hashed with tiny argon2 parameters: the real verification path runs
# (argon2 reads its parameters from the hash) in well under a millisecond.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(PASSWORD)


class YieldingStore(MemorySiteStore):
    """A memory store whose reads suspend once, as a database's would; it records
    every commit that failed (which leaves memory and the store diverged)."""

    def __init__(self, site_id: str) -> None:
        super().__init__(site_id)
        self.failed_commits: list[BaseException] = []

    async def commit(self, uow: UnitOfWork) -> list[int]:
        try:
            return await super().commit(uow)
        except BaseException as exc:
            self.failed_commits.append(exc)
            raise

    async def call(self, call_id: str) -> Any:
        await asyncio.sleep(0)
        return await super().call(call_id)

    async def customer_by_phone(self, phone: str) -> Any:
        await asyncio.sleep(0)
        return await super().customer_by_phone(phone)

    async def credential(self, agent_id: str) -> Any:
        await asyncio.sleep(0)
        return await super().credential(agent_id)


class SiteMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.store = YieldingStore(SITE)
        self.fatal: list[BaseException] = []
        self.core = SiteCore(PROVINCE, SITE, self.store, self.clock, on_fatal=self.fatal.append)
        self.access = AccessService(self.core, SelfService(self.core))
        self.desk = DeskService(self.core)
        self.offered: list[str] = []  # every call id the site accepted, in order
        self.tokens: dict[str, str] = {}  # last token issued per agent (may be stale)
        self.loop.run_until_complete(self._seed())

    async def _seed(self) -> None:
        await seed_site(self.core, 8)
        await self.store.upsert_credentials([CredentialRecord(a, CHEAP_HASH) for a in AGENTS])

    # -- running on the machine's loop --------------------------------------------------

    def run(self, op: Callable[[], Awaitable[Any]]) -> Any:
        async def go() -> Any:
            return await op()

        return self.loop.run_until_complete(go())

    def drain(self) -> None:
        self.run(self.core.drain)

    def attempt(self, label: str, op: Callable[[], Awaitable[Any]]) -> Any:
        """Run one operation; an expected refusal must leave everything as it was."""
        self.drain()
        before = self.snapshot()
        try:
            result = self.run(op)
        except EXPECTED as exc:
            event(f"{label}: {type(exc).__name__}")
            self.drain()
            assert self.snapshot() == before, "a refused operation changed the state"
            return None
        event(f"{label}: done")
        self.drain()
        return result

    def fire(self, handler: Callable[[str, str], None], agent_id: str, call_id: str) -> None:
        """What a due timer does: ``SiteCore._fire`` on the loop (it swallows the
        Conflict/NotFound of a timer overtaken by events)."""

        async def go() -> None:
            self.core._fire(handler, agent_id, call_id)

        self.run(go)

    def snapshot(self) -> tuple[Any, ...]:
        core = self.core
        calls = tuple(
            sorted(
                (
                    c.call_id,
                    c.state,
                    c.agent_id,
                    c.acd_key,
                    c.business_id,
                    c.transferred,
                    c.hold_ms,
                    c.hold_started_ms,
                    len(c.legs),
                    c.leg,
                    c.ivr_path and tuple(c.ivr_path),
                )
                for c in core.calls.values()
            )
        )
        agents = tuple(
            sorted(
                (a.agent_id, a.state, a.reason, a.call_id, a.wrap_call_id, a.token)
                for a in core.agents.values()
            )
        )
        acd_agents = tuple(self.acd_agent(a) for a in AGENTS)
        acd_calls = tuple(core.acd.call(c.acd_key) for c in core.calls.values() if c.state != "ivr")
        tables = {
            name: dict(rows)
            for name, rows in self.store.tables.items()
            if name not in ("credentials", "audit")
        }  # a wrong password counts there
        return (
            calls,
            agents,
            acd_agents,
            acd_calls,
            core.acd.waiting,
            tuple(sorted(core._ring_timers)),
            tuple(sorted(core._wrap_timers)),
            tuple(sorted(core.sessions)),
            tables,
            len(self.store.outbox),
        )

    def acd_agent(self, agent_id: str) -> Any:
        try:
            return self.core.acd.agent(agent_id)
        except NotFound:
            return None

    # -- picking ------------------------------------------------------------------------

    def token(self, agent_id: str) -> str:
        agent = self.core.agents.get(agent_id)
        return agent.token if agent else self.tokens.get(agent_id, "")

    def pick_agent(self, data: st.DataObject, *states: str) -> str:
        """Mostly an agent in one of ``states`` (where the operation may succeed), else
        any agent of the pool (where it is usually refused)."""
        fitting = [
            a
            for a in AGENTS
            if (self.core.agents[a].state if a in self.core.agents else "logged_out") in states
        ]
        if fitting and data.draw(st.integers(0, 4), label="other agent") < 4:
            return data.draw(st.sampled_from(fitting), label="agent")
        return data.draw(st.sampled_from(AGENTS), label="agent")

    def pick_call(self, data: st.DataObject) -> str:
        """Any call ever offered (live or ended) or one the site never saw."""
        return data.draw(st.sampled_from([*self.offered, UNKNOWN_CALL]), label="call")

    def call_of(self, agent_id: str, data: st.DataObject, own: str) -> str:
        """The call an agent is on (``own``: "call_id" or "wrap_call_id") or any call."""
        agent = self.core.agents.get(agent_id)
        mine = getattr(agent, own) if agent else ""
        if mine and data.draw(st.integers(0, 4), label="other call") < 4:
            return str(mine)
        return self.pick_call(data)

    # -- operations ---------------------------------------------------------------------

    async def op_offer(self, caller: str, code: str, keys: list[str]) -> None:
        step = await self.access.offer_call(caller, code)
        self.offered.append(step.call_id)
        for key in keys:
            call = self.core.calls.get(step.call_id)
            if call is None or call.state != "ivr":
                break
            await self.access.send_digits(step.call_id, key)

    async def op_login(self, agent_id: str, password: str) -> None:
        agent = await self.desk.login(agent_id, password, device=f"test-{agent_id}")
        self.tokens[agent_id] = agent.token

    def ops(self, name: str, agent_id: str, call_id: str) -> Callable[[], Awaitable[Any]]:
        token, desk = self.token(agent_id), self.desk
        if name == "answer":
            return lambda: desk.answer(token, call_id)
        if name == "caller_hang_up":
            return lambda: self.access.hang_up(call_id)
        if name == "agent_hang_up":
            return lambda: desk.hang_up(token, call_id)
        if name == "transfer":
            return lambda: desk.transfer(token, call_id, business_id="bill", note="race")
        if name == "logout":
            return lambda: desk.logout(token)
        if name == "not_ready":
            return lambda: desk.set_not_ready(token, "break")
        if name == "wrap_up":
            agent = self.core.agents.get(agent_id)
            wrapping = agent.wrap_call_id if agent else ""
            return lambda: desk.wrap_up(token, wrapping or call_id, "done", "")
        if name == "hold":
            return lambda: desk.hold(token, call_id, on=True)
        assert name == "ring_timeout"

        async def ring_timeout() -> None:
            await asyncio.sleep(0)
            if call_id in self.core._ring_timers:  # it fires for the agent it rings at
                self.core._ring_timers[call_id].cancel()
                ringing_at = self.core.calls[call_id].agent_id
                self.core._fire(self.core._ring_expired, ringing_at, call_id)

        return ring_timeout

    # -- rules: callers -----------------------------------------------------------------

    @rule(
        caller=st.sampled_from(CALLERS),
        code=st.sampled_from(CODES),
        keys=st.lists(st.sampled_from(KEYS), max_size=3),
    )
    def offer(self, caller: str, code: str, keys: list[str]) -> None:
        before = len(self.offered)
        self.attempt("offer", lambda: self.op_offer(caller, code, keys))
        assert len(self.offered) == before + 1, "a well-formed offer was refused"

    @rule(caller=st.sampled_from(CALLERS), key=st.sampled_from(["0", "1"]))
    def caller_queues(self, caller: str, key: str) -> None:
        """Straight to an agent: 1000, then 0 (general business) or 1 (bill, billing)."""
        self.offer(caller, "1000", [key])

    @initialize(
        calls=st.lists(
            st.tuples(
                st.sampled_from(CALLERS),
                st.sampled_from(CODES),
                st.lists(st.sampled_from(KEYS), max_size=3),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def callers_waiting(self, calls: list[tuple[str, str, list[str]]]) -> None:
        """Callers already dialing when the run starts."""
        for caller, code, keys in calls:
            self.offer(caller, code, keys)

    @rule(
        caller=st.sampled_from(["", "12", "abc", "+86 871 1234"]),
        code=st.sampled_from(["1000", "1", "10a0"]),
    )
    def bad_offer(self, caller: str, code: str) -> None:
        self.attempt("bad_offer", lambda: self.access.offer_call(caller, code))

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data(), keys=st.sampled_from(KEYS))
    def digits(self, data: st.DataObject, keys: str) -> None:
        call_id = self.pick_call(data)
        self.attempt("digits", lambda: self.access.send_digits(call_id, keys))

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data())
    def caller_hangs_up(self, data: st.DataObject) -> None:
        live = [c for c in self.offered if c in self.core.calls]
        if live and data.draw(st.integers(0, 3), label="other call") < 3:
            call_id = data.draw(st.sampled_from(live), label="call")
        else:
            call_id = self.pick_call(data)
        call = self.core.calls.get(call_id)
        state = call.state if call else "gone"
        self.attempt(f"caller_hangs_up({state})", lambda: self.access.hang_up(call_id))

    # -- rules: agents ------------------------------------------------------------------

    @initialize(
        agents=st.lists(st.sampled_from(AGENTS), min_size=1, max_size=4, unique=True),
        ready=st.lists(st.booleans(), min_size=4, max_size=4),
    )
    def staff(self, agents: list[str], ready: list[bool]) -> None:
        """A shift starts: some agents log in, some of them become ready."""
        for agent_id, go in zip(agents, ready, strict=False):
            self.attempt("login", partial(self.op_login, agent_id, PASSWORD))
            if go:
                token = self.token(agent_id)
                self.attempt("ready", partial(self.desk.set_ready, token))

    @rule(data=st.data(), right=st.sampled_from([True, True, True, False]))
    def login(self, data: st.DataObject, right: bool) -> None:
        agent = self.pick_agent(data, "logged_out")
        password = PASSWORD if right else "not-the-password"
        self.attempt("login", lambda: self.op_login(agent, password))

    @rule(data=st.data())
    def logout(self, data: st.DataObject) -> None:
        token = self.token(self.pick_agent(data, "ready", "not_ready", "ringing", "busy"))
        self.attempt("logout", lambda: self.desk.logout(token))

    @rule(data=st.data())
    def ready(self, data: st.DataObject) -> None:
        token = self.token(self.pick_agent(data, "not_ready", "wrap_up"))
        self.attempt("ready", lambda: self.desk.set_ready(token))

    @rule(data=st.data(), reason=st.sampled_from(["away", "break", "training", "lunch"]))
    def not_ready(self, data: st.DataObject, reason: str) -> None:
        token = self.token(self.pick_agent(data, "ready", "ringing", "wrap_up"))
        self.attempt("not_ready", lambda: self.desk.set_not_ready(token, reason))

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        agent = self.pick_agent(data, "ringing")
        call_id, token = self.call_of(agent, data, "call_id"), self.token(agent)
        self.attempt("answer", lambda: self.desk.answer(token, call_id))

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data())
    def agent_hangs_up(self, data: st.DataObject) -> None:
        agent = self.pick_agent(data, "busy")
        call_id, token = self.call_of(agent, data, "call_id"), self.token(agent)
        self.attempt("agent_hangs_up", lambda: self.desk.hang_up(token, call_id))

    @precondition(lambda self: bool(self.offered))
    @rule(on=st.booleans(), data=st.data())
    def hold(self, on: bool, data: st.DataObject) -> None:
        agent = self.pick_agent(data, "busy")
        call_id, token = self.call_of(agent, data, "call_id"), self.token(agent)
        self.attempt(f"hold(on={on})", lambda: self.desk.hold(token, call_id, on=on))

    @precondition(lambda self: bool(self.offered))
    @rule(
        data=st.data(),
        business=st.sampled_from(["general", "bill", "bill", "", "no_such_business"]),
    )
    def transfer(self, data: st.DataObject, business: str) -> None:
        agent = self.pick_agent(data, "busy")
        call_id, token = self.call_of(agent, data, "call_id"), self.token(agent)
        self.attempt(
            f"transfer({business})",
            lambda: self.desk.transfer(token, call_id, business_id=business, note="please help"),
        )

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data())
    def wrap_up(self, data: st.DataObject) -> None:
        agent = self.pick_agent(data, "wrap_up")
        call_id, token = self.call_of(agent, data, "wrap_call_id"), self.token(agent)
        self.attempt("wrap_up", lambda: self.desk.wrap_up(token, call_id, "resolved", "notes"))

    # -- rules: timers ------------------------------------------------------------------

    @precondition(lambda self: bool(self.core._ring_timers))
    @rule(data=st.data())
    def ring_no_answer(self, data: st.DataObject) -> None:
        """The ring timer of a ringing call fires: the agent goes not-ready, the call
        goes back to the head of its class (and may ring elsewhere at once)."""
        call_id = data.draw(
            st.sampled_from([c for c in self.offered if c in self.core._ring_timers]), label="call"
        )
        agent_id = self.core.calls[call_id].agent_id
        assert self.core.agents[agent_id].state == "ringing"
        self.core._ring_timers[call_id].cancel()  # it is running now
        self.fire(self.core._ring_expired, agent_id, call_id)
        self.drain()
        agent = self.core.agents[agent_id]
        assert (agent.state, agent.reason) == ("not_ready", "ring_no_answer")
        assert self.core.calls[call_id].agent_id != agent_id
        event("ring_no_answer: done")

    @precondition(lambda self: bool(self.core._wrap_timers))
    @rule(data=st.data())
    def wrap_up_expires(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.core._wrap_timers)), label="agent")
        self.core._wrap_timers[agent_id].cancel()  # it is running now
        self.fire(self.core._wrap_expired, agent_id, "")
        self.drain()
        assert self.core.agents[agent_id].state in ("ready", "ringing")
        event("wrap_up_expires: done")

    @precondition(lambda self: bool(self.offered))
    @rule(agent=st.sampled_from(AGENTS), data=st.data())
    def stale_timers(self, agent: str, data: st.DataObject) -> None:
        """A ring or wrap-up timer for something that has moved on changes nothing."""
        call_id = self.pick_call(data)
        self.drain()
        before = self.snapshot()
        if call_id not in self.core._ring_timers:
            self.fire(self.core._ring_expired, agent, call_id)
        if agent not in self.core._wrap_timers:
            self.fire(self.core._wrap_expired, agent, "")
        self.drain()
        assert self.snapshot() == before, "a stale timer changed the state"

    # -- rules: races and time ------------------------------------------------------------

    @precondition(lambda self: bool(self.offered))
    @rule(data=st.data(), first=st.sampled_from(RACE_OPS), second=st.sampled_from(RACE_OPS))
    def race(self, data: st.DataObject, first: str, second: str) -> None:
        """Two requests about one agent's call at the same time (e.g. a hang-up racing
        an answer): each may be refused, but the invariants must hold after both."""
        agent = self.pick_agent(data, "ringing", "busy", "wrap_up")
        call_id = self.call_of(agent, data, "call_id")
        ops = [self.ops(first, agent, call_id), self.ops(second, agent, call_id)]

        async def both() -> list[Any]:
            return await asyncio.gather(*(op() for op in ops), return_exceptions=True)

        for name, outcome in zip((first, second), self.run(both), strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, EXPECTED):
                raise outcome
            event(f"race {name}: {type(outcome).__name__ if outcome else 'done'}")
        self.drain()

    @rule(seconds=st.integers(0, 90))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants -----------------------------------------------------------------------

    def cdrs_per_call(self) -> Counter[str]:
        return Counter(
            r.call_id for r in self.store.tables["cdrs"].values() if isinstance(r, CdrRecord)
        )

    def events_per_call(self, kind: str) -> Counter[str]:
        return Counter(
            row.event.aggregate_id for row in self.store.outbox.values() if row.event.kind == kind
        )

    @invariant()
    def consistent(self) -> None:
        self.drain()
        core = self.core
        core.acd.check_invariants()
        assert not self.store.failed_commits, self.store.failed_commits
        assert not self.fatal, self.fatal

        # agents: the service's view is the ACD's; no agent on two calls
        held: dict[str, str] = {}
        for agent_id, agent in core.agents.items():
            view = core.acd.agent(agent_id)
            assert agent.state == view.state.value, (agent_id, agent.state, view)
            if agent.call_id:
                assert agent.call_id not in held, (
                    f"call {agent.call_id} held by {held.get(agent.call_id)} and {agent_id}"
                )
                held[agent.call_id] = agent_id
                call = core.calls[agent.call_id]
                assert call.agent_id == agent_id
                assert view.call_id == call.acd_key
            else:
                assert view.call_id is None, (agent_id, view)
                assert agent.state in ("ready", "not_ready", "wrap_up"), agent
        for agent_id in AGENTS:
            if agent_id not in core.agents:
                assert (
                    self.acd_agent(agent_id) is None
                    or self.acd_agent(agent_id).state.value == "logged_out"
                )

        # calls: a call's agent holds it; states agree with the ACD
        for call_id, call in core.calls.items():
            assert call.state in ("ivr", "queued", "offered", "connected", "held"), call.state
            if call.state in ("offered", "connected", "held"):
                assert held.get(call_id) == call.agent_id != "", (call_id, call.agent_id)
                acd_call = core.acd.call(call.acd_key)
                assert acd_call.agent_id == call.agent_id
                want = "offered" if call.state == "offered" else "connected"
                assert acd_call.state.value == want, (call.state, acd_call.state)
                assert core.agents[call.agent_id].state == (
                    "ringing" if call.state == "offered" else "busy"
                )
            else:
                assert call.agent_id == "" and call_id not in held, call
            if call.state == "queued":
                assert core.acd.call(call.acd_key).state.value == "queued"
            # the call's life: live, a current leg exactly while it rings or is answered
            # (at this agent), times in order
            life = call.life
            assert life.state.live and life.site_id == SITE, life
            assert (life.leg is not None) == (call.state in ("offered", "connected", "held"))
            if life.leg is not None:
                assert life.leg.agent_id == call.agent_id and life.leg.ended_at_ms == 0
            for leg in life.legs:
                assert leg.offered_at_ms <= leg.ended_at_ms and leg.end_reason, leg
        assert set(held) <= set(core.calls)

        # timers: exactly the ringing calls and the wrapping-up agents have one
        assert set(core._ring_timers) == {c for c, v in core.calls.items() if v.state == "offered"}
        assert set(core._wrap_timers) == {a for a, v in core.agents.items() if v.state == "wrap_up"}

        # every offered call is live, or ended with exactly one CDR and terminal event
        cdrs = self.cdrs_per_call()
        ended = self.events_per_call("call.ended")
        created = self.events_per_call("cdr.created")
        assert len(set(self.offered)) == len(self.offered)
        for call_id in self.offered:
            if call_id in core.calls:
                assert (cdrs[call_id], ended[call_id], created[call_id]) == (0, 0, 0), call_id
            else:
                assert (cdrs[call_id], ended[call_id], created[call_id]) == (1, 1, 1), (
                    call_id,
                    cdrs[call_id],
                    ended[call_id],
                    created[call_id],
                )
                record = self.store.tables["calls"][(call_id,)]
                assert record.state == "ended" and record.end_reason, record
        assert set(cdrs) <= set(self.offered)
        for cdr in self.store.tables["cdrs"].values():
            # the agent of a CDR is the one who answered the call's last leg; a transferred
            # call abandoned in its new queue keeps the first answer time
            assert (cdr.outcome == "answered") == bool(cdr.agent_id), cdr
            assert bool(cdr.answered_at_ms) >= bool(cdr.agent_id), cdr
            assert cdr.transferred or bool(cdr.answered_at_ms) == bool(cdr.agent_id), cdr

        # the outbox is numbered 1..N without gaps
        assert sorted(self.store.outbox) == list(range(1, len(self.store.outbox) + 1))
        assert all(row.seq == seq for seq, row in self.store.outbox.items())

    # -- teardown -------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            for _ in range(len(self.offered) + 1):
                live = [c for c in self.offered if c in self.core.calls]
                if not live:
                    break
                for call_id in live:
                    self.run(partial(self.access.hang_up, call_id))
            self.drain()
            assert not self.core.calls, self.core.calls
            assert not self.store.failed_commits, self.store.failed_commits
            cdrs = self.cdrs_per_call()
            ended = self.events_per_call("call.ended")
            for call_id in self.offered:
                assert cdrs[call_id] == 1, (call_id, cdrs[call_id])
                assert ended[call_id] == 1, (call_id, ended[call_id])
                assert self.store.tables["calls"][(call_id,)].state == "ended"
            for agent in self.core.agents.values():
                assert not agent.call_id, agent
            self.core.acd.check_invariants()
        finally:
            self.core.cancel_timers()
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()


SiteMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSiteStateMachine = SiteMachine.TestCase
