"""The heart of a site node: the ACD plus the live calls and agents around it.

Every mutation runs synchronously (no ``await``) from an ACD decision to a
:class:`UnitOfWork` and is handed to the store in the same step, so the in-memory state
and the order of commits cannot interleave between two requests. The request then waits
for its unit of work to be durable before it answers. If the store ever fails to commit,
memory and disk have diverged: the site stops (``on_fatal``) and recovers from its
database on restart, rather than serve from a state nobody recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from vcc_domain.clock import Clock, wall_seconds
from vcc_domain.errors import Conflict, NotFound
from vcc_domain.ids import new_id
from vcc_domain.province import Business, Province
from vcc_proto.observability import call_context
from vcc_site.domain.acd import Acd
from vcc_site.domain.call import CallLeft, CallState, LegEnded, LegKind
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.domain.results import AgentUpdate, Assignment, CallEnded, Connected, Queued, Requeued
from vcc_site.service.board import BoardSignal, DayTally
from vcc_site.service.commits import Commits
from vcc_site.service.figures import BusinessQueue, business_queues, publish_gauges
from vcc_site.service.live import OUTCOMES, LiveAgent, LiveCall, legs_payload, ms
from vcc_site.service.metrics import SiteMetrics
from vcc_site.service.notify import DeskEvents
from vcc_site.service.registry import LiveRegistry
from vcc_site.store.api import SiteStore, UnitOfWork

log = logging.getLogger(__name__)

Result = Assignment | Queued | Requeued | CallEnded | AgentUpdate | None


class SiteCore(LiveRegistry, Commits):
    """The ACD and the live calls and agents around it, and the use cases that change them
    (each synchronous up to ``submit``)."""

    def __init__(
        self,
        province: Province,
        site_id: str,
        store: SiteStore,
        clock: Clock,
        *,
        metrics: SiteMetrics | None = None,
        on_fatal: Callable[[BaseException], None] = lambda _exc: None,
    ) -> None:
        LiveRegistry.__init__(self)
        Commits.__init__(self, store, on_fatal)
        self.province = province
        self.site_id = site_id
        self.clock = clock
        self.policy = province.routing
        self.acd = Acd(clock)
        self.desk = DeskEvents()
        self.board_signal = BoardSignal()  # bumped by every change of calls or agents
        self.today = DayTally()  # the calls that ended here today, for the board
        self.metrics = metrics or SiteMetrics(site_id, province)
        self._ring_timers: dict[str, asyncio.TimerHandle] = {}  # by call id
        self._wrap_timers: dict[str, asyncio.TimerHandle] = {}  # by agent id
        # expected-wait accuracy: the wait predicted when a call first queued here, by
        # call id, until an agent is offered it (then |predicted - actual| is recorded)
        self._predicted: dict[str, int] = {}
        # called with a call that ended unanswered (the caller gave up in the queue or
        # ringing), in the unit of work of its end: the callback the tier is owed
        self.on_abandoned: Callable[[LiveCall, UnitOfWork, int], None] | None = None

    # -- clock and lookups --------------------------------------------------------------

    def now_ms(self) -> int:
        return ms(self.clock.now())

    def business(self, business_id: str) -> Business:
        return self.province.business(business_id)

    def queue_figures(self, business_id: str | None = None) -> list[BusinessQueue]:
        businesses = [self.business(business_id)] if business_id else self.served_businesses()
        return business_queues(self.acd, businesses, self.now_ms())

    def find_business(self, business_id: str) -> Business | None:
        try:
            return self.business(business_id)
        except NotFound:
            return None

    def served_businesses(self) -> list[Business]:
        return [b for b in self.province.businesses if b.accepts(self.site_id)]

    def submit(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """Every change of the site's calls and agents ends here: the board changed."""
        self.board_signal.changed()
        return Commits.submit(self, uow)

    def publish_figures(self) -> None:
        """Refresh the queue and agent gauges (called every second by the app)."""
        publish_gauges(
            self.metrics, self.queue_figures(), (agent.state for agent in self._agents.values())
        )

    # -- the ACD's calls ------------------------------------------------------------------

    def route(
        self,
        call: LiveCall,
        business: Business,
        priority: Priority,
        uow: UnitOfWork,
        skill: str | None = None,
        reserve: str = "",
    ) -> Result:
        """Offer a call to the ACD (first time, or again under a new key after a transfer)
        and apply its decision; ``reserve``: offer it to this READY agent (Conflict if
        not ready; nothing changed)."""
        self._by_key[call.acd_key] = call.slot
        started = time.perf_counter()
        try:
            decision = self.acd.offer_call(
                call.acd_key,
                business=business.id,
                skill=skill or business.skill,
                priority=priority,
                arrival=call.arrival_at_ms / 1000,
                vip=call.tier == "vip",
                reserve=reserve or None,
            )
        except Exception:
            del self._by_key[call.acd_key]
            raise
        self.metrics.decision(time.perf_counter() - started)
        self.apply(decision, uow)
        return decision

    def admit(
        self,
        call: LiveCall,
        business: Business,
        priority: Priority,
        uow: UnitOfWork,
        skill: str | None = None,
        reserve: str = "",
    ) -> Result:
        """A new live entry (a call offered, transferred in, a consult leg) is routed; if
        the ACD refuses it, it is forgotten again."""
        self.add_call(call)
        try:
            return self.route(call, business, priority, uow, skill, reserve)
        except Exception:
            self.drop_call(call)
            raise

    def leave_acd(self, call: LiveCall, reason: EndReason) -> Result:
        """Take a call out of the ACD under its current key (it is transferred or moved
        to another site); returns what the ACD does next (an agent to wrap-up, ...)."""
        decision = self.acd.remove_call(call.acd_key, reason)
        del self._by_key[call.acd_key]
        return decision

    def end_in_acd(self, call: LiveCall, reason: EndReason, uow: UnitOfWork) -> None:
        """End a call in the ACD as ``reason`` (it moved to another site); its agent goes
        to wrap-up."""
        self.apply(self.acd.remove_call(call.acd_key, reason), uow)

    def end_call(self, call: LiveCall, reason: EndReason, uow: UnitOfWork) -> None:
        """End a call held out of the ACD (an overflow another site took)."""
        now = self.now_ms()
        self._by_key[call.acd_key] = call.slot
        self._ended(CallEnded(call.acd_key, reason, None, None, None, now / 1000), uow, now)

    # -- applying ACD decisions ---------------------------------------------------------

    def apply(self, result: Result, uow: UnitOfWork) -> None:
        """Turn an ACD decision into rows, events, desk notices and timers."""
        now = self.now_ms()
        if result is None:
            return
        if isinstance(result, Assignment):
            self._assigned(result, uow, now)
        elif isinstance(result, Queued):
            call_id = self._by_key[result.call_id]
            self._predicted.setdefault(call_id, ms(result.ewt_s))  # at its first queue entry
            self._queued(call_id, uow, now)
        elif isinstance(result, Requeued):
            self._taken_back(self._by_key[result.call_id], result.agent_id, "no_answer", uow, now)
            self.apply(result.then, uow)
        elif isinstance(result, CallEnded):
            self._ended(result, uow, now)
        elif isinstance(result, AgentUpdate):
            if result.requeued is not None:
                self.apply(result.requeued, uow)
            self.sync_agent(result.agent_id, uow, now)

    def _assigned(self, a: Assignment, uow: UnitOfWork, now: int) -> None:
        call = self._calls[self._by_key[a.call_id]]
        kind = (
            LegKind.CONSULT
            if call.consult_for
            else LegKind.TRANSFER
            if call.transferred
            else LegKind.OVERFLOW
            if call.overflowed
            else LegKind.INITIAL
        )
        self._wait_actual(call, now)
        leg_id, call.next_leg_id = call.next_leg_id or new_id("leg"), ""
        call.life.offer(a.agent_id, leg_id, kind, now)
        assert call.leg is not None  # just offered
        uow.add(call.leg_row(call.leg), *call.rows(now)).emit(
            call.event("call.offered", now, via=a.via.value, leg_id=leg_id)
        )
        agent = self._agents.get(a.agent_id)
        if agent is not None:
            agent.call_id = call.call_id
            self.desk.publish(
                agent.session_id,
                "offer",
                now,
                call=call,
                leg_id=leg_id,
                ring_timeout_ms=self.policy.ring_timeout_s * 1000,
            )
        self.sync_agent(a.agent_id, uow, now)
        self.start_ring_timer(a.agent_id, call.slot)
        self.metrics.offered_to_agent(call.business_id)

    def _wait_actual(self, call: LiveCall, now: int) -> None:
        """A call that queued here reaches an agent: record predicted against actual wait
        (queue entry to the first offer here; calls offered at once are not counted)."""
        predicted = self._predicted.pop(call.call_id, None)
        if predicted is not None and call.queued_at_ms:
            self.metrics.expected_wait(predicted / 1000, max(0, now - call.queued_at_ms) / 1000)

    def _queued(self, call_id: str, uow: UnitOfWork, now: int) -> None:
        call = self._calls[call_id]
        call.life.queue(now)
        uow.add(*call.rows(now)).emit(call.event("call.queued", now))

    def _taken_back(self, call_id: str, agent_id: str, why: str, uow: UnitOfWork, now: int) -> None:
        self.cancel_ring(call_id)
        call = self._calls[call_id]
        if call.life.state is CallState.OFFERED:
            for e in call.life.take_back(now, why).events:
                if isinstance(e, LegEnded):
                    uow.add(call.leg_row(e.leg))
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.call_id = ""
            self.desk.publish(
                agent.session_id,
                "call_state",
                now,
                call_id=call.call_id,
                state="ended",
                end_reason="no_answer" if why == "no_answer" else why,
            )
        self.sync_agent(agent_id, uow, now)

    def _ended(self, e: CallEnded, uow: UnitOfWork, now: int) -> None:
        call_id = self._by_key.pop(e.call_id)
        self._predicted.pop(call_id, None)
        self.cancel_ring(call_id)
        call = self._calls.pop(call_id)
        left = self._end_life(call, e.reason.value, uow, now)
        final = call.record(now)
        if call.consult_for:  # a consult leg ends: the call lives on at its owner, no CDR
            uow.add(*call.rows(now)).emit(call.event("call.ended", now, end_reason=e.reason.value))
        else:  # the call's CDR here (its part of it, when it moved on to another site)
            cdr = call.cdr(OUTCOMES[e.reason])
            uow.add(final, cdr).emit(
                call.event("call.ended", now, end_reason=e.reason.value),
                call.event("cdr.created", now, cdr=cdr, legs=legs_payload(call.all_legs())),
            )
            self.metrics.call_ended(call.business_id, OUTCOMES[e.reason], call.tier)
            if OUTCOMES[e.reason] == "abandoned" and self.on_abandoned is not None:
                self.on_abandoned(call, uow, now)
            self.today.add(cdr, self.find_business(call.business_id))
        if e.agent_id is not None:
            agent = self._agents.get(e.agent_id)
            if agent is not None:
                agent.call_id = ""
                if left.answered:
                    agent.wrap_call_id, agent.wrap_record = call.call_id, final
                self.desk.publish(
                    agent.session_id,
                    "call_state",
                    now,
                    call_id=call.call_id,
                    state="ended",
                    end_reason=e.reason.value,
                )
            self.sync_agent(e.agent_id, uow, now)
        self.apply(e.next, uow)

    def _end_life(self, call: LiveCall, reason: str, uow: UnitOfWork, now: int) -> CallLeft:
        """End the call's life here; its last leg is written. Returns how it ended."""
        for e in call.life.end(now, reason).events:
            if isinstance(e, LegEnded):
                uow.add(call.leg_row(e.leg))
            elif isinstance(e, CallLeft):
                return e
        raise AssertionError("an end without CallLeft")

    def end_in_ivr(self, call: LiveCall, reason: str, outcome: str, uow: UnitOfWork) -> None:
        """A call that never reached the ACD ends (hang-up in IVR, self-service done)."""
        now = self.now_ms()
        self._calls.pop(call.call_id, None)
        self._end_life(call, reason, uow, now)
        cdr = call.cdr(outcome)
        uow.add(call.record(now), cdr).emit(
            call.event("call.ended", now, end_reason=reason),
            call.event("cdr.created", now, cdr=cdr),
        )
        self.metrics.call_ended(call.business_id, outcome)
        self.today.add(cdr, self.find_business(call.business_id))

    # -- agents' and callers' use cases (each fills ``uow``; the caller submits it) -------

    def log_in(self, agent: LiveAgent, skills: dict[str, int], general_level: int) -> None:
        """A new session of an agent not logged in (Conflict if they are, nothing changed)."""
        self.acd.login(agent.agent_id, skills, general_level)
        self.add_agent(agent)
        self.desk.open(agent.session_id)

    def log_out(self, agent: LiveAgent, uow: UnitOfWork) -> int:
        """The agent's session ends (Conflict while on a call); returns the time."""
        update = self.acd.logout(agent.agent_id)
        now = self.now_ms()
        self.apply(update, uow)
        self.drop_agent(agent)
        self.desk.close(agent.session_id, now)
        return now

    def agent_ready(self, agent_id: str, uow: UnitOfWork) -> None:
        self.apply(self.acd.agent_ready(agent_id), uow)
        self.sync_agent(agent_id, uow, self.now_ms())

    def agent_not_ready(self, agent_id: str, reason: str, uow: UnitOfWork) -> None:
        self.apply(self.acd.not_ready(agent_id, reason), uow)

    def answer(self, agent_id: str, call: LiveCall, uow: UnitOfWork) -> int:
        """The agent answers ``call`` ringing at them; returns the time."""
        result: Connected = self.acd.answer(agent_id, call.acd_key)
        now = self.now_ms()
        self.cancel_ring(call.slot)
        if not call.answered_at_ms and not call.consult_for:  # its first answer: the wait
            self.metrics.answered(
                call.business_id,
                call.tier,
                max(0, now - call.queued_at_ms) / 1000 if call.queued_at_ms else 0.0,
            )
        call.life.answer(now)
        uow.add(*call.rows(now))
        if call.leg is not None:
            uow.add(call.leg_row(call.leg))
        uow.emit(call.event("call.answered", now, answered_at_ms=round(result.at * 1000)))
        self.sync_agent(agent_id, uow, now)
        return now

    def agent_hang_up(self, agent_id: str, uow: UnitOfWork) -> None:
        """The agent ends the call they are on (its agent goes to wrap-up)."""
        self.apply(self.acd.agent_hang_up(agent_id), uow)

    def hang_up(self, call: LiveCall, uow: UnitOfWork) -> None:
        """The caller hangs up (in the IVR, waiting, ringing or talking), or a consult leg
        served here is ended by its owner."""
        if call.life.state is CallState.IVR:
            self.end_in_ivr(call, "caller_hangup", "ivr_hangup", uow)
        else:
            self.apply(self.acd.hang_up(call.acd_key), uow)

    def ring_no_answer(self, agent_id: str, call_id: str, uow: UnitOfWork) -> None:
        """The ring limit ran out: the call is taken back from the agent."""
        decision = self.acd.ring_no_answer(agent_id, self.live_call(call_id).acd_key)
        self.cancel_ring(call_id)  # only once the (agent, call) pair is right
        self.apply(decision, uow)
        self.metrics.ring_no_answer()

    def wrap_up_done(self, agent_id: str, uow: UnitOfWork) -> None:
        """The agent's after-call work ends (by the desk or the wrap-up limit)."""
        decision = self.acd.wrap_up_done(agent_id)
        self._cancel_wrap(agent_id)  # ended by the desk: its limit must not fire later
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.wrap_call_id, agent.wrap_record = "", None
        self.apply(decision, uow)
        self.sync_agent(agent_id, uow, self.now_ms())

    # -- agents -------------------------------------------------------------------------

    def sync_agent(self, agent_id: str, uow: UnitOfWork, now: int) -> None:
        """Mirror the ACD's view of an agent: close the old state stretch, notify."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        view = self.acd.agent(agent_id)
        state = view.state.value
        reason = view.reason or "" if state == "not_ready" else ""
        done = agent.transition(state, reason, now)
        if done is None:
            return
        if done.duration_ms > 0:  # a 0 ms stretch would reuse a history key (agent,
            uow.add(done)  # start, state) already written in the same millisecond
        uow.emit(agent.event(now))
        self.desk.publish(agent.session_id, "agent_state", now, agent=agent)
        if state == "wrap_up":
            self._start_wrap_timer(agent_id)
        else:
            self._cancel_wrap(agent_id)

    # -- timers -------------------------------------------------------------------------

    def start_ring_timer(self, agent_id: str, call_id: str) -> None:
        self.cancel_ring(call_id)
        loop = asyncio.get_running_loop()
        self._ring_timers[call_id] = loop.call_later(
            wall_seconds(self.clock, self.policy.ring_timeout_s),
            self._fire,
            self._ring_expired,
            agent_id,
            call_id,
        )

    def cancel_ring(self, call_id: str) -> None:
        handle = self._ring_timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()

    def _start_wrap_timer(self, agent_id: str) -> None:
        self._cancel_wrap(agent_id)
        loop = asyncio.get_running_loop()
        self._wrap_timers[agent_id] = loop.call_later(
            wall_seconds(self.clock, self.policy.wrapup_s),
            self._fire,
            self._wrap_expired,
            agent_id,
            "",
        )

    def _cancel_wrap(self, agent_id: str) -> None:
        handle = self._wrap_timers.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, action: Callable[[str, str], None], agent_id: str, call_id: str) -> None:
        with call_context(call_id, agent_id):  # log lines name the timer's call and agent
            try:
                action(agent_id, call_id)
            except (Conflict, NotFound) as exc:  # overtaken by events: nothing to do
                log.debug("timer for %s/%s ignored: %s", agent_id, call_id, exc)

    def _ring_expired(self, agent_id: str, call_id: str) -> None:
        uow = UnitOfWork()
        self.ring_no_answer(agent_id, call_id, uow)
        self.submit(uow)

    def _wrap_expired(self, agent_id: str, _call_id: str) -> None:
        uow = UnitOfWork()
        self.wrap_up_done(agent_id, uow)
        self.submit(uow)

    def cancel_timers(self) -> None:
        for handle in [*self._ring_timers.values(), *self._wrap_timers.values()]:
            handle.cancel()
        self._ring_timers.clear()
        self._wrap_timers.clear()
