"""A whole site node's services (its composition root over a memory store, a manual
clock) on a mutual-TLS port with the node's own authorization check.

* ``AgentDesk.Login`` with a right initial password opens no seat (FAILED_PRECONDITION,
  audited) until the person changed it through ``People``; a wrong one still gets the one
  UNAUTHENTICATED answer.
* A call the authorization table refuses is audited with the identity presented, the RPC
  and the reason; a flood of them writes one row, then one summary when the minute ends.
* A work-order step records the checked identity, not the request's ``actor``.
* A caller number identifies the caller for self-service only when the access edge sent
  it: from the edge a customer's own line gets a one-time code to set a PIN; the same
  number from another identity (the operator tool) is nobody's line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.site import PASSWORD, fast_province
from vcc_domain.clock import ManualClock
from vcc_proto import pki
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.server import GrpcHost
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.app import SiteNode, load_site
from vcc_site.service.desk import CHANGE_FIRST
from vcc_site.service.notices import Notice
from vcc_site.service.recovery import seed_site
from vcc_site.store.customers import phone_for
from vcc_site.store.memory import MemorySiteStore

KM, QJ, OPS = pki.identity("site", "KM"), pki.identity("site", "QJ"), pki.identity("ops", "desk")
EDGE = pki.identity("edge", "edge")
AGENT, NEW = "KM-0131", "a-better-secret-1"
TIMEOUT_S = 10


class Recorder:
    """The notifier: what would be sent."""

    def __init__(self) -> None:
        self.sent: list[Notice] = []

    async def send(self, notice: Notice) -> None:
        self.sent.append(notice)


@dataclass
class Served:
    node: SiteNode
    certs: Path
    target: str
    clock: ManualClock
    notifier: Recorder

    def channel(self, who: pki.Identity) -> grpc.aio.Channel:
        return ClientTls(pki.node_dir(self.certs, who)).channel(self.target)

    async def audit(self, subject: str, action: str) -> list[tuple[str, str]]:
        rows = await self.node.core.store.audit(subject)
        return [(r.actor, r.detail) for r in rows if r.action == action]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    certs = tmp_path / "pki"
    pki.init_ca(certs)
    pki.issue(certs, KM, ips=["127.0.0.1"])
    pki.issue(certs, QJ)
    pki.issue(certs, OPS)
    pki.issue(certs, EDGE)
    config = NodeConfig(
        province_file=fast_province(tmp_path),
        data_dir=tmp_path,
        nats_urls=("nats://127.0.0.1:1",),
        etcd_endpoints=("127.0.0.1:1",),
    )
    clock = ManualClock()
    node = load_site(config, "KM", MemorySiteStore("KM"), clock=clock)
    await seed_site(node.core, 5)
    notifier = Recorder()
    node.access.selfservice.notifier = notifier
    tls = ServerTls(pki.node_dir(certs, KM))
    host = GrpcHost("127.0.0.1", 0, node.build_services(), tls=tls, authz=node.authz())
    await host.start()
    await host.set_serving(True)
    try:
        yield Served(node, certs, f"127.0.0.1:{host.port}", clock, notifier)
    finally:
        await host.stop(0)


async def _refused(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the request was accepted")


def _login(password: str) -> s.LoginRequest:
    return s.LoginRequest(agent_id=AGENT, password=password, device="test")


async def test_an_initial_password_opens_no_seat_until_changed(served: Served) -> None:
    async with served.channel(OPS) as channel:
        desk = sg.AgentDeskStub(channel)
        wrong = await _refused(desk.Login(_login("not-the-password"), timeout=TIMEOUT_S))
        assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
        first = await _refused(desk.Login(_login(PASSWORD), timeout=TIMEOUT_S))
        assert first.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert CHANGE_FIRST in (first.details() or "")
        assert AGENT not in served.node.core.agents  # no seat opened
        assert await served.audit(AGENT, "login_refused_must_change")

        people = pg.PeopleStub(channel)
        signed = await people.SignIn(
            p.SignInRequest(person_id=AGENT, password=PASSWORD), timeout=TIMEOUT_S
        )
        await people.ChangePassword(
            p.ChangePasswordRequest(old_password=PASSWORD, new_password=NEW),
            metadata=(("authorization", f"Bearer {signed.session_token}"),),
            timeout=TIMEOUT_S,
        )
        again = await _refused(desk.Login(_login(PASSWORD), timeout=TIMEOUT_S))
        assert again.code() == grpc.StatusCode.UNAUTHENTICATED  # the old one is gone
        reply = await desk.Login(_login(NEW), timeout=TIMEOUT_S)
    assert reply.session_token and AGENT in served.node.core.agents


async def test_refused_calls_are_audited_and_a_flood_is_summarised(served: Served) -> None:
    offer = s.OfferCallRequest(caller_number="13700000001", dialed_code="95598")
    async with served.channel(QJ) as channel:  # a site is not the edge
        access = sg.AccessStub(channel)
        for _ in range(40):
            denied = await _refused(access.OfferCall(offer, timeout=TIMEOUT_S))
            assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    rows = await served.audit("Access.OfferCall", "authz_refused")
    assert len(rows) == 1  # the first of the minute, with its reason
    actor, detail = rows[0]
    assert actor == "site/QJ" and detail.startswith("PERMISSION_DENIED: site/QJ may not call")

    served.clock.advance(61)
    assert served.node.refusals is not None
    await served.node.refusals.flush()
    rows = await served.audit("Access.OfferCall", "authz_refused")
    assert rows[1:] == [("site/QJ", "PERMISSION_DENIED: 39 more refused in the minute")]
    await served.node.refusals.flush()  # nothing more to say
    assert len(await served.audit("Access.OfferCall", "authz_refused")) == 2


async def test_a_work_order_step_records_the_checked_identity(served: Served) -> None:
    order = s.WorkOrder(
        order_id="wo_attack_1",
        site_id="QJ",
        owner_site="KM",
        origin_site="QJ",
        call_id="call_1",
        business_id="fault",
        order_type="fault_repair",
        department="repairs",
        state="created",
        created_at_ms=1,
        answer_due_ms=2,
        latest_due_ms=3,
        fields={"address": "1 Main St"},
        version=1,
    )
    async with served.channel(QJ) as channel:
        await sg.WorkOrdersStub(channel).Accept(
            s.AcceptWorkOrderRequest(order=order), timeout=TIMEOUT_S
        )
    async with served.channel(OPS) as channel:
        await sg.WorkOrdersStub(channel).Chase(
            s.WorkOrderStep(order_id="wo_attack_1", actor="KM-0190"), timeout=TIMEOUT_S
        )
    rows = await served.node.core.store.outbox_after(0)
    chased = [
        r.event.body
        for r in rows
        if isinstance(r.event.body, pb.WorkOrderChanged) and r.event.body.action == "chased"
    ]
    assert [b.actor for b in chased] == ["ops/desk claims KM-0190"]


async def test_only_the_edge_s_caller_number_identifies_a_line(served: Served) -> None:
    line = phone_for("0871", 1)  # a synthetic customer of KM, no PIN yet
    offer = s.OfferCallRequest(caller_number=line, dialed_code="170")
    async with served.channel(OPS) as channel:  # the operator tool claims the number
        access = sg.AccessStub(channel)
        step = await access.OfferCall(offer, timeout=TIMEOUT_S)
        step = await access.SendDigits(
            s.SendDigitsRequest(call_id=step.call_id, digits="2"), timeout=TIMEOUT_S
        )
    assert "only from your own line" in " ".join(p.text for p in step.prompts)
    assert served.notifier.sent == []
    async with served.channel(EDGE) as channel:
        access = sg.AccessStub(channel)
        step = await access.OfferCall(offer, timeout=TIMEOUT_S)
        step = await access.SendDigits(
            s.SendDigitsRequest(call_id=step.call_id, digits="2"), timeout=TIMEOUT_S
        )
    assert "one-time code" in " ".join(p.text for p in step.prompts)
    assert [n.phone for n in served.notifier.sent] == [line]
