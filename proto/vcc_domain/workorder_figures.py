"""Work-order figures (DOMAIN.md §5, issue 9): computed from order records, nothing else.

* on-time rate by kind (order type) and department: answered orders whose department
  answered by ``answer_due_ms``, over answered orders;
* outstanding (not closed) and overdue orders (see :func:`vcc_domain.workorders.is_overdue`);
* callback completion: callbacks done over callbacks required (of answered orders), and
  each required callback judged on time, late or missed against its deadline
  (:func:`vcc_domain.callbacks.timeliness`; abandoned-call callbacks are their own kind).

Reference rows (an order living at another site) are left out, so summing the figures
of every site, or computing them over the hub's province-wide copy, counts each order once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vcc_domain.callbacks import LATE, MISSED, ON_TIME, timeliness
from vcc_domain.workorders import CLOSED, WorkOrder, answered_on_time, is_overdue


@dataclass(frozen=True, slots=True)
class OrderFigures:
    kind: str  # order type
    department: str
    total: int = 0
    answered: int = 0
    answered_on_time: int = 0
    outstanding: int = 0
    overdue: int = 0
    escalated: int = 0
    callbacks_required: int = 0
    callbacks_done: int = 0
    callbacks_on_time: int = 0
    callbacks_late: int = 0
    callbacks_missed: int = 0

    @property
    def on_time_rate(self) -> float:
        """Share answered on time (1.0 when nothing was answered yet)."""
        return self.answered_on_time / self.answered if self.answered else 1.0

    @property
    def callback_rate(self) -> float:
        return self.callbacks_done / self.callbacks_required if self.callbacks_required else 1.0


def _add(f: OrderFigures, o: WorkOrder, now_ms: int) -> OrderFigures:
    on_time = answered_on_time(o)
    verdict = timeliness(o, now_ms) if o.callback_required else ""
    return OrderFigures(
        f.kind,
        f.department,
        f.total + 1,
        f.answered + (on_time is not None),
        f.answered_on_time + bool(on_time),
        f.outstanding + (o.state != CLOSED),
        f.overdue + is_overdue(o, now_ms),
        f.escalated + (o.escalation >= 2),
        f.callbacks_required + o.callback_required,
        f.callbacks_done + bool(o.callback_required and o.callback_done_at_ms),
        f.callbacks_on_time + (verdict == ON_TIME),
        f.callbacks_late + (verdict == LATE),
        f.callbacks_missed + (verdict == MISSED),
    )


def order_figures(orders: Iterable[WorkOrder], now_ms: int) -> list[OrderFigures]:
    """One row per (kind, department), sorted; reference rows skipped."""
    rows: dict[tuple[str, str], OrderFigures] = {}
    for o in orders:
        if o.is_reference:
            continue
        key = (o.order_type, o.department)
        rows[key] = _add(rows.get(key) or OrderFigures(*key), o, now_ms)
    return [rows[k] for k in sorted(rows)]


def total(figures: Iterable[OrderFigures]) -> OrderFigures:
    """All rows summed (kind and department ``"*"``)."""
    out = OrderFigures("*", "*")
    for f in figures:
        out = OrderFigures(
            "*",
            "*",
            out.total + f.total,
            out.answered + f.answered,
            out.answered_on_time + f.answered_on_time,
            out.outstanding + f.outstanding,
            out.overdue + f.overdue,
            out.escalated + f.escalated,
            out.callbacks_required + f.callbacks_required,
            out.callbacks_done + f.callbacks_done,
            out.callbacks_on_time + f.callbacks_on_time,
            out.callbacks_late + f.callbacks_late,
            out.callbacks_missed + f.callbacks_missed,
        )
    return out
