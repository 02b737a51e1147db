"""Pure domain code of a site: no I/O imports, time only from an injected clock."""

from vcc_site.domain.acd import RING_NO_ANSWER, Acd
from vcc_site.domain.agents import AgentState, AgentView
from vcc_site.domain.figures import BusinessFigures, QueueFigures
from vcc_site.domain.queue import CallState, CallView, EndReason, Priority
from vcc_site.domain.results import (
    AgentUpdate,
    Assignment,
    CallEnded,
    Connected,
    Queued,
    Requeued,
    Via,
)

__all__ = [
    "RING_NO_ANSWER",
    "Acd",
    "AgentState",
    "AgentUpdate",
    "AgentView",
    "Assignment",
    "BusinessFigures",
    "CallEnded",
    "CallState",
    "CallView",
    "Connected",
    "EndReason",
    "Priority",
    "QueueFigures",
    "Queued",
    "Requeued",
    "Via",
]
