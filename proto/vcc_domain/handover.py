"""Shift handover (交接班): what the outgoing shift leader hands over, acknowledged.

The handover lists the unfinished work orders, the callbacks due and the open incidents
(fault repairs of one outage still open) at the time it is written; the incoming leader
acknowledges it. Both are recorded (who and when); an acknowledged handover is final.
"""

from __future__ import annotations

from collections.abc import Iterable
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
