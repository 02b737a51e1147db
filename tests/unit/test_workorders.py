"""Work orders: form fields, lifecycle, deadlines across weekends and holidays, escalation,
callback rules, outbound campaigns, handover, figures; and the site service over the
memory store (forwarding to the home site, feedback, events)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import pytest

from vcc_domain import workorders as wo
from vcc_domain.calendar import CN_2025, WorkCalendar
from vcc_domain.clock import ManualClock
from vcc_domain.errors import Conflict, InvalidInput, Unavailable
from vcc_domain.handover import acknowledge, build_handover
from vcc_domain.outbound import (
    DONE,
    PENDING,
    RETURNED,
    call_order,
    parse_campaign_csv,
    record_attempt,
    returned_list,
)
from vcc_domain.province import WorkOrderSpec, load_province_file
from vcc_domain.workorder_figures import order_figures, total
from vcc_ops.cli import example_province_path
from vcc_site.service.campaigns import CampaignService, HandoverService
from vcc_site.service.core import SiteCore
from vcc_site.service.workorders import WorkOrderService
from vcc_site.store.api import CallRecord, UnitOfWork
from vcc_site.store.memory import MemorySiteStore

CAL = WorkCalendar()
COMPLAINT = WorkOrderSpec(
    "complaint",
    "Service quality office",
    2,
    4,
    1,
    100,
    ("name", "phone", "subject", "details", "desired_outcome"),
)
FAULT = WorkOrderSpec(
    "fault_repair",
    "Repair dispatch",
    1,
    2,
    1,
    5,
    (
        "name",
        "address",
        "phone",
        "symptom",
        "repair_team",
        "departure_time",
        "expected_repair_time",
        "result",
    ),
)
COMPLAINT_FIELDS = {
    "name": "张三",
    "phone": "13800000000",
    "subject": "tariff",
    "details": "charged twice",
    "desired_outcome": "refund",
}


def order(
    spec: WorkOrderSpec = COMPLAINT,
    at_ms: int | None = None,
    n: int = 0,
    values: dict[str, str] | None = None,
    cal: WorkCalendar = CAL,
) -> wo.WorkOrder:
    at = cal.at_ms(date(2025, 3, 7), 10) if at_ms is None else at_ms  # a Friday
    return wo.new_order(
        spec,
        cal,
        order_id=f"wo_{n:04d}",
        site_id="KM",
        owner_site="KM",
        call_id=f"call_{n}",
        business_id="complaint",
        values=values or COMPLAINT_FIELDS,
        now_ms=at,
    )


# -- form ------------------------------------------------------------------------------


def test_required_unknown_and_oversized_fields_are_named() -> None:
    with pytest.raises(InvalidInput) as missing:
        wo.validate_fields(COMPLAINT, {k: v for k, v in COMPLAINT_FIELDS.items() if k != "details"})
    assert missing.value.field == "fields.details"
    with pytest.raises(InvalidInput) as blank:
        wo.validate_fields(COMPLAINT, {**COMPLAINT_FIELDS, "subject": "  "})
    assert blank.value.field == "fields.subject"
    with pytest.raises(InvalidInput) as unknown:
        wo.validate_fields(COMPLAINT, {**COMPLAINT_FIELDS, "shoe_size": "42"})
    assert unknown.value.field == "fields.shoe_size"
    with pytest.raises(InvalidInput) as big:
        wo.validate_fields(COMPLAINT, {**COMPLAINT_FIELDS, "details": "x" * 2001})
    assert big.value.field == "fields.details"
    # feedback fields are not required at creation; optional ones are allowed
    ok = wo.validate_fields(
        FAULT,
        {
            "name": "李四",
            "address": "人民路, 5号",
            "phone": "1",
            "symptom": "no dial tone",
            "street": "人民路",
        },
    )
    assert ok["street"] == "人民路"


# -- deadlines ---------------------------------------------------------------------------


def test_deadlines_across_weekend_and_cut_off() -> None:
    friday_morning = order()
    assert friday_morning.answer_due_ms == CAL.day_start_ms(date(2025, 3, 12))  # end of Tue
    assert friday_morning.latest_due_ms == CAL.day_start_ms(date(2025, 3, 14))  # end of Thu
    friday_evening = order(at_ms=CAL.at_ms(date(2025, 3, 7), 18))
    assert friday_evening.answer_due_ms == CAL.day_start_ms(date(2025, 3, 13))


def test_deadlines_across_holidays() -> None:
    # created on Sep 30 2025 at 10:00: National Day holiday Oct 1-8, Oct 11 is a make-up day
    o = order(at_ms=CN_2025.at_ms(date(2025, 9, 30), 10), cal=CN_2025)
    assert o.answer_due_ms == CN_2025.day_start_ms(date(2025, 10, 11))  # end of Oct 10
    assert o.latest_due_ms == CN_2025.day_start_ms(date(2025, 10, 14))  # end of Oct 13
    report = replace(COMPLAINT, type="report", deadline_working_days=9, latest_working_days=9)
    r = order(spec=report, at_ms=CN_2025.at_ms(date(2025, 9, 26), 9), cal=CN_2025)
    # Sep 26 + 9 working days: 28, 29, 30, Oct 9, 10, 11, 13, 14, 15
    assert r.answer_due_ms == CN_2025.day_start_ms(date(2025, 10, 16))


# -- lifecycle -----------------------------------------------------------------------------


def test_lifecycle_and_illegal_transitions() -> None:
    o = order()
    with pytest.raises(Conflict):
        wo.answer(o, COMPLAINT, CAL, o.created_at_ms + 1, "fixed")
    with pytest.raises(Conflict):
        wo.close(o, o.created_at_ms + 1)
    o = wo.dispatch(o, o.created_at_ms + 1)
    o = wo.progress(o, o.created_at_ms + 2, {"notes": "looking"})
    o = wo.progress(o, o.created_at_ms + 3)
    with pytest.raises(InvalidInput):
        wo.answer(o, COMPLAINT, CAL, o.created_at_ms + 4, "   ")
    o = wo.answer(o, COMPLAINT, CAL, o.created_at_ms + 4, "refunded")
    assert o.state == wo.ANSWERED and o.callback_required and o.reply_due_ms > o.answered_at_ms
    with pytest.raises(Conflict):
        wo.dispatch(o, o.created_at_ms + 5)
    o = wo.reply(o, o.created_at_ms + 5)
    with pytest.raises(Conflict):  # a complaint must be called back before it closes
        wo.close(o, o.created_at_ms + 6)
    o = wo.callback_done(o, o.created_at_ms + 6, "satisfied")
    o = wo.close(o, o.created_at_ms + 7)
    assert o.state == wo.CLOSED and o.version == 8
    with pytest.raises(Conflict):
        wo.chase(o, o.created_at_ms + 8)
    with pytest.raises(Conflict):
        wo.reply(o, o.created_at_ms + 8)


# -- escalation ------------------------------------------------------------------------------


def test_overdue_orders_escalate_and_are_chased() -> None:
    o = wo.dispatch(order(), order().created_at_ms + 1)
    assert wo.scan_overdue([o], o.answer_due_ms - 1) == []
    [late] = wo.scan_overdue([o], o.answer_due_ms)
    assert late.escalation == wo.LEVEL_OVERDUE and late.chased == 1
    assert wo.scan_overdue([late], late.answer_due_ms + 1) == []  # same level: nothing new
    [worse] = wo.scan_overdue([late], late.latest_due_ms)
    assert worse.escalation == wo.LEVEL_ESCALATED and worse.chased == 2
    assert wo.chase(worse, worse.latest_due_ms + 1).chased == 3
    # an answered order past its reply limit is overdue again (the center owes the reply)
    answered = wo.answer(o, COMPLAINT, CAL, o.created_at_ms + 10, "done")
    assert not wo.is_overdue(answered, answered.answered_at_ms + 1)
    assert wo.is_overdue(answered, answered.reply_due_ms)
    reference = replace(o, site_id="DL")
    assert wo.scan_overdue([reference], o.latest_due_ms) == []


# -- callbacks ---------------------------------------------------------------------------------


def test_complaints_and_inquiries_are_all_called_back() -> None:
    orders = [order(n=i) for i in range(7)]
    assert wo.select_callbacks(orders, 100) == {o.order_id for o in orders}


def test_fault_sample_is_at_least_five_percent_and_spread_over_the_area() -> None:
    streets = {"人民路": 60, "北京路": 25, "东风路": 10, "滇池路": 5}
    orders = []
    for street, count in streets.items():
        for _ in range(count):
            orders.append(replace(order(n=len(orders)), area=street, order_type="fault_repair"))
    chosen = wo.select_callbacks(orders, 5, seed="incident-1")
    assert len(chosen) >= 5  # 5 % of 100
    by_street = {o.area for o in orders if o.order_id in chosen}
    assert by_street == set(streets)  # every street represented
    assert wo.select_callbacks(orders, 5, seed="incident-1") == chosen  # deterministic
    assert wo.select_callbacks(list(reversed(orders)), 5, seed="incident-1") == chosen
    per_street = {
        s: sum(1 for o in orders if o.area == s and o.order_id in chosen) for s in streets
    }
    assert per_street == {"人民路": 3, "北京路": 2, "东风路": 1, "滇池路": 1}


def test_callback_windows_business_hours_and_after_work() -> None:
    at = CAL.at_ms(date(2025, 3, 7), 10)
    business = wo.schedule_callback(CAL, at, "business")
    resident = wo.schedule_callback(CAL, at, "")
    assert business == (at, CAL.day_start_ms(date(2025, 3, 11)))  # within 1 working day
    assert resident[0] == CAL.at_ms(date(2025, 3, 7), 17)  # after work


# -- outbound ------------------------------------------------------------------------------


CSV = """customer_id,phone,tier,notice
C1,100,ordinary,bill
C2,101,vip,bill
C3,102,middle,bill
C4,103,high,bill
"""


def test_outbound_key_customers_first_and_three_attempts() -> None:
    entries = parse_campaign_csv("camp1", "bill_notice", CSV)
    assert [e.customer_id for e in call_order(entries)] == ["C2", "C4", "C3", "C1"]
    first = entries[1]
    tried = record_attempt(first, "no_answer", 1)
    assert tried.state == PENDING and tried.attempts == 1
    tried = record_attempt(record_attempt(tried, "busy", 2), "unreachable", 3)
    assert tried.state == RETURNED and tried.attempts == 3
    with pytest.raises(Conflict):
        record_attempt(tried, "no_answer", 4)
    done = record_attempt(entries[3], "reached", 5)
    assert done.state == DONE
    later = [entries[0], tried, entries[2], done]
    assert [e.customer_id for e in returned_list(later)] == ["C2"]
    assert [e.customer_id for e in call_order(later)] == ["C3", "C1"]
    with pytest.raises(InvalidInput):
        record_attempt(entries[0], "shrug", 6)
    with pytest.raises(InvalidInput):
        parse_campaign_csv("c", "bill_notice", "phone\n1\n")


# -- handover and figures --------------------------------------------------------------------


def test_handover_lists_and_is_acknowledged_once() -> None:
    open_one = replace(order(n=1), incident="inc-9")
    answered = wo.reply(wo.answer(wo.dispatch(order(n=2), 1), COMPLAINT, CAL, 2, "ok"), 3)
    h = build_handover(
        "chg_1", "KM", "KM-0001", [open_one, answered], now_ms=answered.callback_due_ms
    )
    assert h.unfinished_orders == ("wo_0001", "wo_0002")
    assert h.due_callbacks == ("wo_0002",) and h.open_incidents == ("inc-9",)
    with pytest.raises(InvalidInput):
        acknowledge(h, "KM-0001", 5)
    acked = acknowledge(h, "KM-0002", 5)
    assert acked.incoming_leader == "KM-0002" and acked.acknowledged_at_ms == 5
    with pytest.raises(Conflict):
        acknowledge(acked, "KM-0003", 6)


def test_figures_on_time_overdue_and_callbacks() -> None:
    a = wo.dispatch(order(n=1), 1)
    on_time = wo.answer(a, COMPLAINT, CAL, a.answer_due_ms - 1, "ok")
    late = wo.answer(replace(a, order_id="wo_0002"), COMPLAINT, CAL, a.answer_due_ms + 1, "ok")
    done = wo.callback_done(wo.reply(on_time, a.answer_due_ms), a.answer_due_ms + 1, "fine")
    overdue = replace(a, order_id="wo_0003")
    reference = replace(a, order_id="wo_0004", site_id="DL")
    rows = order_figures([done, late, overdue, reference], now_ms=a.answer_due_ms + 5)
    assert len(rows) == 1
    f = rows[0]
    assert (f.total, f.answered, f.answered_on_time, f.outstanding, f.overdue) == (3, 2, 1, 3, 1)
    assert f.on_time_rate == 0.5 and (f.callbacks_required, f.callbacks_done) == (2, 1)
    assert total(rows).callback_rate == 0.5


# -- the site service over the memory store ----------------------------------------------


class FakeForwarder:
    def __init__(self) -> None:
        self.up = True
        self.received: list[wo.WorkOrder] = []

    async def forward(self, home_site: str, o: wo.WorkOrder) -> wo.WorkOrder:
        if not self.up:
            raise Unavailable(f"site {home_site} down")
        self.received.append(o)
        return o


async def _service(forwarder: FakeForwarder | None = None) -> tuple[WorkOrderService, ManualClock]:
    province = load_province_file(example_province_path())
    clock = ManualClock(CAL.at_ms(date(2025, 3, 7), 10) / 1000)
    store = MemorySiteStore("KM")
    core = SiteCore(province, "KM", store, clock)
    core.add_agent(SimpleNamespace(agent_id="KM-0001", token="tok"))  # type: ignore[arg-type]
    for n, home in (("1", "KM"), ("2", "DL")):
        await store.commit(
            UnitOfWork().add(
                CallRecord(
                    call_id=f"call_{n}",
                    site_id="KM",
                    entry_site="KM",
                    home_site=home,
                    caller_number="19871000001",
                    dialed_code="1000",
                    business_id="complaint",
                    customer_id=f"{home}-C000001",
                    tier="ordinary",
                    priority="ordinary",
                    state="ended",
                    arrival_at_ms=0,
                )
            )
        )
    return WorkOrderService(core, CAL, forwarder), clock


async def test_service_lifecycle_emits_events_and_escalates() -> None:
    svc, clock = await _service()
    o = await svc.create("tok", "call_1", COMPLAINT_FIELDS)
    assert o.owner_site == "KM" and o.agent_id == "KM-0001" and o.order_type == "complaint"
    await svc.feedback(o.order_id, "dispatch", {})
    clock.advance((o.answer_due_ms - o.created_at_ms) / 1000)
    [late] = await svc.scan_overdue()
    assert late.escalation == 1
    [answered] = await svc.feedback(o.order_id, "answer", {}, "refund made")
    assert answered.callback_required
    await svc.reply(o.order_id)
    await svc.callback_done(o.order_id, "satisfied")
    closed = await svc.close(o.order_id)
    assert closed.state == "closed"
    store = svc.core.store
    kinds = [r.event.kind for r in await store.outbox_after(0)]
    assert (
        kinds[-6:]
        == [
            "work_order.created",
            "work_order.dispatch",
            "work_order.escalated",
            "work_order.answer",
            "work_order.replied",
            "work_order.callback_done",
            "work_order.closed",
        ][-6:]
    )
    [fig] = await svc.figures()
    assert fig.answered == 1 and fig.answered_on_time == 0 and fig.callbacks_done == 1
    with pytest.raises(InvalidInput):
        await svc.create("tok", "call_1", {"name": "x"})


async def test_order_for_caller_homed_elsewhere_is_forwarded_or_kept_pending() -> None:
    forwarder = FakeForwarder()
    svc, _ = await _service(forwarder)
    ref = await svc.create("tok", "call_2", COMPLAINT_FIELDS)
    assert ref.is_reference and ref.owner_site == "DL" and ref.forward_state == "forwarded"
    assert forwarder.received[0].site_id == "DL" and forwarder.received[0].owner_site == "DL"
    with pytest.raises(Conflict):
        await svc.feedback(ref.order_id, "dispatch", {})
    forwarder.up = False
    kept = await svc.create("tok", "call_2", COMPLAINT_FIELDS)
    assert not kept.is_reference and kept.forward_state == "pending:DL"
    await svc.feedback(kept.order_id, "dispatch", {})  # usable here meanwhile
    forwarder.up = True
    assert await svc.retry_forwarding() == 1
    now = await svc.get(kept.order_id)
    assert now.is_reference and forwarder.received[-1].state == "dispatched"


async def test_fault_incident_answer_selects_callbacks_and_campaigns_and_handover() -> None:
    svc, _ = await _service()
    fault_fields = {"name": "王五", "phone": "1", "symptom": "no line", "incident": "inc-1"}
    orders = []
    for i in range(40):
        street = ("人民路", "北京路")[i % 2]
        orders.append(
            await svc.create(
                "tok",
                "call_1",
                {**fault_fields, "address": f"{street}, {i}号"},
                business_id="fault",
            )
        )
    for o in orders:
        await svc.feedback(o.order_id, "dispatch", {"repair_team": "crew 3"})
    changed = await svc.feedback(orders[0].order_id, "answer", {}, "line restored")
    assert len(changed) == 40
    called = [o for o in changed if o.callback_required]
    assert len(called) >= 2 and {o.area for o in called} == {"人民路", "北京路"}
    campaigns = CampaignService(svc.core)
    await campaigns.load("camp1", "bill_notice", CSV)
    nxt = await campaigns.next_entry("camp1")
    assert nxt is not None and nxt.customer_id == "C2"
    for outcome in ("no_answer", "busy", "no_answer"):
        await campaigns.record("camp1", nxt.entry_no, outcome)
    assert [e.customer_id for e in await campaigns.returned("camp1")] == ["C2"]
    handovers = HandoverService(svc.core)
    h = await handovers.create("KM-0190", "quiet night")
    assert len(h.unfinished_orders) == 40
    acked = await handovers.acknowledge(h.handover_id, "KM-0191")
    assert acked.acknowledged_at_ms > 0
