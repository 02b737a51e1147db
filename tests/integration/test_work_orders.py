"""Work orders across sites with real processes: hub, sites KM and DL, NATS and etcd.

An agent at KM serves a caller homed at DL and creates a work order: KM forwards it to DL
(WorkOrders.Accept) and keeps a reference; DL holds it and takes the department's
feedback; the hub's province-wide copy and its figures show it, owned by DL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.province import Node, hub_node, site_node
from tests.integration._helpers.site import Client, until
from vcc_domain.workorder_figures import total
from vcc_hub.store.workorders import province_figures, province_order
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.channels import open_channel
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_replication.db import make_engine
from vcc_site.store.customers import phone_for

DL_CALLER = phone_for("0872", 5)
GENERAL_A = "KM-0131"
FIELDS = {"name": "段先生", "phone": DL_CALLER, "question": "why was I charged twice?"}


@pytest.fixture
async def province(
    tmp_path,
    etcd_server: EtcdServer,  # type: ignore[no-untyped-def]
    nats_server: NatsServer,
) -> AsyncIterator[tuple[Node, Node, Node]]:
    etcd, nats = etcd_server.endpoint, nats_server.url
    hub = hub_node(tmp_path, nats, etcd).launch()
    nodes = [hub]
    try:
        await hub.healthy()
        dl = site_node(tmp_path, "DL", nats, etcd, hub.target).launch()
        km = site_node(tmp_path, "KM", nats, etcd, hub.target).launch()
        nodes += [dl, km]
        await asyncio.gather(dl.healthy(), km.healthy())
        yield hub, km, dl
    finally:
        for node in reversed(nodes):
            node.stop()


async def test_order_for_caller_homed_elsewhere_lives_at_home_and_in_the_hub_copy(
    province: tuple[Node, Node, Node],
) -> None:
    hub, km, dl = province
    client = Client(km.target)
    try:
        desk = await client.login(GENERAL_A)
        await desk.ready()
        step = await client.offer(DL_CALLER, "1000", "0")
        await until(lambda: _offered(desk, step.call_id), "the offer")
        await desk.answer(step.call_id)
        async with open_channel(km.target) as ch:
            created: s.WorkOrder = await sg.WorkOrdersStub(ch).Create(
                s.CreateWorkOrderRequest(
                    session_token=desk.token, call_id=step.call_id, fields=FIELDS
                ),
                timeout=10,
            )
        await desk.hang_up(step.call_id)
        await desk.wrap_up(step.call_id)
    finally:
        await client.close()
    assert created.owner_site == "DL" and created.site_id == "KM"
    assert created.forward_state == "forwarded" and created.origin_site == "KM"

    async with open_channel(dl.target) as ch:
        stub = sg.WorkOrdersStub(ch)
        at_home: s.WorkOrder = await stub.Get(s.WorkOrderRef(order_id=created.order_id))
        assert at_home.owner_site == "DL" and at_home.site_id == "DL"
        assert at_home.state == "created" and at_home.agent_id == GENERAL_A
        await stub.Feedback(
            s.WorkOrderFeedbackRequest(order_id=created.order_id, action="dispatch")
        )
        answered = await stub.Feedback(
            s.WorkOrderFeedbackRequest(
                order_id=created.order_id, action="answer", result="refunded"
            )
        )
        assert answered.orders[0].callback_required  # inquiries: 100 % callback
        figures: s.WorkOrderFiguresReply = await stub.GetFigures(s.WorkOrderFiguresRequest())
        assert figures.figures[-1].answered == 1
    async with open_channel(km.target) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # KM only holds a reference
            await sg.WorkOrdersStub(ch).Reply(s.WorkOrderStep(order_id=created.order_id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    engine = make_engine(f"sqlite:///{hub.db_path}")
    try:

        async def answered_copy() -> object:
            held = await province_order(engine, created.order_id)
            return held if held is not None and held.state == "answered" else None

        copy = await until(answered_copy, "the hub's copy of the answered order", 60)
        assert copy.owner_site == "DL" and copy.origin_site == "KM"  # type: ignore[attr-defined]
        rows = await province_figures(engine, now_ms=copy.updated_at_ms)  # type: ignore[attr-defined]
        assert total(rows).answered == 1 and total(rows).total == 1
        assert {(f.kind, f.department) for f in rows} == {
            ("inquiry", "Customer service back office")
        }
    finally:
        await engine.dispose()

    async with open_channel(hub.target) as ch:  # the hub's read API
        province_orders = hg.ProvinceWorkOrdersStub(ch)
        listed = await province_orders.ListOrders(h.ListProvinceOrdersRequest(owner_site_id="DL"))
        assert [(o.order_id, o.owner_site, o.state) for o in listed.orders] == [
            (created.order_id, "DL", "answered")
        ]
        assert not (
            await province_orders.ListOrders(h.ListProvinceOrdersRequest(owner_site_id="KM"))
        ).orders  # KM holds only a reference
        assert not (
            await province_orders.ListOrders(h.ListProvinceOrdersRequest(overdue_only=True))
        ).orders  # answered on time: not overdue
        summed = await province_orders.GetFigures(h.ProvinceFiguresRequest())
        assert summed.figures[-1].kind == "*" and summed.figures[-1].answered == 1
        at_dl = await province_orders.GetFigures(h.ProvinceFiguresRequest(owner_site_id="DL"))
        assert (at_dl.figures[-1].total, at_dl.figures[-1].answered_on_time) == (1, 1)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await province_orders.ListOrders(h.ListProvinceOrdersRequest(owner_site_id="ZZ"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vcc_ops.cli",
        "workorders",
        "list",
        "--hub",
        hub.target,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=test_tls.ops_env(),
    )
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    assert [o["order_id"] for o in json.loads(out)] == [created.order_id]


async def _offered(desk, call_id: str) -> bool | None:  # type: ignore[no-untyped-def]
    return any(e.HasField("offer") and e.offer.call_id == call_id for e in desk.events) or None
