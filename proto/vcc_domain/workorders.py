"""Closed-loop work orders (DOMAIN.md §4): form, lifecycle, deadlines, escalation, callbacks.

Pure: no I/O, times are integer epoch milliseconds handed in by the caller, working days
come from a :class:`~vcc_domain.calendar.WorkCalendar`.

**Lifecycle.** ``created -> dispatched -> in_progress -> answered -> replied ->
callback_done -> closed``. A department may answer straight after dispatch (progress is
optional) and may report progress more than once; a replied order that needs no callback
may close without one. Anything else raises :class:`Conflict`.

**Deadlines** (from the business's :class:`WorkOrderSpec`): the department answers within
``deadline_working_days`` (``answer_due_ms``) and at the latest within
``latest_working_days`` (``latest_due_ms``); the center replies to the customer within
``reply_working_days`` of the answer (``reply_due_ms``) and calls back within 1 working
day of the result (``callback_due_ms``).

**Escalation.** An order still unanswered past ``answer_due_ms`` is *overdue* (level 1),
past ``latest_due_ms`` *escalated* (level 2); a reply or callback past its due time is
overdue too. Every rise of the level is a chase (催办) of the department; agents and
leaders may chase by hand as well (``chased`` counts both).

**Callbacks** (回访): every order whose business calls back 100 % (complaints, inquiries,
...) gets one when its result comes back. Fault repairs call back ``callback_percent``
(at least 5 %) of the affected callers, spread over the affected area:
:func:`select_callbacks` samples every area (street) separately, at least one caller per
area, deterministically for a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from vcc_domain.calendar import WorkCalendar
from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.province import WorkOrderSpec

CREATED, DISPATCHED, IN_PROGRESS = "created", "dispatched", "in_progress"
ANSWERED, REPLIED, CALLBACK_DONE, CLOSED = "answered", "replied", "callback_done", "closed"
STATES = (CREATED, DISPATCHED, IN_PROGRESS, ANSWERED, REPLIED, CALLBACK_DONE, CLOSED)
OPEN_DEPARTMENT = frozenset({CREATED, DISPATCHED, IN_PROGRESS})  # the department owes
TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({DISPATCHED}),
    DISPATCHED: frozenset({IN_PROGRESS, ANSWERED}),
    IN_PROGRESS: frozenset({IN_PROGRESS, ANSWERED}),
    ANSWERED: frozenset({REPLIED}),
    REPLIED: frozenset({CALLBACK_DONE, CLOSED}),
    CALLBACK_DONE: frozenset({CLOSED}),
    CLOSED: frozenset(),
}

LEVEL_NONE, LEVEL_OVERDUE, LEVEL_ESCALATED = 0, 1, 2
LEVEL_NAMES = ("on_time", "overdue", "escalated")

#: Fields a department or campaign fills in later; never required at creation.
FEEDBACK_FIELDS = frozenset(
    {"repair_team", "repair_phone", "departure_time", "expected_repair_time", "result", "attempts"}
)
#: Fields any order may carry besides its form.
OPTIONAL_FIELDS = frozenset({"area", "street", "customer_type", "incident", "notes"})
MAX_FIELD_CHARS = 2000
MAX_FIELD_NAME = 64
MAX_FIELDS = 40
CALLBACK_DAYS = 1


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One work order as stored at a site (and copied to the hub)."""

    order_id: str  # "wo_...", the same at every site
    site_id: str  # site holding this row
    owner_site: str  # site where the order lives (the caller's home site)
    origin_site: str  # site whose agent created it
    call_id: str
    business_id: str
    order_type: str  # spec.type: inquiry, complaint, fault_repair, ...
    department: str
    state: str
    created_at_ms: int
    answer_due_ms: int
    latest_due_ms: int
    customer_id: str = ""
    caller_number: str = ""
    agent_id: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    area: str = ""  # street / area, for spreading fault callbacks
    incident: str = ""  # fault repairs of one outage share an incident
    dispatched_at_ms: int = 0
    answered_at_ms: int = 0
    result: str = ""
    reply_due_ms: int = 0
    replied_at_ms: int = 0
    callback_required: bool = False
    callback_from_ms: int = 0  # earliest time to call back (working hours / after work)
    callback_due_ms: int = 0
    callback_done_at_ms: int = 0
    callback_result: str = ""
    closed_at_ms: int = 0
    escalation: int = LEVEL_NONE
    chased: int = 0
    forward_state: str = ""  # "" | "pending" (home site not reached yet) | "forwarded"
    version: int = 1
    updated_at_ms: int = 0

    @property
    def is_reference(self) -> bool:
        """This site only points at an order living at another site."""
        return self.owner_site != self.site_id


