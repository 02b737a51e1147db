"""Agents: states, records, the index of idle agents and the per-skill staffing counts.

Idle (READY) agents are indexed three ways, each a heap with lazy deletion:

* per skill, longest-idle first: ``(ready_since, token)``;
* per skill, best-qualified first: ``(-skill_level, ready_since, token)``;
* general agents, best-qualified first: ``(-general_level, ready_since, token)``.

An entry is live while the agent's ``ready_token`` equals the entry's token; leaving
READY sets the token to 0, so every old entry goes stale at once and is skipped when it
reaches the top. Heaps are rebuilt when stale entries outnumber live ones.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from vcc_domain.errors import InvalidInput

MIN_LEVEL, MAX_LEVEL = 1, 5
MAX_TEXT = 128


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"  # with a reason: away, break, training, ring_no_answer, login
    READY = "ready"  # idle, may be offered a call
    RINGING = "ringing"  # reserved: offered one call, not yet answered
    BUSY = "busy"  # on one call
    WRAP_UP = "wrap_up"  # after-call work


STAFFED = frozenset({AgentState.READY, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP})


@dataclass(slots=True, eq=False)
class Agent:
    """The ACD's mutable record of an agent (never handed out; see ``AgentView``)."""

    agent_id: str
    skills: dict[str, int]  # skill -> level 1..5 (specialist skills)
    general_level: int  # 0: not a general agent; 1..5: serves any business
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    ready_since: float = 0.0  # monotonic; when the agent last became idle
    ready_token: int = 0  # token of the live idle-index entries; 0 when not READY
    call_id: str | None = None
    handle_start: float | None = None  # monotonic; when the current/last call was answered
    handle_queue: str | None = None  # skill of that call, for the handle-time average


@dataclass(frozen=True, slots=True)
class AgentView:
    """A read-only snapshot of an agent."""

    agent_id: str
    skills: Mapping[str, int]
    general_level: int
    state: AgentState
    reason: str | None
    ready_since: float
    call_id: str | None

    @staticmethod
    def of(agent: Agent) -> AgentView:
        return AgentView(
            agent.agent_id,
            dict(agent.skills),
            agent.general_level,
            agent.state,
            agent.reason,
            agent.ready_since,
            agent.call_id,
        )


