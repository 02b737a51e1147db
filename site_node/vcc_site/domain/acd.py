"""The Automatic Call Distributor: pure, in memory, driven by an injected clock.

Routing rule (DOMAIN.md §3), exactly as implemented
----------------------------------------------------
*A call arrives or is put back* (``offer_call``, ``ring_no_answer`` ...): the ACD picks
among READY agents only:

1. If the call has a skill and some specialist for that skill is idle:
   a VIP call (``vip=True``, implied by ``Priority.VIP``) gets the one with the highest
   level for that skill, ties to the longest idle; any other call gets the longest-idle
   specialist, whatever the level.
2. Else an idle general agent (``general_level > 0``) with the highest general level,
   ties to the longest idle. A call with no skill (need not recognised) goes here directly.
3. Else the call waits in its skill's queue.

*An agent becomes ready* (``agent_ready``, ``wrap_up_done``, a ringing caller hangs up):
the agent takes the best waiting call it can serve: any queue if it is a general agent,
else the queues of its skills. Best = lowest ``(priority, head_key, arrival, token)`` (see
``queue.py``): priority class first (TRANSFERRED > VIP > HIGH > MIDDLE > ORDINARY >
BLACKLIST), then calls put back at the head of their class (latest first), then the
earliest arrival. Arrival is given by the caller, so an overflowed or transferred call
keeps its place. "Longest idle" means the earliest ``ready_since`` (monotonic clock); an
agent whose offered caller hung up returns to READY with its old ``ready_since``.

Because a call waits only when no READY agent can serve it and a READY agent always
takes work it can serve, no READY agent can serve any waiting call (checked by
``check_invariants``).

Expected wait (EWT)
-------------------
``aht(skill)`` is an exponentially weighted average (weight ``aht_alpha`` on the newest)
of handle times, answer to end of wrap-up, starting from ``aht_default_s`` until the first
call ends; the first samples are plainly averaged (weight 1/n while 1/n > ``aht_alpha``)
so a cold site does not keep predicting the default for dozens of calls. With ``n`` =
agents who can serve the skill and are logged in and not NOT_READY (READY, RINGING,
BUSY, WRAP_UP): EWT = 0 if one of them is READY, else ``(ahead + 1) * aht / max(1, n)``,
where ``ahead`` is the number of calls served before it (for a new caller: every waiting
call of its class or better). General agents count in every queue they can serve, which
over-states capacity when many queues are busy.

Every operation validates first and raises ``NotFound`` / ``Conflict`` / ``InvalidInput``
before changing anything, so a failed operation changes nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from vcc_domain.clock import Clock
from vcc_domain.errors import Conflict, InvalidInput, NotFound
from vcc_site.domain.agents import (
    Agent,
    AgentState,
    AgentView,
    IdleIndex,
    StaffCounts,
    require_text,
    validate_login,
)
from vcc_site.domain.checks import check_acd
from vcc_site.domain.figures import (
    BusinessFigures,
    QueueFigures,
    business_figures,
    expected_wait,
    queue_figures,
)
from vcc_site.domain.queue import (
    Call,
    CallQueue,
    CallState,
    CallView,
    EndReason,
    Priority,
    best_call,
)
from vcc_site.domain.results import (
    AgentUpdate,
    Assignment,
    CallEnded,
    Connected,
    Queued,
    Requeued,
    Via,
)

RING_NO_ANSWER = "ring_no_answer"
_REMOVABLE = frozenset(
    {EndReason.TRANSFERRED_OUT, EndReason.OVERFLOWED, EndReason.LOST, EndReason.QUEUE_TIMEOUT}
)


class Acd:
    """Queues, idle agents and the call/agent state machines of one site."""

    def __init__(
        self,
        clock: Clock,
        *,
        aht_default_s: float = 180.0,
        aht_alpha: float = 0.2,
        ended_memory: int = 100_000,
    ) -> None:
        self._clock = clock
        self._aht_default = aht_default_s
        self._aht_alpha = aht_alpha
        self._ended_memory = ended_memory
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, Call] = {}  # active calls only
        self._ended: dict[str, CallView] = {}  # recently ended, oldest first
        self._queues: dict[str | None, CallQueue] = {}
        self._all = CallQueue()
        self._idle = IdleIndex(self._agents)
        self._staff = StaffCounts()
        self._aht: dict[str | None, float] = {}
        self._aht_samples: dict[str | None, int] = {}
        self._tokens = itertools.count(1)
        self._heads = itertools.count(1)

    # -- queries ------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        return AgentView.of(self._agent(agent_id))

    def call(self, call_id: str) -> CallView:
        """An active call, or a recently ended one."""
        active = self._calls.get(call_id)
        if active is not None:
            return CallView.of(active)
        if call_id in self._ended:
            return self._ended[call_id]
        raise NotFound(f"unknown call {call_id!r}", field="call_id")

    @property
    def waiting(self) -> int:
        return len(self._all)

    def idle_agent(self, skill: str | None) -> str | None:
        """The READY agent a call for ``skill`` would be offered now (None: nobody)."""
        found = self._idle.choose(skill, best_qualified=False)
        return found.agent_id if found is not None else None

    def aht(self, skill: str | None) -> float:
        return self._aht.get(skill, self._aht_default)

    def ewt(self, skill: str | None, priority: Priority = Priority.ORDINARY) -> float:
        """Expected wait of a caller of ``priority`` arriving now for ``skill``."""
        queue = self._queues.get(skill)
        ahead = 0 if queue is None else queue.ahead_of_new(priority)
        return expected_wait(self._staff, skill, self.aht(skill), ahead)

    def expected_wait(self, call_id: str) -> float:
        """Expected remaining wait of a call: 0 unless it is queued (O(its class))."""
        call = self._active(call_id)
        if call.state is not CallState.QUEUED:
            return 0.0
        ahead = self._queue(call.skill).ahead_of(call)
        return expected_wait(self._staff, call.skill, self.aht(call.skill), ahead)

    def queue_figures(self, skill: str | None) -> QueueFigures:
        queue = self._queues.get(skill) or CallQueue()
        return queue_figures(skill, queue, self._staff, self.aht(skill), self._clock.now())

    def all_queue_figures(self) -> list[QueueFigures]:
        """Figures of every skill with a queue or a specialist (O(waiting) overall)."""
        skills: set[str | None] = set(self._queues) | set(self._staff.spec)
        return [self.queue_figures(s) for s in sorted(skills, key=lambda s: s or "")]

    def business_figures(self) -> dict[str, BusinessFigures]:
        """Waiting calls and longest wait per business (scans the waiting calls)."""
        return business_figures(self._all, self._clock.now())

    def check_invariants(self) -> None:
        """Raise AssertionError if any state or index is inconsistent (for tests)."""
        check_acd(self._agents, self._calls, self._queues, self._all, self._idle, self._staff)

    # -- agents -------------------------------------------------------------------------

    def login(
        self, agent_id: str, skills: Mapping[str, int], general_level: int = 0
    ) -> AgentUpdate:
        """Log an agent in as NOT_READY("login"); skills and levels are taken anew."""
        validate_login(agent_id, skills, general_level)
        old = self._agents.get(agent_id)
        if old is not None and old.state is not AgentState.LOGGED_OUT:
            raise Conflict(f"agent {agent_id!r} is already logged in", field="agent_id")
        agent = Agent(agent_id, dict(skills), general_level)
        self._agents[agent_id] = agent
        return self._update(agent, AgentState.NOT_READY, "login", None)

    def logout(self, agent_id: str) -> AgentUpdate:
        """Log out; refused on a call; a ringing call goes back to the head of its class."""
        agent = self._agent(agent_id)
        self._refuse(agent, AgentState.LOGGED_OUT, AgentState.BUSY, doing="log out")
        return self._leave(agent, AgentState.LOGGED_OUT, None)

    def not_ready(self, agent_id: str, reason: str) -> AgentUpdate:
        """Away/break/...; refused on a call; a ringing call goes back to the head."""
        require_text(reason, "reason")
        agent = self._agent(agent_id)
        self._refuse(agent, AgentState.LOGGED_OUT, AgentState.BUSY, doing="go not-ready")
        return self._leave(agent, AgentState.NOT_READY, reason)

    def agent_ready(self, agent_id: str) -> Assignment | None:
        """NOT_READY or WRAP_UP -> READY, then take the best waiting call it can serve."""
        agent = self._agent(agent_id)
        if agent.state not in (AgentState.NOT_READY, AgentState.WRAP_UP):
            raise Conflict(
                f"agent {agent_id!r} cannot become ready while {agent.state.value}",
                field="agent_id",
            )
        return self._make_ready(agent)

    def wrap_up_done(self, agent_id: str) -> Assignment | None:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise Conflict(
                f"agent {agent_id!r} is not in wrap-up ({agent.state.value})", field="agent_id"
            )
        return self._make_ready(agent)

    # -- calls --------------------------------------------------------------------------

    def offer_call(
        self,
        call_id: str,
        *,
        business: str,
        skill: str | None,
        priority: Priority = Priority.ORDINARY,
        arrival: float | None = None,
        vip: bool = False,
        reserve: str | None = None,
    ) -> Assignment | Queued:
        """A call needs an agent; ``arrival`` defaults to now (wall clock). ``reserve``
        names an agent who must be READY and is offered the call whatever the rules
        (a transfer or consultation to a named agent); Conflict otherwise. If that agent
        does not answer, the call is placed as usual (its skill's queue)."""
        require_text(call_id, "call_id")
        require_text(business, "business")
        require_text(skill, "skill", optional=True)
        if not isinstance(priority, Priority):
            raise InvalidInput(f"unknown priority class {priority!r}", field="priority")
        when = self._clock.now() if arrival is None else arrival
        if not isinstance(when, int | float) or not math.isfinite(when):
            raise InvalidInput("must be a finite time in seconds", field="arrival")
        if call_id in self._calls or call_id in self._ended:
            raise Conflict(f"call {call_id!r} is already known", field="call_id")
        chosen = None if reserve is None else self._agent(reserve)
        if chosen is not None and chosen.state is not AgentState.READY:
            raise Conflict(
                f"agent {reserve!r} is {chosen.state.value}, not ready", field="agent_id"
            )
        call = Call(
            call_id, business, skill, priority, float(when), vip or priority is Priority.VIP
        )
        self._calls[call_id] = call
        return self._place(call) if chosen is None else self._offer(call, chosen)

    def answer(self, agent_id: str, call_id: str) -> Connected:
        agent, call = self._ringing(agent_id, call_id, doing="answer")
        call.state = CallState.CONNECTED
        self._set_state(agent, AgentState.BUSY, None)
        agent.handle_start, agent.handle_queue = self._clock.monotonic(), call.skill
        return Connected(call_id, agent_id, self._clock.now())

    def ring_no_answer(self, agent_id: str, call_id: str) -> Requeued:
        """The agent did not answer in time: NOT_READY("ring_no_answer"), call requeued."""
        agent, _ = self._ringing(agent_id, call_id, doing="time out")
        return self._take_back(agent, AgentState.NOT_READY, RING_NO_ANSWER)

    def hang_up(self, call_id: str) -> CallEnded:
        """The caller hung up: abandoned unless connected (then completed, agent wraps up)."""
        call = self._active(call_id)
        if call.state is CallState.QUEUED:
            self._unqueue(call)
            return self._ended_result(call, EndReason.ABANDONED, None, None)
        if call.state is CallState.CONNECTED:
            return self._end_connected(call, EndReason.COMPLETED)
        agent = self._agents[call.agent_id or ""]
        agent.call_id = None
        self._set_state(agent, AgentState.READY, None, since=agent.ready_since)
        self._end(call, EndReason.ABANDONED)
        return self._ended_result(call, EndReason.ABANDONED, agent, self._take_work(agent))

    def agent_hang_up(self, agent_id: str) -> CallEnded:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.BUSY or agent.call_id is None:
            raise Conflict(f"agent {agent_id!r} is not on a call", field="agent_id")
        return self._end_connected(self._calls[agent.call_id], EndReason.COMPLETED)

    def remove_call(self, call_id: str, reason: EndReason) -> CallEnded:
        """A waiting call leaves (transferred out, overflowed, lost), or a connected call
        is transferred out (its agent goes to wrap-up)."""
        if reason not in _REMOVABLE:
            raise InvalidInput(f"cannot remove a call as {reason!r}", field="reason")
        call = self._active(call_id)
        if call.state is CallState.QUEUED:
            self._unqueue(call)
            return self._ended_result(call, reason, None, None)
        if call.state is CallState.CONNECTED and reason is EndReason.TRANSFERRED_OUT:
            return self._end_connected(call, reason)
        raise Conflict(
            f"call {call_id!r} is {call.state.value}; cannot end it as {reason.value}",
            field="call_id",
        )

    # -- internals: lookups and guards ----------------------------------------------------

    def _agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound(f"unknown agent {agent_id!r}", field="agent_id")
        return agent

    def _active(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            ended = self._ended.get(call_id)
            if ended is not None:
                reason = ended.end_reason.value if ended.end_reason else "ended"
                raise Conflict(f"call {call_id!r} has already ended ({reason})", field="call_id")
            raise NotFound(f"unknown call {call_id!r}", field="call_id")
        return call

    def _ringing(self, agent_id: str, call_id: str, *, doing: str) -> tuple[Agent, Call]:
        agent, call = self._agent(agent_id), self._active(call_id)
        if call.state is not CallState.OFFERED or call.agent_id != agent_id:
            raise Conflict(
                f"cannot {doing}: call {call_id!r} is not ringing at agent {agent_id!r}",
                field="call_id",
            )
        return agent, call

    @staticmethod
    def _refuse(agent: Agent, *states: AgentState, doing: str) -> None:
        if agent.state in states:
            raise Conflict(
                f"agent {agent.agent_id!r} cannot {doing} while {agent.state.value}",
                field="agent_id",
            )

    def _queue(self, skill: str | None) -> CallQueue:
        queue = self._queues.get(skill)
        if queue is None:
            queue = self._queues[skill] = CallQueue()
        return queue

    # -- internals: state changes (no validation below this line) -----------------------

    def _set_state(
        self, agent: Agent, state: AgentState, reason: str | None, since: float | None = None
    ) -> None:
        old = agent.state
        if old is AgentState.READY:
            self._idle.remove(agent)
        if old is AgentState.WRAP_UP:
            self._finish_handle(agent)
        self._staff.move(
            agent,
            None if old is AgentState.LOGGED_OUT else old,
            None if state is AgentState.LOGGED_OUT else state,
        )
        agent.state, agent.reason = state, reason
        if state is AgentState.READY:
            agent.ready_since = self._clock.monotonic() if since is None else since
            agent.ready_token = next(self._tokens)
            self._idle.add(agent)

    def _finish_handle(self, agent: Agent) -> None:
        if agent.handle_start is None:
            return
        handled = max(0.0, self._clock.monotonic() - agent.handle_start)
        old = self.aht(agent.handle_queue)
        samples = self._aht_samples.get(agent.handle_queue, 0) + 1
        self._aht_samples[agent.handle_queue] = samples
        weight = max(self._aht_alpha, 1.0 / samples)  # a plain mean until alpha takes over
        self._aht[agent.handle_queue] = old + weight * (handled - old)
        agent.handle_start = None

    def _update(
        self, agent: Agent, state: AgentState, reason: str | None, requeued: Requeued | None
    ) -> AgentUpdate:
        if requeued is None:
            self._set_state(agent, state, reason)
        return AgentUpdate(agent.agent_id, state, reason, requeued, self._clock.now())

    def _leave(self, agent: Agent, state: AgentState, reason: str | None) -> AgentUpdate:
        """Move a non-busy agent to NOT_READY or LOGGED_OUT, taking back a ringing call."""
        requeued = None
        if agent.state is AgentState.RINGING:
            requeued = self._take_back(agent, state, reason)
        return self._update(agent, state, reason, requeued)

    def _make_ready(self, agent: Agent) -> Assignment | None:
        self._set_state(agent, AgentState.READY, None)
        return self._take_work(agent)

    def _take_back(self, agent: Agent, state: AgentState, reason: str | None) -> Requeued:
        call = self._calls[agent.call_id or ""]
        agent.call_id = None
        self._set_state(agent, state, reason)
        call.state, call.agent_id = CallState.QUEUED, None
        call.head_rank = next(self._heads)
        return Requeued(call.call_id, agent.agent_id, self._place(call))

    def _place(self, call: Call) -> Assignment | Queued:
        agent = self._idle.choose(call.skill, best_qualified=call.vip)
        if agent is not None:
            return self._offer(call, agent)
        call.token = next(self._tokens)
        queue = self._queue(call.skill)
        queue.push(call)
        self._all.push(call)
        ahead = queue.ahead_of(call) if call.head_rank else queue.ahead_of_new(call.priority) - 1
        ewt = expected_wait(self._staff, call.skill, self.aht(call.skill), ahead)
        return Queued(call.call_id, call.skill, call.priority, len(queue), ewt, self._clock.now())

    def _take_work(self, agent: Agent) -> Assignment | None:
        """A READY agent takes the best waiting call it can serve, if any."""
        general = agent.general_level > 0
        best = best_call(self._all if general else None, self._queues, agent.skills)
        return None if best is None else self._offer(best, agent)

    def _offer(self, call: Call, agent: Agent) -> Assignment:
        via = Via.SPECIALIST if call.skill in agent.skills else Via.GENERAL
        if call.token:
            self._unqueue(call)
        call.state, call.agent_id = CallState.OFFERED, agent.agent_id
        self._set_state(agent, AgentState.RINGING, None)
        agent.call_id = call.call_id
        return Assignment(
            call.call_id, agent.agent_id, call.skill, call.priority, via, self._clock.now()
        )

    def _unqueue(self, call: Call) -> None:
        self._queues[call.skill].discard(call)
        self._all.discard(call)
        call.token = 0

    def _end(self, call: Call, reason: EndReason) -> None:
        del self._calls[call.call_id]
        call.state = CallState.ENDED
        self._ended[call.call_id] = CallView.of(call, reason)
        if len(self._ended) > self._ended_memory:
            del self._ended[next(iter(self._ended))]

    def _end_connected(self, call: Call, reason: EndReason) -> CallEnded:
        agent = self._agents[call.agent_id or ""]
        agent.call_id = None
        self._set_state(agent, AgentState.WRAP_UP, None)
        return self._ended_result(call, reason, agent, None)

    def _ended_result(
        self, call: Call, reason: EndReason, agent: Agent | None, nxt: Assignment | None
    ) -> CallEnded:
        if call.state is not CallState.ENDED:
            self._end(call, reason)
        return CallEnded(
            call.call_id,
            reason,
            None if agent is None else agent.agent_id,
            None if agent is None else agent.state,
            nxt,
            self._clock.now(),
        )
