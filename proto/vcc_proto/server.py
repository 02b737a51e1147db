"""A gRPC host for a vcc process: our services plus standard health and reflection.

Hub and site processes build a list of :class:`ServedService` in their composition root
and hand it to :class:`GrpcHost`. The list is also what the contract test walks to prove
that every RPC of every served service is implemented.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from vcc_proto.channels import open_channel
from vcc_proto.observability import agent_var, call_var
from vcc_proto.ports import free_port
from vcc_proto.rpc_metrics import RpcMetrics
from vcc_proto.v1 import node_pb2, node_pb2_grpc

if TYPE_CHECKING:
    from vcc_proto.authz_interceptor import AuthzInterceptor
    from vcc_proto.tls import ClientTls, ServerTls

log = logging.getLogger(__name__)
rpc_log = logging.getLogger("vcc_proto.rpc")  # one DEBUG line per request about a call

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServedService:
    """One of our services as served by a process."""

    name: str  # full service name, e.g. "vcc_proto.v1.Node"
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


# Request fields that name the call and the agent a request works on, in order of
# preference (the first one the request type has is used); a dotted path reads a field
# of a message field (a transfer carries the call in its ``context``).
CALL_FIELDS = ("call_id", "context.call_id")
AGENT_FIELDS = ("agent_id",)
FieldPath = tuple[str, ...]


def field_path(descriptor: Any, candidates: tuple[str, ...]) -> FieldPath | None:
    """The first candidate path that a message type (its DESCRIPTOR) has, as parts."""
    for candidate in candidates:
        parts = tuple(candidate.split("."))
        message = descriptor
        for i, part in enumerate(parts):
            found = message.fields_by_name.get(part) if message is not None else None
            if found is None:
                break
            if i == len(parts) - 1:
                return parts
            message = found.message_type
    return None


def read_path(request: Any, path: FieldPath) -> str:
    value = request
    for part in path:
        value = getattr(value, part)
    return str(value)


class CallContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Sets the log context (``call_var``, ``agent_var``) from each request's ``call_id``
    and ``agent_id`` fields for the handler, unary and server-streaming alike.

    Which fields a method's request has is looked up once per method (from the request
    type, else from its first request) and cached; a request then costs a dictionary
    lookup and a ``getattr`` or two; a method whose request names neither is not wrapped.
    Each RPC runs in its own task, so what is set here never leaks into another RPC.
    """

    def __init__(self) -> None:
        self._fields: dict[str, tuple[FieldPath | None, FieldPath | None]] = {}
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method: str = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:  # the same handler every time
            return known[1]
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        message = getattr(handler.request_deserializer, "__self__", None)  # Message.FromString
        descriptor = getattr(message, "DESCRIPTOR", None)
        if descriptor is not None:  # known before the first request
            paths = (field_path(descriptor, CALL_FIELDS), field_path(descriptor, AGENT_FIELDS))
            if paths == (None, None):
                return handler  # names no call and no agent: served as it is
            self._fields[method] = paths
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _enter(self, method: str, request: Any) -> None:
        found = self._fields.get(method)
        if found is None:
            descriptor = getattr(request, "DESCRIPTOR", None)
            found = (
                (field_path(descriptor, CALL_FIELDS), field_path(descriptor, AGENT_FIELDS))
                if descriptor is not None
                else (None, None)
            )
            self._fields[method] = found
        call_path, agent_path = found
        call_id = read_path(request, call_path) if call_path is not None else ""
        if call_id:
            call_var.set(call_id)
        agent_id = read_path(request, agent_path) if agent_path is not None else ""
        if agent_id:
            agent_var.set(agent_id)
        if (call_id or agent_id) and rpc_log.isEnabledFor(logging.DEBUG):
            rpc_log.debug("rpc %s", method)

    def _unary(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(request: Any, context: Any) -> Any:
            self._enter(method, request)
            return await inner(request, context)

        return handle

    def _stream(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(inner):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                self._enter(method, request)
                async for item in inner(request, context):
                    yield item

            return stream

        async def write(request: Any, context: Any) -> Any:  # writes with context.write
            self._enter(method, request)
            return await inner(request, context)

        return write


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
            interceptors=self._interceptors(),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        for svc in self.services:
            svc.add_to_server(svc.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [svc.name for svc in self.services]
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
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

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Metrics, log context and, on a TLS port, authorization (innermost, so refused
        calls are counted and logged like any other)."""
        chain: list[grpc.aio.ServerInterceptor] = [RpcMetrics(), CallContextInterceptor()]
        if self._tls is not None:
            from vcc_proto.authz_interceptor import AuthzInterceptor

            chain.append(self._authz if self._authz is not None else AuthzInterceptor())
        return chain

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
