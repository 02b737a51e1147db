"""Shift handover (交接班): what the outgoing shift leader hands over, acknowledged.

The handover lists the unfinished work orders, the callbacks due and the open incidents
(fault repairs of one outage still open) at the time it is written, with the outgoing
leader's notes; the incoming leader acknowledges it. Both are recorded (who and when); an
acknowledged handover is final.

**Signing out** (seed 004, 交接班管理制度: the outgoing person may not leave before the
successor arrives and both have confirmed): both leaders must be signed in to write and
to acknowledge, and :func:`release` lets a leader sign out only once a handover they wrote
during this session was acknowledged by a successor who is still signed in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.workorders import CLOSED, OPEN_DEPARTMENT, WorkOrder, due_callbacks


@dataclass(frozen=True, slots=True)
class Handover:
    handover_id: str
    site_id: str
    outgoing_leader: str
    created_at_ms: int
    unfinished_orders: tuple[str, ...] = ()
    due_callbacks: tuple[str, ...] = ()
    open_incidents: tuple[str, ...] = ()
    notes: str = ""
    incoming_leader: str = ""
    acknowledged_at_ms: int = 0


def build_handover(
    handover_id: str,
    site_id: str,
    outgoing: str,
    orders: Iterable[WorkOrder],
    now_ms: int,
    notes: str = "",
) -> Handover:
    mine = [o for o in orders if not o.is_reference]
    unfinished = sorted(o.order_id for o in mine if o.state != CLOSED)
    callbacks = [o.order_id for o in due_callbacks(mine, now_ms)]
    incidents = sorted({o.incident for o in mine if o.incident and o.state in OPEN_DEPARTMENT})
    return Handover(
        handover_id,
        site_id,
        outgoing,
        now_ms,
        tuple(unfinished),
        tuple(callbacks),
        tuple(incidents),
        notes,
    )


def acknowledge(handover: Handover, incoming: str, now_ms: int) -> Handover:
    if handover.acknowledged_at_ms:
        raise Conflict(
            f"handover {handover.handover_id} was already acknowledged by "
            f"{handover.incoming_leader}",
            field="handover",
        )
    if not incoming or incoming == handover.outgoing_leader:
        raise InvalidInput("the incoming leader must be another person", field="incoming_leader")
    return replace(handover, incoming_leader=incoming, acknowledged_at_ms=now_ms)


def require_signed_in(person: str, signed_in: Collection[str], field: str) -> None:
    """Handovers are between people at their desks: ``person`` must be signed in."""
    if person not in signed_in:
        raise Conflict(f"{person or 'the leader'} must be signed in at this site", field=field)


def release(
    leader: str, since_ms: int, handovers: Iterable[Handover], signed_in: Collection[str]
) -> Handover:
    """The handover that lets ``leader`` (signed in since ``since_ms``) sign out: written
    by them since, acknowledged by a successor who is signed in. Else Conflict saying
    what is missing."""
    mine = sorted(
        (h for h in handovers if h.outgoing_leader == leader and h.created_at_ms >= since_ms),
        key=lambda h: (-h.created_at_ms, h.handover_id),
    )
    if not mine:
        raise Conflict(
            "hand over before signing out: write the handover for your successor",
            field="handover",
        )
    for h in mine:
        if h.acknowledged_at_ms and h.incoming_leader in signed_in and h.incoming_leader != leader:
            return h
    raise Conflict(
        f"handover {mine[0].handover_id} is not acknowledged by a successor who is signed "
        "in: stay until they sign in and acknowledge it",
        field="handover",
        handover_id=mine[0].handover_id,
    )
