"""Callbacks as agents' work (回访): which callback is offered next, the 24-hour callback
of middle-tier callers who could not get through, and how each callback is judged.

Pure: times are integer epoch milliseconds handed in by the caller.

**Two kinds.** A work order whose result came back and whose business calls back (see
:mod:`vcc_domain.workorders`) owes a callback within 1 working day of the result, inside
the customer's window (``callback_from_ms``: working hours for businesses, after work for
residents). A caller of a tier named in ``customer_tiers.callback_within_hours`` (seed
004: middle tier, 24 h) who hung up before an agent answered gets a callback order of
kind :data:`ABANDONED_KIND`, due that many hours after the hang-up; it is stored as a
work order owned by the call center (no department), so it travels to the hub, shows in
the handover and is counted with the others.

**Offering.** :func:`next_callbacks` lists the callbacks that may be offered now: result
replied (or an abandoned-call callback), not done, the window open, not already offered;
the earliest deadline first (ties by order ID, so every run agrees).

**Judging** (:func:`timeliness`): done by the deadline is ``on_time``, done after it
``late``; not done and past it ``missed``; else ``pending``. :func:`callback_figures`
counts them per kind.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from vcc_domain.errors import InvalidInput
from vcc_domain.workorders import REPLIED, WorkOrder

ABANDONED_KIND = "abandoned_callback"
CALL_CENTER = "call_center"  # the department of an abandoned-call callback: the center
ON_TIME, LATE, MISSED, PENDING = "on_time", "late", "missed", "pending"
HOUR_MS = 3_600_000
MAX_OUTCOME = 200


def next_callbacks(
    orders: Iterable[WorkOrder], now_ms: int, offered: Collection[str] = ()
) -> list[WorkOrder]:
    """Callbacks that may be offered to an agent now, the earliest deadline first."""
    found = [
        o
        for o in orders
        if not o.is_reference
        and o.state == REPLIED
        and o.callback_required
        and not o.callback_done_at_ms
        and o.callback_from_ms <= now_ms
        and o.order_id not in offered
    ]
    return sorted(found, key=lambda o: (o.callback_due_ms, o.order_id))


def abandoned_callback(
    callback_within_hours: Mapping[str, int],
    *,
    order_id: str,
    site_id: str,
    call_id: str,
    business_id: str,
    tier: str,
    caller_number: str,
    customer_id: str,
    abandoned_at_ms: int,
) -> WorkOrder | None:
    """The callback owed to a caller of ``tier`` who hung up unanswered, or None when the
    tier has no such rule or the caller cannot be called back (no number)."""
    hours = callback_within_hours.get(tier, 0)
    if hours <= 0 or not caller_number:
        return None
    due = abandoned_at_ms + hours * HOUR_MS
    return WorkOrder(
        order_id=order_id,
        site_id=site_id,
        owner_site=site_id,
        origin_site=site_id,
        call_id=call_id,
        business_id=business_id,
        order_type=ABANDONED_KIND,
        department=CALL_CENTER,
        state=REPLIED,  # nothing to wait for but the callback itself
        created_at_ms=abandoned_at_ms,
        answer_due_ms=due,
        latest_due_ms=due,
        customer_id=customer_id,
        caller_number=caller_number,
        fields={"tier": tier, "reason": "abandoned in the queue"},
        replied_at_ms=abandoned_at_ms,
        callback_required=True,
        callback_from_ms=abandoned_at_ms,
        callback_due_ms=due,
        updated_at_ms=abandoned_at_ms,
    )


def check_outcome(outcome: str) -> str:
    """The outcome an agent records for a callback (the call's disposition)."""
    text = outcome.strip()
    if len(text) > MAX_OUTCOME:
        raise InvalidInput(f"is longer than {MAX_OUTCOME} characters", field="disposition")
    return text or "done"


def timeliness(order: WorkOrder, now_ms: int) -> str:
    """on_time / late / missed / pending of a required callback (see the module doc)."""
    due = order.callback_due_ms
    if order.callback_done_at_ms:
        return ON_TIME if not due or order.callback_done_at_ms <= due else LATE
    return MISSED if due and now_ms > due else PENDING


@dataclass(frozen=True, slots=True)
class CallbackFigures:
    kind: str  # the order's kind (ABANDONED_KIND for abandoned calls), "*" for all
    required: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0
    pending: int = 0

    @property
    def done(self) -> int:
        return self.on_time + self.late

    @property
    def on_time_rate(self) -> float:
        """Callbacks made on time over those whose deadline passed or that were made."""
        judged = self.on_time + self.late + self.missed
        return self.on_time / judged if judged else 1.0

    def plus(self, verdict: str) -> CallbackFigures:
        return CallbackFigures(
            self.kind,
            self.required + 1,
            self.on_time + (verdict == ON_TIME),
            self.late + (verdict == LATE),
            self.missed + (verdict == MISSED),
            self.pending + (verdict == PENDING),
        )


def callback_figures(orders: Iterable[WorkOrder], now_ms: int) -> list[CallbackFigures]:
    """One row per kind with required callbacks, sorted, then the ``*`` total."""
    rows: dict[str, CallbackFigures] = {}
    total = CallbackFigures("*")
    for o in orders:
        if o.is_reference or not o.callback_required:
            continue
        verdict = timeliness(o, now_ms)
        rows[o.order_type] = rows.get(o.order_type, CallbackFigures(o.order_type)).plus(verdict)
        total = total.plus(verdict)
    return [rows[k] for k in sorted(rows)] + [total]
