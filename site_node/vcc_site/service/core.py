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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from vcc_domain.clock import Clock
from vcc_domain.errors import Conflict, NotFound
from vcc_domain.ids import new_id
from vcc_domain.province import Business, Province
from vcc_site.domain.acd import Acd
from vcc_site.domain.queue import EndReason, Priority
from vcc_site.domain.results import (
    AgentUpdate,
    Assignment,
    CallEnded,
    Queued,
    Requeued,
)
from vcc_site.service.live import LiveAgent, LiveCall, ms
from vcc_site.service.metrics import SiteMetrics
from vcc_site.service.notify import DeskEvents
from vcc_site.service.transfer import CANCEL, SitePeers
from vcc_site.store.api import LegRecord, SiteStore, UnitOfWork

log = logging.getLogger(__name__)

OUTCOMES = {
    EndReason.COMPLETED: "answered",
    EndReason.ABANDONED: "abandoned",
    EndReason.TRANSFERRED_OUT: "transferred_out",
    EndReason.OVERFLOWED: "overflowed_out",
    EndReason.LOST: "lost",
}

Result = Assignment | Queued | Requeued | CallEnded | AgentUpdate | None


@dataclass(frozen=True, slots=True)
class BusinessQueue:
    """Queue figures of one business at this site (what sites publish every second).

    ``ewt_ms`` is the expected wait of a newly arriving ordinary caller, by the ACD's
    method: 0 if an agent who can serve the business's skill is ready, else
    (calls ahead + 1) x AHT / staffed agents who can serve it (see ``vcc_site.domain.acd``).
    """

    business_id: str
    waiting: int
    longest_wait_ms: int
    ewt_ms: int
    agents_ready: int
    agents_busy: int
    agents_not_ready: int
    agents_wrap_up: int
    aht_ms: int
    as_of_ms: int


