"""Mutual TLS on a real ``grpc.aio`` server (a :class:`GrpcHost` serving the Node service):
a client with a province certificate is served and identified; a client without one, with
one from another CA, or in plaintext fails the handshake; a rotated certificate is served
to the next connection without a restart; the expiry gauge follows the files."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from prometheus_client import REGISTRY

from vcc_proto import pki
from vcc_proto.channels import ChannelPool
from vcc_proto.pki import Identity
from vcc_proto.server import GrpcHost, ServedService, check_health
from vcc_proto.tls import ClientTls, ServerTls, identity_of
from vcc_proto.v1 import node_pb2, node_pb2_grpc

HUB = pki.identity("hub", "hub-1")
KM = pki.identity("site", "KM")
TIMEOUT_S = 10


class RecordingNode(node_pb2_grpc.NodeServicer):  # type: ignore[misc]
    """GetInfo answers the caller's identity in ``node_id`` and keeps what it saw."""

    def __init__(self) -> None:
        self.seen: list[Identity | None] = []
        self.serials: list[int] = []  # of the client certificates presented

    async def GetInfo(self, request: node_pb2.GetInfoRequest, context: Any) -> node_pb2.NodeInfo:
        who = identity_of(context)
        self.seen.append(who)
        for pem in context.auth_context().get("x509_pem_cert", []):
            self.serials.append(x509.load_pem_x509_certificate(pem).serial_number)
        return node_pb2.NodeInfo(node_id=str(who) if who else "")


@dataclass
class Province:
    dir: Path
    other: Path  # a second, unrelated CA with its own site KM


@pytest.fixture
def province(tmp_path: Path) -> Province:
    d, other = tmp_path / "pki", tmp_path / "other-pki"
    pki.init_ca(d)
    pki.issue(d, HUB, ips=["127.0.0.1"])
    pki.issue(d, KM)
    pki.init_ca(other)
    pki.issue(other, KM)
    return Province(d, other)


@dataclass
class Served:
    host: GrpcHost
    node: RecordingNode

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.host.port}"


async def _serve(tls: ServerTls | None) -> Served:
    node = RecordingNode()
    service = ServedService("vcc_proto.v1.Node", node, node_pb2_grpc.add_NodeServicer_to_server)
    host = GrpcHost("127.0.0.1", 0, [service], tls=tls)
    await host.start()
    await host.set_serving(True)
    return Served(host, node)


@pytest.fixture
async def served(province: Province) -> AsyncIterator[Served]:
    s = await _serve(ServerTls(pki.node_dir(province.dir, HUB)))
    yield s
    await s.host.stop(0)


async def get_info(channel: grpc.aio.Channel) -> node_pb2.NodeInfo:
    stub = node_pb2_grpc.NodeStub(channel)
    return await stub.GetInfo(node_pb2.GetInfoRequest(), timeout=TIMEOUT_S)


async def refused_code(channel: grpc.aio.Channel) -> grpc.StatusCode:
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get_info(channel)
    return caught.value.code()


def served_serial(target: str, client_dir: Path) -> int:
    """The serial of the certificate the server presents to a new TLS connection."""
    ctx = ssl.create_default_context(cafile=str(client_dir / "ca.crt"))
    ctx.load_cert_chain(client_dir / "tls.crt", client_dir / "tls.key")
    ctx.set_alpn_protocols(["h2"])
    host, port = target.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock,
        ctx.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_a_province_client_is_served_and_identified(
    province: Province, served: Served
) -> None:
    pool = ChannelPool(tls=ClientTls(pki.node_dir(province.dir, KM)))
    try:
        reply = await get_info(pool.get(served.target))
    finally:
        await pool.close()
    assert reply.node_id == "site/KM"
    assert served.node.seen == [Identity("site", "KM")]
    client = ClientTls(pki.node_dir(province.dir, KM))
    assert client.identity == KM
    assert await check_health(served.target, timeout_s=TIMEOUT_S, tls=client)


async def test_a_client_without_a_certificate_is_refused(
    province: Province, served: Served
) -> None:
    ca_only = grpc.ssl_channel_credentials(root_certificates=(province.dir / "ca.crt").read_bytes())
    assert (
        await refused_code(grpc.aio.secure_channel(served.target, ca_only))
        == grpc.StatusCode.UNAVAILABLE
    )
    assert (
        await refused_code(grpc.aio.insecure_channel(served.target)) == grpc.StatusCode.UNAVAILABLE
    )
    assert not await check_health(served.target, timeout_s=TIMEOUT_S)
    assert served.node.seen == []


