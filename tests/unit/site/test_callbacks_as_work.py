"""Callbacks are agents' work: a due callback is offered to a ready agent like a call,
its wrap-up records the outcome, an agent never holds a callback and a call at once, and
a middle-tier caller who gives up in the queue is owed a callback within 24 hours."""

from __future__ import annotations

from argon2 import PasswordHasher, Type

from tests.integration._helpers.site import with_test_password
from vcc_domain import workorders as wo
from vcc_domain.callbacks import ABANDONED_KIND, HOUR_MS
from vcc_domain.clock import ManualClock
from vcc_domain.province import parse_province
from vcc_domain.workorders import WorkOrder
from vcc_ops.cli import example_province_path
from vcc_site.service.access import AccessService
from vcc_site.service.callbacks import CallbackWork
from vcc_site.service.core import SiteCore
from vcc_site.service.desk import DeskService
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.store.api import CredentialRecord, UnitOfWork
from vcc_site.store.customers import synthetic_customers
from vcc_site.store.memory import MemorySiteStore
from vcc_site.store.wo_reads import work_order_reads

PROVINCE = parse_province(with_test_password(example_province_path().read_text()), "yunnan")
AGENT = "KM-0131"  # a general agent: takes the outbound business's calls
PASSWORD = "callback-test-pw"
HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash(PASSWORD)
CUSTOMERS = synthetic_customers("KM", "0871", 40)


def _replied(order_id: str, due_ms: int, now_ms: int, phone: str) -> WorkOrder:
    return WorkOrder(
        order_id=order_id,
        site_id="KM",
        owner_site="KM",
        origin_site="KM",
        call_id="call-x",
        business_id="complaint",
        order_type="complaint",
        department="Service quality",
        state=wo.REPLIED,
        created_at_ms=now_ms,
        answer_due_ms=now_ms + 1,
        latest_due_ms=now_ms + 2,
        caller_number=phone,
        answered_at_ms=now_ms,
        result="fixed",
        replied_at_ms=now_ms,
        callback_required=True,
        callback_from_ms=now_ms,
        callback_due_ms=due_ms,
        updated_at_ms=now_ms,
    )


async def test_callbacks_are_offered_like_calls_and_recorded_at_wrap_up() -> None:
    store = MemorySiteStore("KM")
    clock = ManualClock(start=1_800_000_000.0)
    core = SiteCore(PROVINCE, "KM", store, clock)
    access, desk = AccessService(core, SelfService(core)), DeskService(core)
    work = CallbackWork(core)
    desk.callbacks = work
    await seed_site(core, 40)
    await store.upsert_credentials([CredentialRecord(AGENT, HASH)])
    now = core.now_ms()
    phone = CUSTOMERS[0].phone
    later, sooner = (
        _replied("wo_later", now + 5 * HOUR_MS, now, phone),
        _replied("wo_sooner", now + HOUR_MS, now, phone),
    )
    await store.commit(UnitOfWork().add(later, sooner))
    assert await work.offer_due() == []  # nobody is ready: nothing offered

    agent = await desk.login(AGENT, PASSWORD, "test")
    await desk.set_ready(agent.token)
    assert await work.offer_due() == ["wo_sooner"]  # the earliest deadline first
    offered = core.agents[AGENT].call_id
    call = core.calls[offered]
    assert call.attached["direction"] == "callback" and call.attached["order_id"] == "wo_sooner"
    assert await work.offer_due() == []  # the agent rings: no second callback

    middle = next(c for c in CUSTOMERS if c.tier == "middle")
    step = await access.offer_call(middle.phone, "1000")
    while step.kind == "collect":
        step = await access.send_digits(step.call_id, "0")
    assert step.kind == "queued", step  # the agent holds the callback: the caller waits
    await access.hang_up(step.call_id)  # ... and gives up: a 24-hour callback is owed

    await desk.answer(agent.token, offered)
    await desk.hang_up(agent.token, offered)
    await desk.wrap_up(agent.token, offered, "customer reached", "")
    reads = work_order_reads(store)
    done = await reads.order("wo_sooner")
    assert done is not None and done.state == wo.CALLBACK_DONE
    assert done.callback_result == "customer reached" and done.callback_done_at_ms == now

    owed = [o for o in await reads.orders() if o.order_type == ABANDONED_KIND]
    assert len(owed) == 1 and owed[0].caller_number == middle.phone
    assert owed[0].callback_due_ms == now + 24 * HOUR_MS
    # ready again: the next by deadline is "wo_later" (5 h) before the abandoned one (24 h)
    assert core.agents[AGENT].state == "ready"
    assert await work.offer_due() == ["wo_later"]
    core.acd.check_invariants()