# -- the form --------------------------------------------------------------------------


def validate_fields(spec: WorkOrderSpec, values: Mapping[str, str]) -> dict[str, str]:
    """The form fields, checked: every field of the form that is not feedback present and
    non-blank, nothing unknown, nothing oversized. Raises InvalidInput naming the field."""
    if len(values) > MAX_FIELDS:
        raise InvalidInput(f"at most {MAX_FIELDS} fields", field="fields")
    allowed = set(spec.fields) | OPTIONAL_FIELDS
    out: dict[str, str] = {}
    for name, value in values.items():
        if len(name) > MAX_FIELD_NAME or name not in allowed:
            raise InvalidInput(
                f"unknown field for a {spec.type} order", field=f"fields.{name[:MAX_FIELD_NAME]}"
            )
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"longer than {MAX_FIELD_CHARS} characters", field=f"fields.{name}")
        out[name] = value.strip()
    for name in spec.fields:
        if name not in FEEDBACK_FIELDS and not out.get(name):
            raise InvalidInput("required by the form", field=f"fields.{name}")
    return out


def area_of(values: Mapping[str, str]) -> str:
    """The area a caller belongs to: ``street`` or ``area``, else the address up to the
    first comma (or the whole address)."""
    for key in ("street", "area"):
        if values.get(key):
            return values[key]
    address = values.get("address", "")
    return address.replace("，", ",").split(",")[0].strip()


def new_order(
    spec: WorkOrderSpec,
    cal: WorkCalendar,
    *,
    order_id: str,
    site_id: str,
    owner_site: str,
    call_id: str,
    business_id: str,
    values: Mapping[str, str],
    now_ms: int,
    customer_id: str = "",
    caller_number: str = "",
    agent_id: str = "",
) -> WorkOrder:
    checked = validate_fields(spec, values)
    return WorkOrder(
        order_id=order_id,
        site_id=site_id,
        owner_site=owner_site,
        origin_site=site_id,
        call_id=call_id,
        business_id=business_id,
        order_type=spec.type,
        department=spec.department,
        state=CREATED,
        created_at_ms=now_ms,
        answer_due_ms=cal.deadline_ms(now_ms, spec.deadline_working_days),
        latest_due_ms=cal.deadline_ms(
            now_ms, max(spec.latest_working_days, spec.deadline_working_days)
        ),
        customer_id=customer_id,
        caller_number=caller_number,
        agent_id=agent_id,
        fields=checked,
        area=area_of(checked),
        incident=checked.get("incident", ""),
        updated_at_ms=now_ms,
    )


# -- lifecycle ---------------------------------------------------------------------------


def _move(order: WorkOrder, to: str, now_ms: int, **changes: object) -> WorkOrder:
    if to not in TRANSITIONS[order.state]:
        raise Conflict(
            f"work order {order.order_id} is {order.state}; cannot become {to}",
            field="state",
            state=order.state,
        )
    return replace(order, state=to, updated_at_ms=now_ms, version=order.version + 1, **changes)  # type: ignore[arg-type]


