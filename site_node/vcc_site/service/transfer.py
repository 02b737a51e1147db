"""What a call carries from one site to another, and what the other side answers.

Plain data, no protobuf: ``CallMoves`` builds a :class:`Handoff` when a call is sent to
another site (an agent's transfer or consultation, an overflow) and hands it to a
:data:`RemoteTransfer` (the hub client of the ``transfer`` site component); the receiving
site's ``Remote.AcceptTransfer`` decodes the same :class:`Handoff` and answers with a
:class:`TransferAnswer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from vcc_site.store.api import CustomerRecord, LegRecord

ACCEPTED, REFUSED, TIMEOUT = "accepted", "refused", "timeout"


@dataclass(frozen=True, slots=True)
class Handoff:
    """A call's context on its way to another site (``CallContext`` in the API)."""

    call_id: str  # global: the same at every site
    new_leg_id: str  # the leg the receiving site opens (minted by the sender)
    from_site: str
    from_agent: str
    caller_number: str
    dialed_code: str
    business_id: str  # business to route as at the target (the call's own by default)
    customer: CustomerRecord | None  # summary form: id, name, tier, home site
    customer_source: str  # where it was read: a site ID or "hub" (the hub's copy)
    customer_as_of_ms: int  # when it was read at its source (0 = unknown)
    tier: str
    ivr_path: tuple[tuple[str, str, int], ...]  # node, digits, at
    notes: tuple[str, ...]  # newest last; the transfer note included
    attached: dict[str, str] = field(default_factory=dict)
    legs: tuple[LegRecord, ...] = ()  # previous legs, oldest first, at any site
    original_arrival_ms: int = 0
    target_site: str = ""
    target_skill: str = ""  # "" = the business's own skill
    target_agent: str = ""  # named agent: reserved at the target if ready, else refused
    request_id: str = ""
    kind: str = "transfer"  # transfer | consult (a consult leg: the call stays at its owner)
    # | overflow (moved from the queue by expected wait: queued at ``priority``)
    priority: str = ""  # overflow: the caller's own class ("ordinary", "vip", ...)
    answer_within_s: float | None = None  # the sender waits no longer (None: the policy's)


@dataclass(frozen=True, slots=True)
class TransferAnswer:
    outcome: str  # accepted | refused | timeout
    call_id: str = ""
    site_id: str = ""
    leg_id: str = ""
    agent_id: str = ""  # set when the call was offered straight to an agent there
    reason: str = ""
    queue_position: int = 0  # calls waiting in the target queue, this one included

    @property
    def accepted(self) -> bool:
        return self.outcome == ACCEPTED


RemoteTransfer = Callable[[Handoff], Awaitable[TransferAnswer]]
"""Sends a handoff to the hub's broker and returns the target site's answer. Raises
``Unavailable`` when the hub cannot be reached (the desk answers "hub unreachable")."""


# -- consultation (ARCHITECTURE §3.3) ------------------------------------------------------

CANCEL, COMPLETE_TRANSFER, CONFERENCE = "cancel", "transfer", "conference"


@dataclass
class ConsultLeg:
    """An open consultation, kept by the site that OWNS the call (on its LiveCall).

    ``state``: pending (the hub is asking the target site) -> accepted (queued or ringing
    there) -> connected (the consulted agent answered, reported by the target) ->
    conference (both agents and the caller; this site still owns the call).
    """

    leg_id: str
    site_id: str
    request_id: str
    state: str = "pending"
    agent_id: str = ""


KEPT, RELEASED, UNKNOWN = "kept", "released", "unknown"


@dataclass(frozen=True, slots=True)
class Ownership:
    """What a site says about a call it handed to (or tried to hand to) another site
    (``Remote.GetCallOwnership``): ``kept`` (it has the call, or ended it with its CDR),
    ``released`` (to ``to_site``, which owns it since) or ``unknown``."""

    answer: str
    to_site: str = ""
    state: str = ""


class SitePeers(Protocol):
    """Direct calls between sites about a consult leg (``Remote.ConcludeConsult`` and
    ``Remote.ReportLeg``, ``Remote.GetCallOwnership``): the ``transfer`` site
    component's client, given to ``CallMoves``."""

    async def conclude(
        self, site_id: str, call_id: str, leg_id: str, mode: str, agent_id: str
    ) -> TransferAnswer:
        """Ask the site serving a consult leg to end it as ``mode``; an unreachable
        site is a TIMEOUT/REFUSED answer, not an error."""
        ...

    async def report_leg(
        self, site_id: str, call_id: str, leg_id: str, state: str, agent_id: str, end_reason: str
    ) -> bool:
        """Tell the owning site how a consult leg served here went; returns whether the
        owner still knows the call (False: end the leg here)."""
        ...

    async def ownership(self, site_id: str, call_id: str) -> Ownership | None:
        """Ask ``site_id`` whether it still owns ``call_id``; None when it cannot be
        reached (ask again later)."""
        ...