def require_text(value: object, field: str, *, optional: bool = False) -> None:
    """Raise InvalidInput unless ``value`` is a non-empty string within the limit."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise InvalidInput(
            f"must be a non-empty string of at most {MAX_TEXT} characters", field=field
        )


def validate_login(agent_id: str, skills: Mapping[str, int], general_level: int) -> None:
    require_text(agent_id, "agent_id")
    for skill, level in skills.items():
        require_text(skill, "skills")
        if type(level) is not int or not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidInput(f"skill level of {skill!r} must be 1..5", field="skills")
    if type(general_level) is not int or not 0 <= general_level <= MAX_LEVEL:
        raise InvalidInput("must be 0 (not general) to 5", field="general_level")
    if not skills and general_level == 0:
        raise InvalidInput("an agent needs a skill or a general level", field="skills")


_Fifo = tuple[float, int, str]  # (ready_since, token, agent_id)
_Ranked = tuple[int, float, int, str]  # (-level, ready_since, token, agent_id)


class IdleIndex:
    """READY agents per skill (longest-idle and best-qualified orders) and general ones."""

    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self._agents = agents
        self._fifo: dict[str, list[_Fifo]] = {}
        self._ranked: dict[str, list[_Ranked]] = {}
        self._general: list[_Ranked] = []
        self.counts: Counter[str] = Counter()
        self.general_count = 0

    def add(self, agent: Agent) -> None:
        """Index an agent that has just become READY with a fresh ``ready_token``."""
        since, token, aid = agent.ready_since, agent.ready_token, agent.agent_id
        for skill, level in agent.skills.items():
            heapq.heappush(self._fifo.setdefault(skill, []), (since, token, aid))
            heapq.heappush(self._ranked.setdefault(skill, []), (-level, since, token, aid))
            self.counts[skill] += 1
        if agent.general_level > 0:
            heapq.heappush(self._general, (-agent.general_level, since, token, aid))
            self.general_count += 1

    def remove(self, agent: Agent) -> None:
        """Forget an agent leaving READY (its entries go stale)."""
        agent.ready_token = 0
        for skill in agent.skills:
            self.counts[skill] -= 1
            if len(self._fifo[skill]) > 2 * self.counts[skill] + 64:
                self._compact(skill)
        if agent.general_level > 0:
            self.general_count -= 1
            if len(self._general) > 2 * self.general_count + 64:
                self._general = [e for e in self._general if self._live(e[2], e[3])]
                heapq.heapify(self._general)

    def choose(self, skill: str | None, *, best_qualified: bool) -> Agent | None:
        """The idle agent for a call: a specialist for ``skill`` (the best-qualified, or
        the longest-idle), else the general agent with the highest general level; ties
        to the longest idle."""
        if skill is not None:
            found = self.best_specialist(skill) if best_qualified else self.longest_idle(skill)
            if found is not None:
                return found
        return self.best_general()

    def longest_idle(self, skill: str) -> Agent | None:
        heap = self._fifo.get(skill)
        while heap:
            _, token, aid = heap[0]
            if self._live(token, aid):
                return self._agents[aid]
            heapq.heappop(heap)
        return None

    def best_specialist(self, skill: str) -> Agent | None:
        return self._top(self._ranked.get(skill))

    def best_general(self) -> Agent | None:
        return self._top(self._general)

    def _top(self, heap: list[_Ranked] | None) -> Agent | None:
        while heap:
            _, _, token, aid = heap[0]
            if self._live(token, aid):
                return self._agents[aid]
            heapq.heappop(heap)
        return None

    def _live(self, token: int, agent_id: str) -> bool:
        agent = self._agents.get(agent_id)
        return agent is not None and agent.ready_token == token

    def _compact(self, skill: str) -> None:
        fifo = [e for e in self._fifo[skill] if self._live(e[1], e[2])]
        ranked = [e for e in self._ranked[skill] if self._live(e[2], e[3])]
        heapq.heapify(fifo)
        heapq.heapify(ranked)
        self._fifo[skill], self._ranked[skill] = fifo, ranked

    def check(self, ready: Iterable[Agent]) -> None:
        """Raise AssertionError unless exactly the READY agents are indexed."""
        counts: Counter[str] = Counter()
        general = 0
        for agent in ready:
            assert agent.ready_token > 0, f"{agent.agent_id} READY without an index token"
            for skill in agent.skills:
                counts[skill] += 1
                assert (agent.ready_since, agent.ready_token, agent.agent_id) in self._fifo[
                    skill
                ], f"{agent.agent_id} missing from the idle index of {skill}"
            general += agent.general_level > 0
        have = {k: v for k, v in self.counts.items() if v}
        assert dict(counts) == have, f"idle counts {dict(self.counts)} != {dict(counts)}"
        assert general == self.general_count, "idle general count is off"


class StaffCounts:
    """Agents per state for each skill: specialists, and general agents counted once."""

    def __init__(self) -> None:
        self.spec: dict[str, Counter[AgentState]] = {}
        self.spec_general: dict[str, Counter[AgentState]] = {}
        self.general: Counter[AgentState] = Counter()

    def move(self, agent: Agent, old: AgentState | None, new: AgentState | None) -> None:
        """Account for ``agent`` moving from ``old`` to ``new`` (None: not counted)."""
        for skill in agent.skills:
            self._shift(self.spec.setdefault(skill, Counter()), old, new)
            if agent.general_level > 0:
                self._shift(self.spec_general.setdefault(skill, Counter()), old, new)
        if agent.general_level > 0:
            self._shift(self.general, old, new)

    @staticmethod
    def _shift(
        counter: Counter[AgentState], old: AgentState | None, new: AgentState | None
    ) -> None:
        if old is not None:
            counter[old] -= 1
        if new is not None:
            counter[new] += 1

    def serving(self, skill: str | None) -> Counter[AgentState]:
        """Agents per state who can serve ``skill`` (its specialists plus general agents)."""
        out = Counter(self.general)
        if skill is not None:
            out.update(self.spec.get(skill, Counter()))
            out.subtract(self.spec_general.get(skill, Counter()))
        return out
