"""The authorization table enforced on a real mutual-TLS ``GrpcHost``: small servicers
registered under the real service names (hub ``Routing``, site ``AgentDesk``) called with
certificates from :mod:`vcc_proto.pki`. A site calling an operator-only RPC or speaking
for another site is refused with PERMISSION_DENIED, an allowed kind is served, a caller
naming no node is UNAUTHENTICATED; the same servicers on a plaintext port serve anyone,
as before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from vcc_proto import pki
from vcc_proto.authz_interceptor import AuthzInterceptor, Person
from vcc_proto.server import GrpcHost, ServedService, check_health
from vcc_proto.servicing import service_info
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import hub_pb2, hub_pb2_grpc, site_pb2, site_pb2_grpc

HUB = pki.identity("hub", "hub-1")
KM = pki.identity("site", "KM")
OPS = pki.identity("ops", "cli")
TIMEOUT_S = 10


class FakeRouting(hub_pb2_grpc.RoutingServicer):  # type: ignore[misc]
    """Answers and remembers which sites reported figures."""

    def __init__(self) -> None:
        self.reported: list[str] = []

    async def ReportQueueFigures(
        self, request: hub_pb2.ReportQueueFiguresRequest, context: Any
    ) -> hub_pb2.ReportQueueFiguresReply:
        self.reported.append(request.site_id)
        return hub_pb2.ReportQueueFiguresReply()

    async def WatchBoard(
        self, request: hub_pb2.GetBoardRequest, context: Any
    ) -> AsyncIterator[hub_pb2.Board]:
        yield hub_pb2.Board()


class FakeDesk(site_pb2_grpc.AgentDeskServicer):  # type: ignore[misc]
    """A server stream of two events."""

    async def Events(
        self, request: site_pb2.SessionRef, context: Any
    ) -> AsyncIterator[site_pb2.AgentEvent]:
        for _ in range(2):
            yield site_pb2.AgentEvent()


@pytest.fixture
def province(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    pki.init_ca(d)
    pki.issue(d, HUB, ips=["127.0.0.1"])
    pki.issue(d, KM)
    pki.issue(d, OPS)
    return d


@dataclass
class Served:
    host: GrpcHost
    routing: FakeRouting

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.host.port}"


async def _serve(tls: ServerTls | None, authz: AuthzInterceptor | None = None) -> Served:
    routing = FakeRouting()
    services = [
        ServedService(
            service_info("Routing").full_name, routing, hub_pb2_grpc.add_RoutingServicer_to_server
        ),
        ServedService(
            service_info("AgentDesk").full_name,
            FakeDesk(),
            site_pb2_grpc.add_AgentDeskServicer_to_server,
        ),
    ]
    host = GrpcHost("127.0.0.1", 0, services, tls=tls, authz=authz)
    await host.start()
    await host.set_serving(True)
    return Served(host, routing)


@pytest.fixture
async def served(province: Path) -> AsyncIterator[Served]:
    s = await _serve(ServerTls(pki.node_dir(province, HUB)))
    yield s
    await s.host.stop(0)


def channel_as(province: Path, who: pki.Identity, target: str) -> grpc.aio.Channel:
    return ClientTls(pki.node_dir(province, who)).channel(target)


async def report(
    channel: grpc.aio.Channel, site_id: str, metadata: Sequence[tuple[str, str]] = ()
) -> None:
    await hub_pb2_grpc.RoutingStub(channel).ReportQueueFigures(
        hub_pb2.ReportQueueFiguresRequest(site_id=site_id),
        timeout=TIMEOUT_S,
        metadata=tuple(metadata),
    )


async def board(channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]] = ()) -> None:
    """The province board's stream (operators and their people only: no site watches it)."""
    stream = hub_pb2_grpc.RoutingStub(channel).WatchBoard(
        hub_pb2.GetBoardRequest(), timeout=TIMEOUT_S, metadata=tuple(metadata)
    )
    assert len([b async for b in stream]) == 1


async def events(channel: grpc.aio.Channel) -> int:
    stream = site_pb2_grpc.AgentDeskStub(channel).Events(
        site_pb2.SessionRef(session_token="t"), timeout=TIMEOUT_S
    )
    return len([event async for event in stream])


async def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


def refused(method: str, code: str) -> float:
    return (
        REGISTRY.get_sample_value("vcc_authz_refused_total", {"method": method, "code": code})
        or 0.0
    )


