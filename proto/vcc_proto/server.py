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
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from vcc_proto.rpc_metrics import RpcMetrics

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServedService:
    """One of our services as served by a process."""

    name: str  # full service name, e.g. "vcc_proto.v1.Node"
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


class GrpcHost:
    """Owns one ``grpc.aio`` server; health reflects readiness of the whole process."""

    def __init__(self, host: str, port: int, services: list[ServedService]) -> None:
        self._address = f"{host}:{port}"
        self.services = list(services)
        self.health = health_aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = port

    async def start(self) -> int:
        server = grpc.aio.server(
            interceptors=[RpcMetrics()],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        for svc in self.services:
            svc.add_to_server(svc.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [svc.name for svc in self.services]
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
        self.port = server.add_insecure_port(self._address)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC server to {self._address}")
        await server.start()
        self._server = server
        for name in ["", *(svc.name for svc in self.services)]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("gRPC listening on %s", self._address)
        return self.port

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
    """A port that is free right now (so a process can advertise it before serving)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` so the process shuts down cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def check_health(target: str, timeout_s: float = 2.0, service: str = "") -> bool:
    """True when the standard health service at ``target`` answers SERVING."""
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