class SiteCore:
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
        self.province = province
        self.site_id = site_id
        self.store = store
        self.clock = clock
        self.policy = province.routing
        self.acd = Acd(clock)
        self.calls: dict[str, LiveCall] = {}  # by call id
        self.by_key: dict[str, str] = {}  # ACD key -> call id (a call re-enters the ACD
        # under a new key when it is transferred; the call id never changes)
        self.agents: dict[str, LiveAgent] = {}  # by agent id
        self.sessions: dict[str, LiveAgent] = {}  # by session token
        self.desk = DeskEvents()
        self.metrics = metrics or SiteMetrics(site_id)
        self._on_fatal = on_fatal
        self._ring_timers: dict[str, asyncio.TimerHandle] = {}  # by call id
        self._wrap_timers: dict[str, asyncio.TimerHandle] = {}  # by agent id
        self._pending: set[asyncio.Future[list[int]]] = set()
        # expected-wait accuracy: the wait predicted when a call first queued here, by
        # call id, until an agent is offered it (then |predicted - actual| is recorded)
        self._predicted: dict[str, int] = {}
        self._rekeys = 0  # ACD keys of calls back from a refused overflow
        # direct calls to other sites about consult legs (set by the ``transfer``
        # component; None: this site cannot consult across sites)
        self.peers: SitePeers | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- clock and lookups --------------------------------------------------------------

    def now_ms(self) -> int:
        return ms(self.clock.now())

    def business(self, business_id: str) -> Business:
        return self.province.business(business_id)

    def live_call(self, call_id: str) -> LiveCall:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound(f"unknown or finished call {call_id!r}", field="call_id")
        return call

    def queue_figures(self, business_id: str | None = None) -> list[BusinessQueue]:
        if business_id:
            businesses = [self.business(business_id)]
        else:
            businesses = [b for b in self.province.businesses if b.accepts(self.site_id)]
        per_business = self.acd.business_figures()
        now = self.now_ms()
        out = []
        for b in businesses:
            q = self.acd.queue_figures(b.skill)
            waiting = per_business.get(b.id)
            out.append(BusinessQueue(
                business_id=b.id,
                waiting=waiting.waiting if waiting else 0,
                longest_wait_ms=ms(waiting.longest_wait_s) if waiting else 0,
                ewt_ms=ms(q.ewt_s),
                agents_ready=q.agents_ready,
                agents_busy=q.agents_busy + q.agents_ringing,
                agents_not_ready=q.agents_not_ready,
                agents_wrap_up=q.agents_wrap_up,
                aht_ms=ms(q.aht_s),
                as_of_ms=now,
            ))
        return out

    def publish_figures(self) -> None:
        """Refresh the queue and agent gauges (called every second by the app)."""
        for f in self.queue_figures():
            self.metrics.queue(f.business_id, f.waiting, f.longest_wait_ms / 1000, f.ewt_ms / 1000)
        counts = dict.fromkeys(("ready", "not_ready", "ringing", "busy", "wrap_up"), 0)
        for agent in self.agents.values():
            counts[agent.state] = counts.get(agent.state, 0) + 1
        self.metrics.agents(counts)

    # -- committing ---------------------------------------------------------------------

    def submit(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """Hand a unit of work to the store now; await the result for durability.

        Units are handed over in the order ``submit`` is called (each becomes a task
        started in creation order, and the store queues it on its first step).
        """
        fut = asyncio.ensure_future(self.store.commit(uow))
        self._pending.add(fut)
        fut.add_done_callback(self._committed)
        return fut

    def _committed(self, fut: asyncio.Future[list[int]]) -> None:
        self._pending.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:  # every unit was built after memory changed: they now disagree
            log.critical("commit failed; memory and database diverged: %r", exc)
            self._on_fatal(exc)

    async def drain(self) -> None:
        """Wait for every submitted unit of work (used at shutdown and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def enter_acd(self, call: LiveCall, business: Business, priority: Priority,
                  skill: str | None = None) -> Result:
        """Offer a call to the ACD (first time, or again under a new key after a transfer)."""
        self.by_key[call.acd_key] = call.call_id
        started = time.perf_counter()
        try:
            decision = self.acd.offer_call(
                call.acd_key, business=business.id, skill=skill or business.skill,
                priority=priority,
                arrival=call.arrival_at_ms / 1000, vip=call.tier == "vip")
        except Exception:
            del self.by_key[call.acd_key]
            raise
        self.metrics.decision(time.perf_counter() - started)
        return decision

    # -- applying ACD decisions ---------------------------------------------------------

    def apply(self, result: Result, uow: UnitOfWork) -> None:
        """Turn an ACD decision into rows, events, desk notices and timers."""
        now = self.now_ms()
        if result is None:
            return
        if isinstance(result, Assignment):
            self._assigned(result, uow, now)
        elif isinstance(result, Queued):
            call_id = self.by_key[result.call_id]
            self._predicted.setdefault(call_id, ms(result.ewt_s))  # at its first queue entry
            self._queued(call_id, uow, now)
        elif isinstance(result, Requeued):
            self._taken_back(self.by_key[result.call_id], result.agent_id, "no_answer", uow, now)
            self.apply(result.then, uow)
        elif isinstance(result, CallEnded):
            self._ended(result, uow, now)
        elif isinstance(result, AgentUpdate):
            if result.requeued is not None:
                self.apply(result.requeued, uow)
            self.sync_agent(result.agent_id, uow, now)

    def _assigned(self, a: Assignment, uow: UnitOfWork, now: int) -> None:
        call = self.calls[self.by_key[a.call_id]]
        call.state, call.agent_id, call.offered_at_ms = "offered", a.agent_id, now
        kind = "consult" if call.consult_for else "transfer" if call.transferred else (
            "overflow" if call.overflowed else "initial")
        self._wait_actual(call, now)
        leg_id, call.next_leg_id = call.next_leg_id or new_id("leg"), ""
        call.leg = LegRecord(leg_id, call.call_id, self.site_id, a.agent_id, kind, now)
        uow.add(call.leg, call.record(now)).emit(call.event("call.offered", now, via=a.via.value))
        agent = self.agents.get(a.agent_id)
        if agent is not None:
            agent.call_id = call.call_id
            self.desk.publish(agent.session_id, "offer", now, call=call, leg_id=call.leg.leg_id,
                              ring_timeout_ms=self.policy.ring_timeout_s * 1000)
        self.sync_agent(a.agent_id, uow, now)
        self._start_ring_timer(a.agent_id, call.call_id)
        self.metrics.offered_to_agent(call.business_id)

    def _wait_actual(self, call: LiveCall, now: int) -> None:
        """A call that queued here reaches an agent: record predicted against actual wait
        (queue entry to the first offer here; calls offered at once are not counted)."""
        predicted = self._predicted.pop(call.call_id, None)
        if predicted is not None and call.queued_at_ms:
            self.metrics.expected_wait(predicted / 1000, max(0, now - call.queued_at_ms) / 1000)

    def _queued(self, call_id: str, uow: UnitOfWork, now: int) -> None:
        call = self.calls[call_id]
        call.state, call.agent_id = "queued", ""
        if not call.queued_at_ms:
            call.queued_at_ms = now
        uow.add(call.record(now)).emit(call.event("call.queued", now))

    def _taken_back(self, call_id: str, agent_id: str, why: str, uow: UnitOfWork, now: int) -> None:
        self._cancel_ring(call_id)
        call = self.calls[call_id]
        if call.leg is not None:
            call.ring_ms += max(0, now - call.leg.offered_at_ms)
            ended = replace(call.leg, ended_at_ms=now, end_reason=why)
            call.legs.append(ended)
            uow.add(ended)
            call.leg = None
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.call_id = ""
            self.desk.publish(agent.session_id, "call_state", now, call_id=call_id,
                              state="ended", end_reason="no_answer" if why == "no_answer" else why)
        self.sync_agent(agent_id, uow, now)

    def _ended(self, e: CallEnded, uow: UnitOfWork, now: int) -> None:
        call_id = self.by_key.pop(e.call_id)
        self._predicted.pop(call_id, None)
        self._cancel_ring(call_id)
        call = self.calls.pop(call_id)
        call.close_leg(now)
        # answered on this leg: a transferred call keeps its first answer time, but an
        # agent it rang at again and who never answered must not get the CDR
        was_answered = call.state in ("connected", "held")
        if call.leg is not None:
            if not was_answered:
                call.ring_ms += max(0, now - call.leg.offered_at_ms)
            ended = replace(call.leg, ended_at_ms=now, end_reason=e.reason.value)
            call.legs.append(ended)
            uow.add(ended)
        call.state, call.ended_at_ms, call.end_reason = "ended", now, e.reason.value
        if not was_answered:
            call.agent_id = ""
        final = call.record(now)
        if call.consult_for:  # a consult leg ends: the call lives on at its owner, no CDR
            uow.add(final).emit(call.event("call.ended", now, end_reason=e.reason.value))
        else:
            cdr = call.cdr(OUTCOMES[e.reason])
            uow.add(final, cdr).emit(
                call.event("call.ended", now, end_reason=e.reason.value),
                call.event("cdr.created", now, cdr=_cdr_payload(cdr)),
            )
            self.metrics.call_ended(call.business_id, OUTCOMES[e.reason])
        if e.agent_id is not None:
            agent = self.agents.get(e.agent_id)
            if agent is not None:
                agent.call_id = ""
                if was_answered:
                    agent.wrap_call_id, agent.wrap_record = call.call_id, final
                self.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id,
                                  state="ended", end_reason=e.reason.value)
            self.sync_agent(e.agent_id, uow, now)
        self.apply(e.next, uow)

    def transfer_local(self, call: LiveCall, business: Business, skill: str | None,
                       note: str, uow: UnitOfWork) -> Result:
        """Move a connected call from its agent back into this site's ACD at the
        transferred priority (ahead of everyone, original arrival kept). The agent goes
        to wrap-up; the call keeps its ID and gets a new leg when it is offered again."""
        now = self.now_ms()
        agent_id = call.agent_id
        self.acd.remove_call(call.acd_key, EndReason.TRANSFERRED_OUT)
        del self.by_key[call.acd_key]
        call.close_leg(now)
        if call.leg is not None:
            ended = replace(call.leg, ended_at_ms=now, end_reason="transferred")
            call.legs.append(ended)
            uow.add(ended)
            call.leg = None
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.call_id, agent.wrap_call_id, agent.wrap_record = "", call.call_id, None
            self.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id,
                              state="ended", end_reason="transferred_out")
        self.sync_agent(agent_id, uow, now)
        call.transferred, call.priority, call.business_id = True, "transferred", business.id
        call.state, call.agent_id = "queued", ""
        call.acd_key = f"{call.call_id}/{len(call.legs) + 1}"
        if note:
            call.notes.append(note)
        uow.emit(call.event("call.transferred", now, from_agent=agent_id, note=note))
        decision = self.enter_acd(call, business, Priority.TRANSFERRED, skill)
        self.apply(decision, uow)
        return decision

    def transfer_out(self, call: LiveCall, to_site: str, note: str, uow: UnitOfWork) -> None:
        """A connected call was accepted by another site: it ends here as transferred out.

        The agent's leg ends, the agent goes to wrap-up, and this site writes the CDR of
        its part (outcome ``transferred_out``, ``transferred`` set); the call lives on at
        ``to_site`` under the same call ID, where its final CDR will be written.
        """
        now = self.now_ms()
        decision = self.acd.remove_call(call.acd_key, EndReason.TRANSFERRED_OUT)
        call.transferred = True
        call.attached["transferred_to_site"] = to_site
        uow.emit(call.event("call.transferred", now, from_agent=call.agent_id, note=note,
                            to_site=to_site))
        self.apply(decision, uow)

    # -- overflow by expected wait (ARCHITECTURE §3.2) ---------------------------------

    def overflow_hold(self, call: LiveCall) -> str | None:
        """Take a waiting call out of the ACD while another site is asked to take it, so
        no agent here is offered it meanwhile; returns its skill (for ``overflow_back``).
        Raises Conflict unless the call is waiting. Nothing is written: for the records
        it is still queued here."""
        skill = self.acd.call(call.acd_key).skill
        self.acd.remove_call(call.acd_key, EndReason.OVERFLOWED)  # waiting: nothing follows
        del self.by_key[call.acd_key]
        return skill

    def overflow_back(self, call: LiveCall, skill: str | None, uow: UnitOfWork) -> Result:
        """The other site did not take it: the call re-enters the ACD (under a new key)
        in its own class with its original arrival, so its place in line is unchanged
        (a call put back at the head of its class after a ring-no-answer loses that)."""
        self._rekeys += 1
        call.acd_key = f"{call.call_id}/o{self._rekeys}"
        decision = self.enter_acd(call, self.business(call.business_id),
                                  Priority[call.priority.upper()], skill)
        self.apply(decision, uow)
        return decision

    def overflow_out(self, call: LiveCall, to_site: str, uow: UnitOfWork) -> None:
        """Another site accepted the held call: it ends here as overflowed out (CDR outcome
        ``overflowed_out``, ``overflowed`` set); its final CDR is written at ``to_site``."""
        now = self.now_ms()
        call.overflowed = True
        call.attached["overflowed_to_site"] = to_site
        uow.emit(call.event("call.overflowed", now, to_site=to_site))
        self.by_key[call.acd_key] = call.call_id
        self._ended(CallEnded(call.acd_key, EndReason.OVERFLOWED, None, None, None, now / 1000),
                    uow, now)

    def end_in_ivr(self, call: LiveCall, reason: str, outcome: str, uow: UnitOfWork) -> None:
        """A call that never reached the ACD ends (hang-up in IVR, self-service done)."""
        now = self.now_ms()
        self.calls.pop(call.call_id, None)
        call.state, call.ended_at_ms, call.end_reason = "ended", now, reason
        cdr = call.cdr(outcome)
        uow.add(call.record(now), cdr).emit(
            call.event("call.ended", now, end_reason=reason),
            call.event("cdr.created", now, cdr=_cdr_payload(cdr)),
        )
        self.metrics.call_ended(call.business_id, outcome)

    # -- consult legs -------------------------------------------------------------------

    def end_consult_leg(self, call: LiveCall, uow: UnitOfWork) -> None:
        """End a consult leg served here (queued, ringing or answered): no CDR is written
        (the call's owner writes it); an agent on it goes to wrap-up, a ringing agent is
        ready again."""
        self.apply(self.acd.hang_up(call.acd_key), uow)

    def background(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run a best-effort task (a report to another site); failures are logged."""
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:  # best effort, logged
                log.warning("%s failed: %r", what, exc)

        task = asyncio.ensure_future(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def report_consult_leg(self, call: LiveCall, state: str, end_reason: str = "") -> None:
        """Tell the owner of a consult leg served here how it went (in the background)."""
        peers, owner = self.peers, call.consult_for
        if peers is None or not owner:
            return
        leg_id, agent_id = call.consult_leg_id, call.agent_id

        async def report() -> None:
            known = await peers.report_leg(owner, call.call_id, leg_id, state, agent_id,
                                           end_reason)
            live = self.calls.get(call.call_id)
            if not known and live is call and call.consult_for and state != "ended":
                log.info("consult leg %s of call %s: the owner %s no longer knows it; "
                         "ending it", leg_id, call.call_id, owner)
                uow = UnitOfWork()
                self.end_consult_leg(call, uow)
                await self.submit(uow)

        self.background(report(), f"report of consult leg {leg_id} to {owner}")

    def cancel_consult(self, call: LiveCall, agent_id: str) -> None:
        """The call ended (or its consultation was dropped) here at its owner: tell the
        site serving its consult leg to end it (in the background)."""
        consult, peers = call.consult, self.peers
        call.consult = None
        if consult is None or peers is None:
            return
        self.background(_discard(peers.conclude(consult.site_id, call.call_id, consult.leg_id,
                                                CANCEL, agent_id)),
                        f"cancel of consult leg {consult.leg_id} at {consult.site_id}")

    # -- agents -------------------------------------------------------------------------

    def sync_agent(self, agent_id: str, uow: UnitOfWork, now: int) -> None:
        """Mirror the ACD's view of an agent: close the old state stretch, notify."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        view = self.acd.agent(agent_id)
        state = view.state.value
        reason = view.reason or "" if state == "not_ready" else ""
        done = agent.transition(state, reason, now)
        if done is None:
            return
        if done.duration_ms > 0:  # a 0 ms stretch would reuse a history key (agent,
            uow.add(done)         # start, state) already written in the same millisecond
        uow.emit(agent.event(now))
        self.desk.publish(agent.session_id, "agent_state", now, agent=agent)
        if state == "wrap_up":
            self._start_wrap_timer(agent_id)
        else:
            self._cancel_wrap(agent_id)

    # -- timers -------------------------------------------------------------------------

    def _start_ring_timer(self, agent_id: str, call_id: str) -> None:
        self._cancel_ring(call_id)
        loop = asyncio.get_running_loop()
        self._ring_timers[call_id] = loop.call_later(
            self.policy.ring_timeout_s, self._fire, self._ring_expired, agent_id, call_id
        )

    def _cancel_ring(self, call_id: str) -> None:
        handle = self._ring_timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()

    def _start_wrap_timer(self, agent_id: str) -> None:
        self._cancel_wrap(agent_id)
        loop = asyncio.get_running_loop()
        self._wrap_timers[agent_id] = loop.call_later(
            self.policy.wrapup_s, self._fire, self._wrap_expired, agent_id, ""
        )

    def _cancel_wrap(self, agent_id: str) -> None:
        handle = self._wrap_timers.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, action: Callable[[str, str], None], agent_id: str, call_id: str) -> None:
        try:
            action(agent_id, call_id)
        except (Conflict, NotFound) as exc:  # overtaken by events: nothing to do
            log.debug("timer for %s/%s ignored: %s", agent_id, call_id, exc)

    def _ring_expired(self, agent_id: str, call_id: str) -> None:
        decision = self.acd.ring_no_answer(agent_id, self.live_call(call_id).acd_key)
        self._ring_timers.pop(call_id, None)  # only once the (agent, call) pair is right
        uow = UnitOfWork()
        self.apply(decision, uow)
        self.metrics.ring_no_answer()
        self.submit(uow)

    def _wrap_expired(self, agent_id: str, _call_id: str) -> None:
        decision = self.acd.wrap_up_done(agent_id)
        self._wrap_timers.pop(agent_id, None)
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.wrap_call_id, agent.wrap_record = "", None
        uow = UnitOfWork()
        self.apply(decision, uow)
        self.sync_agent(agent_id, uow, self.now_ms())
        self.submit(uow)

    def cancel_timers(self) -> None:
        for handle in [*self._ring_timers.values(), *self._wrap_timers.values()]:
            handle.cancel()
        self._ring_timers.clear()
        self._wrap_timers.clear()


async def _discard(aw: Awaitable[object]) -> None:
    await aw


def _cdr_payload(cdr: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in cdr.__dataclass_fields__:  # type: ignore[attr-defined]
        value = getattr(cdr, f)
        out[f] = list(value) if isinstance(value, tuple) else value
    return out
