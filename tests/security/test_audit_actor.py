"""A whole site node's services (built by its composition root over a memory store) on a
mutual-TLS port with the node's own authorization check: the audit row of a remote
customer read names the certificate's site, whatever the request's ``actor`` claims; a
person's token reaches the site's people, and another node's certificate does not make a
bearer token valid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.site import PASSWORD, fast_province, until
from vcc_domain.clock import ManualClock
from vcc_domain.read_budget import DEFAULT_BURST
from vcc_proto import pki
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.server import GrpcHost
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.app import SiteNode, load_site
from vcc_site.service.recovery import seed_site
from vcc_site.store.memory import MemorySiteStore

KM, QJ, OPS = pki.identity("site", "KM"), pki.identity("site", "QJ"), pki.identity("ops", "desk")
TIMEOUT_S = 10


@dataclass
class Served:
    node: SiteNode
    certs: Path
    target: str

    def channel(self, who: pki.Identity) -> grpc.aio.Channel:
        return ClientTls(pki.node_dir(self.certs, who)).channel(self.target)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async for one in _served(tmp_path, None):
        yield one


@pytest.fixture
async def served_still(tmp_path: Path) -> AsyncIterator[Served]:
    """The same node on a clock that does not move (budgets refill only when told)."""
    async for one in _served(tmp_path, ManualClock()):
        yield one


async def _served(tmp_path: Path, clock: ManualClock | None) -> AsyncIterator[Served]:
    certs = tmp_path / "pki"
    pki.init_ca(certs)
    pki.issue(certs, KM, ips=["127.0.0.1"])
    pki.issue(certs, QJ)
    pki.issue(certs, OPS)
    config = NodeConfig(
        province_file=fast_province(tmp_path),
        data_dir=tmp_path,
        nats_urls=("nats://127.0.0.1:1",),
        etcd_endpoints=("127.0.0.1:1",),
    )
    node = load_site(config, "KM", MemorySiteStore("KM"), clock=clock)
    await seed_site(node.core, 5)
    tls = ServerTls(pki.node_dir(certs, KM))
    host = GrpcHost("127.0.0.1", 0, node.build_services(), tls=tls, authz=node.authz())
    await host.start()
    await host.set_serving(True)
    try:
        yield Served(node, certs, f"127.0.0.1:{host.port}")
    finally:
        await host.stop(0)


async def test_a_remote_read_is_audited_as_the_certificate_says(served: Served) -> None:
    customer = "KM-C000001"  # a synthetic customer (vcc_site.store.customers)
    assert await served.node.core.store.customer(customer) is not None
    async with served.channel(QJ) as channel:
        await sg.RemoteStub(channel).LookupCustomer(
            s.LookupCustomerRequest(
                customer_id=customer,
                actor=c.Actor(site_id="QJ", agent_id="QJ-0001"),
                reason="serving a call",
            ),
            timeout=TIMEOUT_S,
        )
    store = served.node.core.store
    rows = await until(lambda: store.audit(customer), "the read's audit row")  # written after
    assert [r.actor for r in rows] == ["site/QJ claims remote:QJ/QJ-0001"]


async def test_people_sign_in_through_the_gateway_only(served: Served) -> None:
    request = p.SignInRequest(person_id="KM-0131", password=PASSWORD)
    async with served.channel(OPS) as channel:
        reply = await pg.PeopleStub(channel).SignIn(request, timeout=TIMEOUT_S)
    assert reply.person.role == "agent" and reply.person.must_change_password
    async with served.channel(QJ) as channel:  # another site is no desktop gateway
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pg.PeopleStub(channel).WhoAmI(
                p.WhoAmIRequest(),
                metadata=(("authorization", f"Bearer {reply.session_token}"),),
                timeout=TIMEOUT_S,
            )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_site_walking_the_customer_base_is_stopped_and_audited(
    served_still: Served,
) -> None:
    store = served_still.node.core.store
    async with served_still.channel(QJ) as channel:
        remote = sg.RemoteStub(channel)

        async def read(n: int) -> None:
            await remote.LookupCustomer(
                s.LookupCustomerRequest(
                    customer_id=f"KM-C{n:06d}", actor=c.Actor(site_id="QJ"), reason="walk"
                ),
                timeout=TIMEOUT_S,
            )

        for n in range(1, DEFAULT_BURST + 1):  # the burst: found or not, each is served
            try:
                await read(n)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND, error
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await read(1)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    rows = await until(lambda: store.audit("customer_id"), "the refusal's audit row")
    assert [(r.actor, r.action) for r in rows] == [("site/QJ", "remote_read_refused")]
