"""Fault-repair notices to customers through the webhook notifier, against a real local
HTTP server: delivered, retried after a failure, recorded when the server is down (the
order's change is kept either way); and end to end through a real site process whose
department feedback on a fault order sends the notice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration._helpers.hook import Hook
from tests.integration._helpers.province import site_node
from tests.integration._helpers.site import Client, until
from vcc_domain.workorders import WorkOrder
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_ops.infra.ports import free_port
from vcc_proto.channels import open_channel
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.service.notices import NoticeDispatcher, WebhookNotifier
from vcc_site.store.customers import phone_for


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(fail_first=1)
    yield h
    h.close()


def fault_order(**kw: Any) -> WorkOrder:
    base: dict[str, Any] = dict(
        order_id="wo_1",
        site_id="QJ",
        owner_site="QJ",
        origin_site="QJ",
        call_id="call_1",
        business_id="fault",
        order_type="fault_repair",
        department="Repair dispatch",
        state="dispatched",
        created_at_ms=1,
        answer_due_ms=2,
        latest_due_ms=3,
        caller_number=phone_for("0874", 7),
        area="Qilin",
        incident="inc-1",
        fields={"repair_team": "QJ crew 3", "name": "x"},
    )
    return WorkOrder(**{**base, **kw})


async def test_webhook_retries_a_failure_and_records_a_dead_server(hook: Hook) -> None:
    dispatcher = NoticeDispatcher(WebhookNotifier(hook.url), attempts=3, backoff_s=0.01)
    dispatcher.after_feedback([fault_order(), fault_order(order_type="inquiry")], "dispatch", 5)
    await dispatcher.drain()
    assert hook.attempts == 2 and dispatcher.sent == 1 and not dispatcher.failed
    notice = hook.received[0]["notice"]
    assert notice["order_id"] == "wo_1" and notice["action"] == "dispatch"
    assert notice["details"] == {"repair_team": "QJ crew 3"}  # form fields stay private

    dead = NoticeDispatcher(
        WebhookNotifier(f"http://127.0.0.1:{free_port()}/x", timeout_s=0.5),
        attempts=2,
        backoff_s=0.01,
    )
    dead.after_feedback([fault_order()], "answer", 6)
    await dead.drain()
    assert dead.sent == 0 and len(dead.failed) == 1
    assert "unreachable" in dead.failed[0][1]
    with pytest.raises(ValueError):
        WebhookNotifier("ftp://example/x")


async def test_department_feedback_on_a_fault_order_notifies_the_caller(
    tmp_path: Path, etcd_server: EtcdServer, nats_server: NatsServer, hook: Hook
) -> None:
    node = site_node(
        tmp_path, "QJ", nats_server.url, etcd_server.endpoint, env={"VCC_NOTIFY_WEBHOOK": hook.url}
    ).launch()
    caller = phone_for("0874", 3)
    client = Client(node.target)
    try:
        await node.healthy()
        desk = await client.login("QJ-0002")  # a fault specialist at Qujing
        await desk.ready()
        step = await client.offer(caller, "112", "1")

        async def offered() -> bool:
            return step.call_id in desk.offers()

        await until(offered, "the fault call offered", 30)
        await desk.answer(step.call_id)
        async with open_channel(node.target) as channel:
            orders = sg.WorkOrdersStub(channel)
            order = await orders.Create(
                s.CreateWorkOrderRequest(
                    session_token=desk.token,
                    call_id=step.call_id,
                    fields={
                        "name": "李女士",
                        "address": "麒麟区 1 号",
                        "phone": caller,
                        "symptom": "no dial tone",
                    },
                ),
                timeout=10,
            )
            changed = await orders.Feedback(
                s.WorkOrderFeedbackRequest(
                    order_id=order.order_id,
                    action="dispatch",
                    details={"repair_team": "QJ crew 3", "departure_time": "14:00"},
                ),
                timeout=10,
            )
            assert changed.orders[0].state == "dispatched"  # committed whatever the hook does

            async def delivered() -> list[dict[str, Any]]:
                return hook.received

            got = await until(delivered, "the notice at the webhook", 30)
        notice = got[0]["notice"]
        assert notice["order_id"] == order.order_id and notice["phone"] == caller
        assert notice["details"]["repair_team"] == "QJ crew 3"
        assert hook.attempts == 2  # the first attempt failed and was retried
        log = (tmp_path / "site-QJ.log").read_text()
        assert caller not in log  # the number is masked in the site's log
        await desk.hang_up(step.call_id)
        await desk.close()
    finally:
        await client.close()
        node.stop()