async def test_a_site_calling_an_operator_rpc_is_refused(province: Path, served: Served) -> None:
    method = "/vcc_proto.v1.Routing/WatchBoard"
    before = refused(method, "PERMISSION_DENIED")
    async with channel_as(province, KM, served.target) as km:
        assert await code_of(board(km)) == grpc.StatusCode.PERMISSION_DENIED
        assert await code_of(events(km)) == grpc.StatusCode.PERMISSION_DENIED  # a stream too
    assert refused(method, "PERMISSION_DENIED") == before + 1
    async with channel_as(province, OPS, served.target) as ops:
        await board(ops)
        assert await events(ops) == 2


async def test_a_site_reports_only_for_itself(province: Path, served: Served) -> None:
    async with channel_as(province, KM, served.target) as km:
        await report(km, "KM")
        assert await code_of(report(km, "QJ")) == grpc.StatusCode.PERMISSION_DENIED
        assert await code_of(report(km, "")) == grpc.StatusCode.PERMISSION_DENIED
    async with channel_as(province, OPS, served.target) as ops:  # not a kind that reports
        assert await code_of(report(ops, "KM")) == grpc.StatusCode.PERMISSION_DENIED
    assert served.routing.reported == ["KM"]


async def test_health_is_open_to_every_node(province: Path, served: Served) -> None:
    for who in (KM, OPS):
        assert await check_health(
            served.target, timeout_s=TIMEOUT_S, tls=ClientTls(pki.node_dir(province, who))
        )


async def test_reflection_streams_through_the_check(province: Path, served: Served) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with channel_as(province, KM, served.target) as km:
        stub = reflection_pb2_grpc.ServerReflectionStub(km)
        asks = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        replies = [r async for r in stub.ServerReflectionInfo(asks, timeout=TIMEOUT_S)]
    names = [s.name for s in replies[0].list_services_response.service]
    assert "vcc_proto.v1.Routing" in names


async def test_a_caller_naming_no_node_is_unauthenticated(province: Path) -> None:
    s = await _serve(
        ServerTls(pki.node_dir(province, HUB)), AuthzInterceptor(identity_of=lambda _context: None)
    )
    try:
        async with channel_as(province, OPS, s.target) as ops:
            assert await code_of(board(ops)) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await s.host.stop(0)
    assert s.routing.reported == []


async def test_a_person_is_checked_by_role_through_the_hook(province: Path) -> None:
    def person_of(metadata: Sequence[tuple[str, Any]]) -> Person | None:
        roles = [v for k, v in metadata if k == "x-test-role"]
        return Person("p1", roles[0]) if roles else None

    s = await _serve(ServerTls(pki.node_dir(province, HUB)), AuthzInterceptor(person_of=person_of))
    try:
        async with channel_as(province, OPS, s.target) as ops:
            await board(ops, [("x-test-role", "province_manager")])
            await board(ops)  # no person: the node alone, as today
            assert (
                await code_of(board(ops, [("x-test-role", "agent")]))
                == grpc.StatusCode.PERMISSION_DENIED
            )
        async with channel_as(province, KM, s.target) as km:  # the node must be allowed too
            assert (
                await code_of(board(km, [("x-test-role", "province_manager")]))
                == grpc.StatusCode.PERMISSION_DENIED
            )
    finally:
        await s.host.stop(0)


async def test_plaintext_serves_everyone_as_before() -> None:
    s = await _serve(None)
    try:
        async with grpc.aio.insecure_channel(s.target) as plain:
            await board(plain)
            await report(plain, "QJ")
            await report(plain, "")
            assert await events(plain) == 2
    finally:
        await s.host.stop(0)
    assert s.routing.reported == ["QJ", ""]


class FakeContext:
    def __init__(self, who: pki.Identity | None) -> None:
        self.who = who

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


def test_an_rpc_with_no_entry_is_refused_and_standard_services_are_open() -> None:
    from vcc_proto.authz_interceptor import Refused, rule_of_method

    interceptor = AuthzInterceptor(identity_of=lambda context: context.who)
    unknown = "/vcc_proto.v1.Routing/DropAllCalls"
    with pytest.raises(Refused) as caught:
        interceptor.check(unknown, rule_of_method(unknown), FakeContext(OPS), None)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert rule_of_method("/other.pkg.Service/Method") is None
    health = "/grpc.health.v1.Health/Check"
    interceptor.check(health, rule_of_method(health), FakeContext(KM), None)
    with pytest.raises(Refused) as caught:
        interceptor.check(health, rule_of_method(health), FakeContext(None), None)
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
