"""A gRPC host for a vcc process: our services plus standard health and reflection.

Hub and site processes build a list of :class:`ServedService` in their composition root
and hand it to :class:`GrpcHost`. The list is also what the contract test walks to prove
that every RPC of every served service is implemented.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from vcc_proto.channels import open_channel
from vcc_proto.ports import free_port
from vcc_proto.served import Registrar, wrapper
from vcc_proto.v1 import node_pb2, node_pb2_grpc

if TYPE_CHECKING:
    from vcc_proto.authz_interceptor import AuthzInterceptor
    from vcc_proto.tls import ClientTls, ServerTls

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServedService:
    """One of our services as served by a process."""

    name: str  # full service name, e.g. "vcc_proto.v1.Node"
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


class GrpcHost:
    """Owns one ``grpc.aio`` server; health reflects readiness of the whole process.

    With ``tls`` the port requires mutual TLS (:class:`vcc_proto.tls.ServerTls`) and every
    RPC is checked against the authorization table (``authz``, by default an
    :class:`vcc_proto.authz_interceptor.AuthzInterceptor` with no person hook); without it
    the port is plaintext and nothing is checked."""

    def __init__(
        self,
        host: str,
        port: int,
        services: list[ServedService],
        tls: ServerTls | None = None,
        authz: AuthzInterceptor | None = None,
    ) -> None:
        self._address = f"{host}:{port}"
        self._tls = tls
        self._authz = authz
        self.services = list(services)
        self.health = health_aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = port

    async def start(self) -> int:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        registrar: Any = Registrar(server, self._wrapper())
        for svc in self.services:
            svc.add_to_server(svc.servicer, registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        names = [svc.name for svc in self.services]
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer([*names, reflection.SERVICE_NAME]), registrar
        )
        if self._tls is None:
            self.port = server.add_insecure_port(self._address)
        else:
            self.port = server.add_secure_port(self._address, self._tls.credentials())
        if self.port == 0:
            raise OSError(f"cannot bind gRPC server to {self._address}")
        await server.start()
        self._server = server
        for name in ["", *(svc.name for svc in self.services)]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("gRPC listening on %s", self._address)
        return self.port

    def _wrapper(self) -> Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]:
        """How each served method is wrapped (:mod:`vcc_proto.served`): metrics, log
        context and, on a TLS port, authorization (innermost, so refused calls are counted
        and logged like any other). No server interceptors: they cost on every RPC."""
        if self._tls is None:
            return wrapper()
        from vcc_proto.authz_interceptor import AuthzInterceptor

        authz = self._authz if self._authz is not None else AuthzInterceptor()
        return wrapper(authz.wrap)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *(svc.name for svc in self.services)]:
            await self.health.set(name, status)

    async def stop(self, grace_s: float = 2.0) -> None:
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        self._server = None


# Young-generation allocations between collections (CPython's default is 700). A node
# allocates a few thousand short-lived objects per call; reference counting frees them,
# the collector only looks for cycles, so running it every 700 allocations was ~8 % of a
# site's CPU under load (py-spy, `vcc bench site`).
GC_THRESHOLDS = (20_000, 20, 50)


def settle_heap() -> None:
    """Call once a node has started: what exists now (modules, the province, the gRPC
    and SQLAlchemy machinery) lives as long as the process, so ``gc.freeze()`` moves it
    out of the collector's way and the thresholds make collections rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (so a process can advertise it before serving),
    reserved against the other vcc processes on this machine."""
    return free_port(host)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` so the process shuts down cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


class ServedByAnother(RuntimeError):
    """The port a process was started on is answered by a different process."""


async def check_health(
    target: str,
    timeout_s: float = 2.0,
    service: str = "",
    tls: ClientTls | None = None,
    pid: int | None = None,
) -> bool:
    """True when the standard health service at ``target`` answers SERVING (over mutual
    TLS with ``tls`` or the process's client certificate, see :mod:`vcc_proto.channels`).
    With ``pid``, the answer must also come from that process (its ``Node.GetInfo``):
    another process answering raises ``ServedByAnother``, since waiting longer would not
    make the port ours."""
    channel = open_channel(target, tls=tls)
    try:
        async with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                return False
            if pid is None:
                return True
            info = await node_pb2_grpc.NodeStub(channel).GetInfo(
                node_pb2.GetInfoRequest(), timeout=timeout_s
            )
    except grpc.RpcError:
        return False
    if info.pid != pid:
        raise ServedByAnother(f"{target} is answered by process {info.pid}, not by {pid}")
    return True
