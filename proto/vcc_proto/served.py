"""The one wrapper around every method a :class:`~vcc_proto.server.GrpcHost` serves.

Each RPC is counted and timed (:mod:`vcc_proto.rpc_metrics`), its log context is set from
the request's ``call_id`` and ``agent_id`` fields, and on a TLS port it is checked against
the authorization table (innermost, so a refused call is counted and logged like any
other). All of it is one wrapper per method, built once when the service is registered
(:class:`Registrar` stands in for the server in the generated ``add_*_to_server``).

Why not server interceptors: ``grpc.aio`` runs every interceptor's ``intercept_service``
coroutine on every RPC, through a chain of ``functools.partial`` continuations, only to
be handed back the handler it returned the time before, and each interceptor adds its
own coroutine frame around the handler. With two of them (metrics, log context) that was
a few per cent of a site's CPU per call under ``vcc bench site`` (py-spy). A handler
wrapped here costs one coroutine frame, two ``perf_counter`` reads, a field read or two
and the metrics' ``inc`` and ``observe``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from vcc_proto.observability import agent_var, call_var
from vcc_proto.rpc_metrics import MethodMetrics, grpc_type_of, method_parts, status_of

rpc_log = logging.getLogger("vcc_proto.rpc")  # one DEBUG line per request about a call

# Request fields that name the call and the agent a request works on, in order of
# preference (the first one the request type has is used); a dotted path reads a field
# of a message field (a transfer carries the call in its ``context``).
CALL_FIELDS = ("call_id", "context.call_id")
AGENT_FIELDS = ("agent_id",)
FieldPath = tuple[str, ...]
Paths = tuple[FieldPath | None, FieldPath | None]
Wrap = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


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


def paths_of(descriptor: Any) -> Paths:
    return field_path(descriptor, CALL_FIELDS), field_path(descriptor, AGENT_FIELDS)


class LogContext:
    """Sets ``call_var`` and ``agent_var`` for one method's requests. The fields are known
    from the request type when the handler names it, else from the first request."""

    __slots__ = ("method", "paths")

    def __init__(self, method: str, paths: Paths | None) -> None:
        self.method = method
        self.paths = paths

    @classmethod
    def of(cls, method: str, handler: grpc.RpcMethodHandler) -> LogContext | None:
        """None for a method whose requests name no call and no agent (or stream in)."""
        if handler.request_streaming:
            return None
        message = getattr(handler.request_deserializer, "__self__", None)  # FromString
        descriptor = getattr(message, "DESCRIPTOR", None)
        if descriptor is None:
            return cls(method, None)  # read from the first request
        paths = paths_of(descriptor)
        return None if paths == (None, None) else cls(method, paths)

    def enter(self, request: Any) -> None:
        paths = self.paths
        if paths is None:
            descriptor = getattr(request, "DESCRIPTOR", None)
            paths = self.paths = paths_of(descriptor) if descriptor is not None else (None, None)
        call_path, agent_path = paths
        call_id = read_path(request, call_path) if call_path is not None else ""
        if call_id:
            call_var.set(call_id)
        agent_id = read_path(request, agent_path) if agent_path is not None else ""
        if agent_id:
            agent_var.set(agent_id)
        if (call_id or agent_id) and rpc_log.isEnabledFor(logging.DEBUG):
            rpc_log.debug("rpc %s", self.method)


def _unary(inner: Callable[..., Any], m: MethodMetrics, ctx: LogContext | None) -> Any:
    perf_counter = time.perf_counter
    if ctx is None:

        async def plain(request: Any, context: Any) -> Any:
            started = perf_counter()
            try:
                reply = await inner(request, context)
            except BaseException as exc:
                m.done(started, status_of(context, exc))
                raise
            m.done(started, status_of(context, None))
            return reply

        return plain
    enter = ctx.enter

    async def behavior(request: Any, context: Any) -> Any:
        started = perf_counter()
        enter(request)
        try:
            reply = await inner(request, context)
        except BaseException as exc:
            m.done(started, status_of(context, exc))
            raise
        m.done(started, status_of(context, None))
        return reply

    return behavior


def _stream(inner: Callable[..., Any], m: MethodMetrics, ctx: LogContext | None) -> Any:
    if not inspect.isasyncgenfunction(inner):  # writes with context.write, returns None
        return _unary(inner, m, ctx)

    async def behavior(request: Any, context: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        if ctx is not None:
            ctx.enter(request)
        try:
            async for item in inner(request, context):
                m.sent += 1
                yield item
        except BaseException as exc:
            m.done(started, status_of(context, exc))
            raise
        m.done(started, status_of(context, None))

    return behavior


def observed(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` counted, timed and with its log context, in one wrapper."""
    kind = grpc_type_of(handler)
    m = MethodMetrics.of(kind, *method_parts(method))
    ctx = LogContext.of(method, handler)
    de, ser = handler.request_deserializer, handler.response_serializer
    if kind == "unary":
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, m, ctx), de, ser)
    if kind == "server_stream":
        return grpc.unary_stream_rpc_method_handler(_stream(handler.unary_stream, m, ctx), de, ser)
    if kind == "client_stream":
        return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, m, None), de, ser)
    return grpc.stream_stream_rpc_method_handler(_stream(handler.stream_stream, m, None), de, ser)


def wrapper(authz: Wrap | None = None) -> Wrap:
    """What each method is wrapped in: :func:`observed`, around ``authz`` when given."""
    if authz is None:
        return observed
    guarded = authz

    def wrap(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return observed(method, guarded(method, handler))

    return wrap


class _WrappedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]  # untyped in the stubs
    """A generic handler whose method handlers come wrapped (each built once)."""

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Wrap) -> None:
        self._inner = inner
        self._wrap = wrap
        # method -> (the handler the inner one returned, our wrapped copy of it)
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = self._inner.service(handler_call_details)
        if handler is None:  # not ours: gRPC asks the next one or answers UNIMPLEMENTED
            return None
        method: str = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._cache[method] = (handler, wrapped)
        return wrapped


class Registrar:
    """Stands in for the server in a generated ``add_*Servicer_to_server``: the method
    handlers it registers reach the server wrapped by ``wrap``."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(handler, self._wrap) for handler in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        )
