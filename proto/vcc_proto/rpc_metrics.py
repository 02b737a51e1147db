"""Per-method gRPC server metrics, for every method a :class:`~vcc_proto.server.GrpcHost`
serves (through :func:`vcc_proto.served.observed`) or as the :class:`RpcMetrics`
interceptor on any other ``grpc.aio`` server.

Three families, named as the Go ``grpc-ecosystem/go-grpc-prometheus`` names them so the
usual dashboards and queries apply:

* ``grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}``: RPCs
  completed, by status code (the rate and the error ratio);
* ``grpc_server_handling_seconds{grpc_type, grpc_service, grpc_method}``: time from the
  handler's start to its end (for a streaming response: the stream's whole life, so
  latency panels select ``grpc_type="unary"``);
* ``grpc_server_msg_sent_total{...}``: messages written on server streams.

Why our own interceptor rather than a library: the packages that do this for Python
(``py-grpc-prometheus`` and its fork ``grpc-prometheus-metrics`` 0.0.5, one release) are
built for the threaded server; the fork's ``grpc.aio`` interceptor imports a private
module (``grpc.aio._interceptor``), builds new closures and a new method handler on every
call, looks label children up on every call, awaits an async generator for server
streams, and misses RPCs that end through ``context.abort`` (``AbortError`` is not an
``RpcError``), which is how every error of ours ends. ``grpc-interceptor`` gives an async
base class but no metrics, and ``grpcio-observability`` exports through OpenTelemetry,
a second metrics stack beside the ``prometheus_client`` registry the processes serve.

Cost per call: the wrapped handler of each method is built once (by the host when it
registers the method; by the interceptor on the first call, then cached, keyed by the
method and checked against the handler the server returned). A call then costs two
``perf_counter`` reads and a few additions to plain numbers (:class:`MethodMetrics`).
Unknown methods are not counted, so the label values are bounded by the services
served.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

LABELS = ["grpc_type", "grpc_service", "grpc_method"]
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LE = [str(floatToGoString(b)) for b in (*BUCKETS, math.inf)]  # type: ignore[no-untyped-call]
_OK = grpc.StatusCode.OK

Behavior = Callable[..., Any]


class MethodMetrics:
    """The series of one (grpc_type, service, method): plain numbers, bumped by the loop
    that serves the method and read by :class:`RpcCollector` when metrics are scraped.

    Not ``prometheus_client`` children: each of their ``inc`` and ``observe`` takes a
    lock and checks the metric's state, and a status code as a dictionary key hashes
    an enum in Python; here a call costs a bisect, three additions and a comparison.
    One instance per label set (:meth:`of`), shared by every server of the process."""

    __slots__ = ("counts", "created", "labels", "ok", "others", "sent", "total_s")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket (not cumulative), then +Inf
        self.total_s = 0.0
        self.ok = 0  # RPCs ended OK
        self.others: dict[Any, int] = {}  # other status codes (enum or C-core int)
        self.sent = 0  # messages written on a server stream
        self.created = time.time()

    @classmethod
    def of(cls, grpc_type: str, service: str, method: str) -> MethodMetrics:
        labels = (grpc_type, service, method)
        found = _SERIES.get(labels)
        if found is None:
            found = _SERIES[labels] = cls(labels)
        return found

    def done(self, started: float, code: Any) -> None:
        elapsed = time.perf_counter() - started
        self.counts[bisect.bisect_left(BUCKETS, elapsed)] += 1
        self.total_s += elapsed
        if code is _OK:
            self.ok += 1
        else:
            self.others[code] = self.others.get(code, 0) + 1

    def handled(self) -> dict[str, int]:
        """RPCs so far by status code name."""
        found = {"OK": self.ok} if self.ok else {}
        for code, n in list(self.others.items()):  # a code may come as an enum and an int
            name = _code_name(code)
            found[name] = found.get(name, 0) + n
        return found


_SERIES: dict[tuple[str, str, str], MethodMetrics] = {}


class RpcCollector(Collector):
    """Exposes every :class:`MethodMetrics` as the three families of the module doc."""

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        handled, handling, sent = self._families()
        for m in list(_SERIES.values()):
            labels = list(m.labels)
            for name, n in m.handled().items():
                handled.add_metric([*labels, name], n, created=m.created)
            cumulative, buckets = 0, []
            for le, n in zip(_LE, list(m.counts), strict=True):
                cumulative += n
                buckets.append((le, float(cumulative)))
            handling.add_metric(labels, buckets, m.total_s)
            handling.samples.append(
                Sample(
                    "grpc_server_handling_seconds_created",
                    dict(zip(LABELS, labels, strict=True)),
                    m.created,
                )
            )
            sent.add_metric(labels, m.sent, created=m.created)
        return iter((handled, handling, sent))

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, HistogramMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily(
                "grpc_server_handled",
                "RPCs completed on the server, by status code",
                labels=[*LABELS, "grpc_code"],
            ),
            HistogramMetricFamily(
                "grpc_server_handling_seconds",
                "Time the server took to handle an RPC (a streaming response: the stream's life)",
                labels=LABELS,
            ),
            CounterMetricFamily(
                "grpc_server_msg_sent", "Messages sent on server-streaming RPCs", labels=LABELS
            ),
        )


REGISTRY.register(RpcCollector())


def grpc_type_of(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def method_parts(method: str) -> tuple[str, str]:
    """``"/pkg.Service/Method"`` -> ``("pkg.Service", "Method")``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service or "unknown", name


