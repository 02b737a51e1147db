"""What ACD operations decide: plain frozen dataclasses for the service layer to persist
and turn into events. Times named ``at`` are wall-clock seconds from the injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vcc_site.domain.agents import AgentState
from vcc_site.domain.queue import EndReason, Priority


class Via(StrEnum):
    SPECIALIST = "specialist"  # the agent has the call's skill
    GENERAL = "general"  # the agent took it as a general agent


@dataclass(frozen=True, slots=True)
class Assignment:
    """The call now rings at the agent (call OFFERED, agent RINGING)."""

    call_id: str
    agent_id: str
    skill: str | None
    priority: Priority
    via: Via
    at: float


@dataclass(frozen=True, slots=True)
class Queued:
    """No agent could take the call; it waits in its skill's queue."""

    call_id: str
    skill: str | None
    priority: Priority
    waiting: int  # calls now waiting in that queue, this one included
    ewt_s: float  # expected wait of this call (see ``Acd.expected_wait``)
    at: float


@dataclass(frozen=True, slots=True)
class Connected:
    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Requeued:
    """A ringing call taken back from ``agent_id``, put at the head of its class, then
    placed again: ``then`` is a new Assignment or Queued."""

    call_id: str
    agent_id: str
    then: Assignment | Queued


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call reached its terminal state.

    ``agent_id`` is the agent who held it (None if it was waiting) and ``agent_state`` the
    state that agent moved to; ``next`` is the call that agent was then offered, if any.
    """

    call_id: str
    reason: EndReason
    agent_id: str | None
    agent_state: AgentState | None
    next: Assignment | None
    at: float


@dataclass(frozen=True, slots=True)
class AgentUpdate:
    """An agent changed state; ``requeued`` is the call taken back if it was ringing."""

    agent_id: str
    state: AgentState
    reason: str | None
    requeued: Requeued | None
    at: float