def _feedback(order: WorkOrder, details: Mapping[str, str]) -> dict[str, str]:
    for name, value in details.items():
        if len(name) > MAX_FIELD_NAME or len(value) > MAX_FIELD_CHARS:
            raise InvalidInput("feedback field too long", field=f"details.{name[:64]}")
    return {**order.fields, **details}


def dispatch(order: WorkOrder, now_ms: int, details: Mapping[str, str] = {}) -> WorkOrder:
    """The department took the order (fault repair: crew, phone, departure, expected)."""
    return _move(
        order, DISPATCHED, now_ms, dispatched_at_ms=now_ms, fields=_feedback(order, details)
    )


def progress(order: WorkOrder, now_ms: int, details: Mapping[str, str] = {}) -> WorkOrder:
    return _move(order, IN_PROGRESS, now_ms, fields=_feedback(order, details))


def answer(
    order: WorkOrder,
    spec: WorkOrderSpec,
    cal: WorkCalendar,
    now_ms: int,
    result: str,
    details: Mapping[str, str] = {},
    *,
    callback: bool | None = None,
) -> WorkOrder:
    """The result came back. ``callback``: whether this order is called back (None: the
    business's rule for a single order, i.e. when it calls back 100 %)."""
    if not result.strip():
        raise InvalidInput("a result is required", field="result")
    wanted = spec.callback_percent >= 100 if callback is None else callback
    cb_from, cb_due = schedule_callback(cal, now_ms, order.fields.get("customer_type", ""))
    return _move(
        order,
        ANSWERED,
        now_ms,
        answered_at_ms=now_ms,
        result=result.strip(),
        fields=_feedback(order, {**details, "result": result.strip()}),
        reply_due_ms=cal.deadline_ms(now_ms, spec.reply_working_days),
        callback_required=wanted,
        callback_from_ms=cb_from if wanted else 0,
        callback_due_ms=cb_due if wanted else 0,
    )


def reply(order: WorkOrder, now_ms: int) -> WorkOrder:
    """The center told the customer the result."""
    return _move(order, REPLIED, now_ms, replied_at_ms=now_ms)


def callback_done(order: WorkOrder, now_ms: int, result: str) -> WorkOrder:
    if not order.callback_required:
        raise Conflict(f"work order {order.order_id} has no callback", field="callback")
    return _move(
        order,
        CALLBACK_DONE,
        now_ms,
        callback_done_at_ms=now_ms,
        callback_result=result.strip() or "done",
    )


def close(order: WorkOrder, now_ms: int) -> WorkOrder:
    if order.state == REPLIED and order.callback_required:
        raise Conflict(f"work order {order.order_id} still needs its callback", field="callback")
    return _move(order, CLOSED, now_ms, closed_at_ms=now_ms)


def chase(order: WorkOrder, now_ms: int) -> WorkOrder:
    """催办: remind whoever owes the next step (counted; the state does not change)."""
    if order.state == CLOSED:
        raise Conflict(f"work order {order.order_id} is closed", field="state")
    return replace(order, chased=order.chased + 1, updated_at_ms=now_ms, version=order.version + 1)


# -- overdue and escalation ---------------------------------------------------------------


def escalation_level(order: WorkOrder, now_ms: int) -> int:
    """0 on time, 1 overdue, 2 escalated (past the latest limit); see the module doc."""
    if order.state in OPEN_DEPARTMENT:
        if now_ms >= order.latest_due_ms:
            return LEVEL_ESCALATED
        return LEVEL_OVERDUE if now_ms >= order.answer_due_ms else LEVEL_NONE
    if order.state == ANSWERED and order.reply_due_ms and now_ms >= order.reply_due_ms:
        return LEVEL_OVERDUE
    if (
        order.state == REPLIED
        and order.callback_required
        and order.callback_due_ms
        and now_ms >= order.callback_due_ms
    ):
        return LEVEL_OVERDUE
    return LEVEL_NONE


def is_overdue(order: WorkOrder, now_ms: int) -> bool:
    return escalation_level(order, now_ms) > LEVEL_NONE