async def test_a_client_certified_by_another_ca_is_refused(
    province: Province, served: Served
) -> None:
    foreign = pki.node_dir(province.other, KM)
    # trusts our CA for the server, but presents a certificate of the other CA
    creds = grpc.ssl_channel_credentials(
        root_certificates=(province.dir / "ca.crt").read_bytes(),
        private_key=(foreign / "tls.key").read_bytes(),
        certificate_chain=(foreign / "tls.crt").read_bytes(),
    )
    assert (
        await refused_code(grpc.aio.secure_channel(served.target, creds))
        == grpc.StatusCode.UNAVAILABLE
    )
    # and a client of the other province does not trust our server either
    other_client = ClientTls(foreign).channel(served.target)
    assert await refused_code(other_client) == grpc.StatusCode.UNAVAILABLE
    assert served.node.seen == []


async def test_a_rotated_certificate_is_served_to_new_connections_without_restart(
    province: Province, served: Served
) -> None:
    km_dir = pki.node_dir(province.dir, KM)
    before = await asyncio.to_thread(served_serial, served.target, km_dir)
    assert (
        before
        == x509.load_pem_x509_certificate(
            (pki.node_dir(province.dir, HUB) / "tls.crt").read_bytes()
        ).serial_number
    )
    old_channel = ClientTls(km_dir).channel(served.target)
    await get_info(old_channel)

    rotated = pki.rotate(province.dir, HUB, days=90)

    after = await asyncio.to_thread(served_serial, served.target, km_dir)
    assert after == rotated.serial_number != before
    async with ClientTls(km_dir).channel(served.target) as fresh:
        assert (await get_info(fresh)).node_id == "site/KM"
    await get_info(old_channel)  # the connection made before goes on
    await old_channel.close()
    expiry = REGISTRY.get_sample_value(
        "vcc_tls_cert_expiry_seconds", {"kind": "hub", "id": "hub-1"}
    )
    assert expiry == rotated.not_valid_after_utc.timestamp()


async def test_a_client_picks_up_its_rotated_certificate_for_new_channels(
    province: Province, served: Served
) -> None:
    client = ClientTls(pki.node_dir(province.dir, KM))
    first = client.channel(served.target)
    await get_info(first)
    rotated = pki.rotate(province.dir, KM, days=30)
    async with client.channel(served.target) as channel:
        await get_info(channel)
    await get_info(first)  # a channel made before keeps its connection and certificate
    await first.close()
    previous = pki.node_dir(province.dir, KM) / "tls.crt.prev"
    old_serial = x509.load_pem_x509_certificate(previous.read_bytes()).serial_number
    assert served.node.serials == [old_serial, rotated.serial_number, old_serial]
    expiry = REGISTRY.get_sample_value("vcc_tls_cert_expiry_seconds", {"kind": "site", "id": "KM"})
    assert expiry == rotated.not_valid_after_utc.timestamp()


def replace(path: Path, data: bytes) -> None:
    """Replace a file the way a deployment tool does: write beside it, then rename."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_files_caught_mid_rotation_are_not_loaded(province: Province) -> None:
    hub_dir = pki.node_dir(province.dir, HUB)
    server = ServerTls(hub_dir)
    serving = x509.load_pem_x509_certificate((hub_dir / "tls.crt").read_bytes()).serial_number
    km_key = (pki.node_dir(province.dir, KM) / "tls.key").read_bytes()
    replace(hub_dir / "tls.key", km_key)  # a key that is not the certificate's
    assert server._fetch() is None
    assert server._files.material.serial == serving
    replace(hub_dir / "tls.crt", b"-----BEGIN CERTIFICATE-----\ntrunc")
    assert server._fetch() is None
    assert server._files.material.serial == serving


def test_expiry_gauge_names_the_node_and_the_ca(province: Province) -> None:
    client = ClientTls(pki.node_dir(province.dir, KM))
    node = x509.load_pem_x509_certificate((pki.node_dir(province.dir, KM) / "tls.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((province.dir / "ca.crt").read_bytes())
    assert client.identity == KM
    assert (
        REGISTRY.get_sample_value("vcc_tls_cert_expiry_seconds", {"kind": "site", "id": "KM"})
        == node.not_valid_after_utc.timestamp()
    )
    assert (
        REGISTRY.get_sample_value("vcc_tls_cert_expiry_seconds", {"kind": "ca", "id": "province"})
        == ca.not_valid_after_utc.timestamp()
    )


async def test_plaintext_stays_the_default_and_has_no_identity() -> None:
    s = await _serve(None)
    try:
        pool = ChannelPool()
        try:
            assert (await get_info(pool.get(s.target))).node_id == ""
        finally:
            await pool.close()
        assert await check_health(s.target, timeout_s=TIMEOUT_S)
    finally:
        await s.host.stop(0)
    assert s.node.seen == [None]


def test_a_node_directory_without_its_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(pki.PkiError, match=r"missing .*tls\.key"):
        ServerTls(tmp_path)