def _code_name(code: Any) -> str:
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    for status in grpc.StatusCode:  # an int from the C core (once per method and code)
        if status.value[0] == code:
            return str(status.name)
    return "UNKNOWN"


def status_of(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException | None) -> Any:
    """The status the RPC ends with: what the context holds (set by ``abort`` or
    ``set_code``), else OK, CANCELLED or UNKNOWN from how the handler ended."""
    code = context.code()
    if code is not None and code != grpc.StatusCode.OK and code != 0:
        return code
    if exc is None:
        return grpc.StatusCode.OK
    if isinstance(exc, (grpc.aio.AbortError, grpc.aio.AioRpcError)) and code is not None:
        return code
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _wrap_unary_response(inner: Behavior, m: MethodMetrics) -> Behavior:
    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        try:
            reply = await inner(request, context)
        except BaseException as exc:
            m.done(started, status_of(context, exc))
            raise
        m.done(started, status_of(context, None))
        return reply

    return behavior


def _wrap_stream_response(inner: Behavior, m: MethodMetrics) -> Behavior:
    if not inspect.isasyncgenfunction(inner):  # writes with context.write, returns None
        return _wrap_unary_response(inner, m)

    async def behavior(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        started = time.perf_counter()
        try:
            async for item in inner(request, context):
                m.sent += 1
                yield item
        except BaseException as exc:
            m.done(started, status_of(context, exc))
            raise
        m.done(started, status_of(context, None))

    return behavior


def _instrumented(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    grpc_type = grpc_type_of(handler)
    m = MethodMetrics.of(grpc_type, *method_parts(method))
    de, ser = handler.request_deserializer, handler.response_serializer
    if grpc_type == "unary":
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary_response(handler.unary_unary, m), de, ser
        )
    if grpc_type == "server_stream":
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream_response(handler.unary_stream, m), de, ser
        )
    if grpc_type == "client_stream":
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary_response(handler.stream_unary, m), de, ser
        )
    return grpc.stream_stream_rpc_method_handler(
        _wrap_stream_response(handler.stream_stream, m), de, ser
    )


class RpcMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # untyped in the stubs
    """Counts and times every RPC of the server it is installed on (see the module doc)."""

    def __init__(self) -> None:
        # method -> (the handler the server returned, our instrumented copy of it)
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED, not counted
            return handler
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        instrumented = _instrumented(handler, method)
        self._cache[method] = (handler, instrumented)
        return instrumented