def escalate(order: WorkOrder, now_ms: int) -> WorkOrder | None:
    """The order raised to its current level and chased, or None if nothing changed.
    Levels only rise (a late answer does not un-escalate the record)."""
    level = escalation_level(order, now_ms)
    if level <= order.escalation:
        return None
    return replace(
        order,
        escalation=level,
        chased=order.chased + 1,
        updated_at_ms=now_ms,
        version=order.version + 1,
    )


def scan_overdue(orders: Iterable[WorkOrder], now_ms: int) -> list[WorkOrder]:
    """Every order of ``orders`` whose escalation rose, as changed."""
    return [
        o
        for o in (escalate(order, now_ms) for order in orders if not order.is_reference)
        if o is not None
    ]


def answered_on_time(order: WorkOrder) -> bool | None:
    """Whether the department answered by ``answer_due_ms`` (None: not answered yet)."""
    if not order.answered_at_ms:
        return None
    return order.answered_at_ms < order.answer_due_ms


# -- callbacks -----------------------------------------------------------------------------


def schedule_callback(cal: WorkCalendar, result_at_ms: int, customer_type: str) -> tuple[int, int]:
    """(earliest, due) of a callback: within 1 working day of the result; businesses in
    working hours, residents after work (from ``day_end_hour``)."""
    due = cal.deadline_ms(result_at_ms, CALLBACK_DAYS)
    day = cal.start_day(result_at_ms)
    hour = cal.day_start_hour if customer_type == "business" else cal.day_end_hour
    earliest = cal.at_ms(day, hour)
    if earliest < result_at_ms:  # that window has begun: call from now (same day) ...
        earliest = result_at_ms
        if cal.local_hour(result_at_ms) >= (
            cal.day_end_hour if customer_type == "business" else cal.evening_end_hour
        ):
            earliest = cal.at_ms(cal.next_working_day(day), hour)  # ... or next window
    return earliest, due


def sample_size(affected: int, percent: int) -> int:
    return 0 if affected <= 0 else min(affected, math.ceil(affected * percent / 100))


def select_callbacks(orders: Iterable[WorkOrder], percent: int, seed: str | int = 0) -> set[str]:
    """Order IDs to call back among ``orders`` (one incident's affected callers).

    ``percent >= 100``: all. Otherwise every area gets ``ceil(percent % of its callers)``
    and at least one, drawn with a RNG seeded by ``seed`` and the area, over the orders
    sorted by ID, so the same input gives the same sample on any machine. The total is
    therefore at least ``percent`` % of all and every area is represented."""
    listed = sorted(orders, key=lambda o: o.order_id)
    if percent >= 100:
        return {o.order_id for o in listed}
    by_area: dict[str, list[WorkOrder]] = {}
    for order in listed:
        by_area.setdefault(order.area, []).append(order)
    chosen: set[str] = set()
    for area in sorted(by_area):
        group = by_area[area]
        rng = random.Random(f"callbacks:{seed}:{area}")
        size = max(1, sample_size(len(group), percent))
        chosen.update(o.order_id for o in rng.sample(group, size))
    return chosen


def due_callbacks(orders: Iterable[WorkOrder], now_ms: int) -> list[WorkOrder]:
    """Replied orders whose callback is pending and may be made now, most urgent first."""
    found = [
        o
        for o in orders
        if o.state == REPLIED
        and o.callback_required
        and not o.callback_done_at_ms
        and o.callback_from_ms <= now_ms
    ]
    return sorted(found, key=lambda o: (o.callback_due_ms, o.order_id))


def days_late(order: WorkOrder, cal: WorkCalendar, now_ms: int) -> int:
    """Working days the department is past its answer limit (0 if not late)."""
    if now_ms < order.answer_due_ms:
        return 0
    due_day = cal.local_day(order.answer_due_ms) - timedelta(days=1)
    return max(1, cal.working_days_between(due_day, cal.local_day(now_ms)))
