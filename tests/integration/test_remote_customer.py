"""Remote customer data with real processes: hub, sites KM and DL, NATS and etcd.

A DL customer calling KM is read from DL (screen pop marked as read from DL, still VIP),
and KM audits the read; with DL stopped the same caller gets the hub's copy with its age,
still VIP; a caller unknown everywhere is ordinary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.province import Node, hub_node, site_node
from tests.integration._helpers.site import Client, Desk, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_site.store.customers import phone_for

DL_VIP = phone_for("0872", 0)
DL_STRANGER = phone_for("0872", 999)  # DL's number plan, but not a customer anywhere
NOBODY = "13700009999"
GENERAL_A = "KM-0131"


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
        km = site_node(
            tmp_path, "KM", nats, etcd, hub.target, env={"VCC_CUSTOMER_CACHE_MS": "200"}
        ).launch()
        nodes += [dl, km]
        await asyncio.gather(dl.healthy(), km.healthy())
        yield hub, km, dl
    finally:
        for node in reversed(nodes):
            node.stop()


async def hub_copy(hub: Node, phone: str) -> h.CustomerCopy | None:
    """The hub's copy as KM reads it when a caller's home site does not answer."""
    async with open_channel(hub.target, tls=test_tls.client("site", "KM")) as ch:
        try:
            request = h.GetCustomerCopyRequest(phone_number=phone, actor=c.Actor(site_id="KM"))
            reply: h.CustomerCopy = await hg.CustomersStub(ch).GetCustomerCopy(request, timeout=5)
            return reply
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise


async def pop_of(client: Client, desk: Desk, caller: str) -> tuple[c.CustomerSummary, float]:
    """Offer a call from ``caller`` (general business), take the offer's screen pop, serve
    the call; returns the pop's customer and how long OfferCall took."""
    started = time.monotonic()
    step = await client.offer(caller, "1000", "0")
    setup_s = time.monotonic() - started

    async def offered() -> s.Offer | None:
        found = [
            e.offer for e in desk.events if e.HasField("offer") and e.offer.call_id == step.call_id
        ]
        return found[0] if found else None

    offer = await until(offered, f"the offer of {step.call_id}")
    await desk.answer(step.call_id)
    await desk.hang_up(step.call_id)
    await desk.wrap_up(step.call_id)  # ready again
    return offer.screen_pop.customer, setup_s


async def test_remote_customer_from_home_site_then_hub_copy(
    province: tuple[Node, Node, Node],
) -> None:
    hub, km, dl = province
    copy = await until(lambda: hub_copy(hub, DL_VIP), "the hub's copy of DL's VIP", 60)
    assert copy.customer.customer_id == "DL-C000000" and copy.customer.tier == c.TIER_VIP

    client = Client(km.target)
    try:
        desk = await client.login(GENERAL_A)
        await desk.ready()

        # (a) read from the home site DL
        pop, setup_s = await pop_of(client, desk, DL_VIP)
        print(f"\nremote read from DL: call setup {setup_s * 1000:.0f} ms")
        assert pop.customer_id == "DL-C000000"
        assert pop.tier == c.TIER_VIP and pop.home_site_id == "DL"
        assert pop.read_from_site_id == "DL" and not pop.from_hub_copy
        km_audit = km.rows(
            "SELECT actor, action, detail FROM audit WHERE subject = ?", "DL-C000000"
        )
        assert any(
            a == "access" and act == "remote_read" and "from DL" in d for a, act, d in km_audit
        ), km_audit
        dl_audit = await until(lambda: _served(dl), "DL's audit of the served read")
        # the reader is the certificate DL checked (site/KM), followed by what KM claimed
        assert any(actor.startswith("site/KM claims remote:KM") for actor, _ in dl_audit), dl_audit

        # (b) DL is down: the hub's copy, with its age, still VIP
        dl.stop()
        await asyncio.sleep(0.3)  # past KM's 200 ms result cache
        pop, setup_s = await pop_of(client, desk, DL_VIP)
        print(f"hub copy with DL down: call setup {setup_s * 1000:.0f} ms")
        assert pop.customer_id == "DL-C000000" and pop.tier == c.TIER_VIP
        assert pop.from_hub_copy and pop.read_from_site_id == ""
        assert 0 < pop.as_of_ms < time.time() * 1000  # it has an age
        km_audit = km.rows("SELECT action, detail FROM audit WHERE subject = ?", "DL-C000000")
        assert any(act == "remote_read_hub_copy" and "from hub" in d for act, d in km_audit)

        # (c) callers unknown everywhere are ordinary
        for caller in (DL_STRANGER, NOBODY):
            pop, _ = await pop_of(client, desk, caller)
            assert pop.customer_id == "" and pop.tier == c.TIER_ORDINARY
    finally:
        await client.close()


async def _served(dl: Node) -> list[tuple[str, str]]:
    rows = dl.rows(
        "SELECT actor, action FROM audit WHERE subject = ? AND action = 'served_remote_read'",
        "DL-C000000",
    )
    return [(str(a), str(b)) for a, b in rows]
