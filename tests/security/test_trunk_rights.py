"""Only the telephony side hands a caller to the edge: ``Edge.PlaceCall`` carries the
caller's number, which the sites trust when the edge forwards it, so an operator's (or a
site's) certificate is refused with PERMISSION_DENIED and a ``trunk`` certificate is
served, on a real mutual-TLS ``GrpcHost`` with the real authorization table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from vcc_proto import pki
from vcc_proto.server import GrpcHost, ServedService
from vcc_proto.servicing import service_info
from vcc_proto.tls import ClientTls, ServerTls
from vcc_proto.v1 import edge_pb2, edge_pb2_grpc

EDGE = pki.identity("edge", "edge-1")
TRUNK = pki.identity("trunk", "traffic")
OPS = pki.identity("ops", "cli")
KM = pki.identity("site", "KM")
TIMEOUT_S = 10


class FakeEdge(edge_pb2_grpc.EdgeServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.callers: list[str] = []

    async def PlaceCall(
        self, request: edge_pb2.PlaceCallRequest, context: Any
    ) -> edge_pb2.EdgeStep:
        self.callers.append(request.caller_number)
        return edge_pb2.EdgeStep()


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[tuple[Path, str, FakeEdge]]:
    d = tmp_path / "pki"
    pki.init_ca(d)
    pki.issue(d, EDGE, ips=["127.0.0.1"])
    for who in (TRUNK, OPS, KM):
        pki.issue(d, who)
    servicer = FakeEdge()
    service = ServedService(
        service_info("Edge").full_name, servicer, edge_pb2_grpc.add_EdgeServicer_to_server
    )
    host = GrpcHost("127.0.0.1", 0, [service], tls=ServerTls(pki.node_dir(d, EDGE)))
    await host.start()
    await host.set_serving(True)
    try:
        yield d, f"127.0.0.1:{host.port}", servicer
    finally:
        await host.stop(0)


async def _place(d: Path, who: pki.Identity, target: str) -> grpc.StatusCode:
    async with ClientTls(pki.node_dir(d, who)).channel(target) as channel:
        try:
            await edge_pb2_grpc.EdgeStub(channel).PlaceCall(
                edge_pb2.PlaceCallRequest(caller_number="13900000001", dialed_code="10000"),
                timeout=TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


async def test_only_the_trunk_side_places_a_call(edge: tuple[Path, str, FakeEdge]) -> None:
    d, target, servicer = edge
    assert await _place(d, OPS, target) == grpc.StatusCode.PERMISSION_DENIED
    assert await _place(d, KM, target) == grpc.StatusCode.PERMISSION_DENIED
    assert servicer.callers == []
    assert await _place(d, TRUNK, target) == grpc.StatusCode.OK
    assert servicer.callers == ["13900000001"]
