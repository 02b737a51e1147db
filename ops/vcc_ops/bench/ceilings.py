"""Raw ceilings of this machine, measured with the same tools the benchmarks use.

``vcc bench all`` measures these in the same run as the benchmarks, so every benchmark
figure can also be read as a ratio to what the machine can do at all:

* **gRPC echo** (``grpc_echo_calls_per_s``, ``grpc_echo_p50_ms`` / ``grpc_echo_p99_ms``):
  a bare unary echo (64 bytes each way, no serialisation, no work) on the project's own
  :class:`~vcc_proto.server.GrpcHost` (same server options, health service) in a separate
  process; this process drives it like ``vcc bench site`` drives a site (one asyncio
  loop, ``channels`` channels, ``concurrency`` callers back to back). A first, serial
  phase (one caller) gives the unloaded round trip, ``grpc_echo_serial_p50_ms`` /
  ``grpc_echo_serial_p99_ms``, the floor of any latency over gRPC.
* **JetStream publish** (``js_publish_msgs_per_s``): a real ``nats-server`` started by
  :class:`~vcc_ops.infra.NatsServer` (file storage, default fsync policy), a stream with
  the province streams' settings (duplicate window), and messages encoded and headed
  exactly as the outbox relay sends site events (``Nats-Msg-Id`` per message). They are
  published the relay's way: ``batch`` at a time in flight, each with a reply subject
  under one inbox subscription, then every acknowledgement awaited before the next
  batch. ``js_publish_batch_p99_ms`` is the time of one batch, publish to last ack.
* **SQLite commits** (``sqlite_commits_per_s``): one small INSERT per transaction, back
  to back, through :func:`vcc_replication.db.make_engine` (SQLAlchemy + aiosqlite, WAL,
  ``synchronous=NORMAL``: the site store's engine and pragmas);
  ``sqlite_raw_commits_per_s`` is the same through the stdlib driver with the same
  pragmas (what SQLite itself allows, without the asyncio driver's thread hop).
* **Python** (``py_calls_per_s``): calls of a trivial Python function per second in
  this interpreter, a CPU ceiling for the pure in-process benchmarks (route, report).

Run ``python -m vcc_ops.bench.ceilings serve-echo PORT`` to start just the echo server.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

ECHO_SERVICE = "vcc.bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
START_TIMEOUT_S = 60.0


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# -- gRPC echo -----------------------------------------------------------------------------


async def serve_echo(port: int) -> None:
    """Serve the bare echo on ``127.0.0.1:port`` (with health) until SIGTERM/SIGINT."""
    from vcc_proto.server import GrpcHost, ServedService, install_stop_signals

    async def echo(request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )

    def add(_servicer: object, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((handler,))

    host = GrpcHost("127.0.0.1", port, [ServedService(ECHO_SERVICE, None, add)])
    stop = asyncio.Event()
    install_stop_signals(stop)
    await host.start()
    await host.set_serving(True)
    await stop.wait()
    await host.stop(grace_s=0.5)


async def _echo_load(
    target: str, seconds: float, channels: int, concurrency: int
) -> tuple[int, float, list[float], int]:
    """``concurrency`` callers back to back for ``seconds``: (calls, span, latencies, errors)."""
    chans = [grpc.aio.insecure_channel(target) for _ in range(channels)]
    calls = [ch.unary_unary(ECHO_METHOD) for ch in chans]
    payload = b"x" * 64
    latencies: list[float] = []
    errors = 0
    try:
        for call in calls:  # connect every channel before the clock starts
            await call(payload, timeout=10)
        start = time.perf_counter()
        end = start + seconds

        async def caller(i: int) -> None:
            nonlocal errors
            call = calls[i % len(calls)]
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    return
                try:
                    await call(payload, timeout=10)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(caller(i) for i in range(concurrency)))
        span = time.perf_counter() - start
    finally:
        for ch in chans:
            await ch.close()
    return len(latencies), span, sorted(latencies), errors


def grpc_echo_ceiling(
    seconds: float = 5.0, serial_seconds: float = 1.0, channels: int = 4, concurrency: int = 32
) -> dict[str, Any]:
    """Start the echo server in its own process and measure it; the figures."""
    from vcc_ops.infra import ManagedProcess, free_port
    from vcc_proto.server import check_health

    with tempfile.TemporaryDirectory(prefix="vcc-ceiling-echo-") as tmp:
        port = free_port()
        target = f"127.0.0.1:{port}"
        proc = ManagedProcess(
            "grpc-echo",
            [sys.executable, "-m", "vcc_ops.bench.ceilings", "serve-echo", str(port)],
            Path(tmp) / "echo.out",
        )
        proc.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not asyncio.run(check_health(target, timeout_s=1.0)):
                if not proc.alive:
                    raise RuntimeError(f"the echo server exited:\n{proc.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the echo server did not become healthy")
                time.sleep(0.1)
            _, _, serial, serial_errors = asyncio.run(_echo_load(target, serial_seconds, 1, 1))
            count, span, lat, errors = asyncio.run(
                _echo_load(target, seconds, channels, concurrency)
            )
        finally:
            proc.stop(timeout=10)
    return {
        "grpc_echo_calls_per_s": round(count / span, 1) if span > 0 else 0.0,
        "grpc_echo_p50_ms": _ms(_percentile(lat, 0.50)),
        "grpc_echo_p99_ms": _ms(_percentile(lat, 0.99)),
        "grpc_echo_serial_p50_ms": _ms(_percentile(serial, 0.50)),
        "grpc_echo_serial_p99_ms": _ms(_percentile(serial, 0.99)),
        "grpc_echo_calls": count,
        "grpc_echo_errors": errors + serial_errors,
        "grpc_echo_params": {
            "seconds": seconds,
            "serial_seconds": serial_seconds,
            "channels": channels,
            "concurrency": concurrency,
            "payload_bytes": 64,
        },
    }


# -- JetStream publish ---------------------------------------------------------------------


async def _publish_load(url: str, seconds: float, batch: int) -> dict[str, Any]:
    from vcc_domain.ids import new_id
    from vcc_proto.names import SITE_EVENTS_SUBJECTS
    from vcc_proto.v1 import events_pb2 as pb
    from vcc_replication.events import encode, headers
    from vcc_replication.events import event as site_event
    from vcc_replication.jetstream import connect, ensure_stream
    from vcc_replication.streams import SITE_EVENTS_STREAM, StreamSpec, site_events_subject

    nc = await connect(url, "bench-ceiling")
    try:
        spec = StreamSpec(SITE_EVENTS_STREAM, (SITE_EVENTS_SUBJECTS,))
        await ensure_stream(
            nc.jetstream(),
            spec.name,
            list(spec.subjects),
            replicas=1,
            duplicate_window_s=spec.duplicate_window_s,
        )
        subject = site_events_subject("KM")
        prefix = nc.new_inbox()
        waiters: dict[str, asyncio.Future[None]] = {}
        refused = 0

        async def on_ack(msg: Any) -> None:
            nonlocal refused
            future = waiters.pop(msg.subject, None)
            if future is not None and not future.done():
                if not msg.data or b'"error"' in msg.data:
                    refused += 1
                future.set_result(None)

        await nc.subscribe(prefix + ".*", cb=on_ack)
        loop = asyncio.get_running_loop()
        body = pb.CallQueued(
            call=pb.CallInfo(
                call_id="call_x",
                site_id="KM",
                business_id="general",
                tier="ordinary",
                priority="ordinary",
                state="queued",
                agent_id="KM-0001",
            )
        )
        seq = 0
        token = 0

        async def one_batch() -> float:
            nonlocal seq, token
            t0 = time.perf_counter()
            futures = []
            for _ in range(batch):
                seq += 1
                token += 1
                event = site_event(
                    "KM", seq, new_id("evt"), "call.queued", "call_x", int(time.time() * 1000), body
                )
                reply = f"{prefix}.{token}"
                future: asyncio.Future[None] = loop.create_future()
                waiters[reply] = future
                futures.append(future)
                await nc.publish(subject, encode(event), reply=reply, headers=headers(event))
            await nc.flush(timeout=10)
            _done, pending = await asyncio.wait(futures, timeout=30)
            if pending:
                raise RuntimeError(f"{len(pending)} of {batch} publishes were not acknowledged")
            return time.perf_counter() - t0

        await one_batch()  # warm-up: stream files, connection buffers
        start = time.perf_counter()
        times: list[float] = []
        while time.perf_counter() - start < seconds:
            times.append(await one_batch())
        span = time.perf_counter() - start
        count = len(times) * batch
        ordered = sorted(times)
        return {
            "js_publish_msgs_per_s": round(count / span, 1) if span > 0 else 0.0,
            "js_publish_batch_p50_ms": _ms(_percentile(ordered, 0.50)),
            "js_publish_batch_p99_ms": _ms(_percentile(ordered, 0.99)),
            "js_publish_msgs": count,
            "js_publish_refused": refused,
            "js_publish_msg_bytes": len(
                encode(site_event("KM", seq, new_id("evt"), "call.queued", "call_x", 0, body))
            ),
        }
    finally:
        await nc.close()


def js_publish_ceiling(seconds: float = 5.0, batch: int = 1000) -> dict[str, Any]:
    """A fresh nats-server (JetStream, file storage); the relay's way of publishing."""
    from vcc_ops.infra import NatsServer

    with tempfile.TemporaryDirectory(prefix="vcc-ceiling-js-") as tmp:
        server = NatsServer(Path(tmp) / "nats")
        server.start()
        try:
            result = asyncio.run(_publish_load(server.url, seconds, batch))
        finally:
            server.stop()
    result["js_publish_params"] = {
        "seconds": seconds,
        "batch": batch,
        "storage": "file",
        "sync_interval": "default",
    }
    return result


# -- SQLite commits ------------------------------------------------------------------------


async def _async_commits(url: str, seconds: float) -> tuple[int, float]:
    from sqlalchemy import text

    from vcc_replication.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        insert = text("INSERT INTO t (v) VALUES (:v)")
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            async with engine.begin() as conn:
                await conn.execute(insert, {"v": "x" * 100})
            count += 1
        return count, time.perf_counter() - start
    finally:
        await engine.dispose()


def _raw_commits(path: Path, seconds: float) -> tuple[int, float]:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            db.execute("BEGIN")
            db.execute("INSERT INTO t (v) VALUES (?)", ("x" * 100,))
            db.execute("COMMIT")
            count += 1
        return count, time.perf_counter() - start
    finally:
        db.close()


def sqlite_ceiling(seconds: float = 3.0, workdir: Path | None = None) -> dict[str, Any]:
    """One-row transactions back to back: the site store's engine, then stdlib sqlite3."""
    with tempfile.TemporaryDirectory(prefix="vcc-ceiling-sqlite-", dir=workdir) as tmp:
        count, span = asyncio.run(_async_commits(f"sqlite:///{Path(tmp) / 'a.db'}", seconds))
        raw_count, raw_span = _raw_commits(Path(tmp) / "raw.db", seconds)
    return {
        "sqlite_commits_per_s": round(count / span, 1),
        "sqlite_raw_commits_per_s": round(raw_count / raw_span, 1),
        "sqlite_params": {
            "seconds": seconds,
            "journal_mode": "WAL",
            "synchronous": "NORMAL",
            "rows_per_commit": 1,
            "sqlite_version": sqlite3.sqlite_version,
        },
    }


# -- Python --------------------------------------------------------------------------------


def _noop(x: int) -> int:
    return x


def python_ceiling(seconds: float = 1.0) -> dict[str, Any]:
    """Calls of a trivial function per second (best of 1,000,000-call rounds)."""
    rounds = 0
    best = float("inf")
    start = time.perf_counter()
    while rounds < 1 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        for i in range(1_000_000):
            _noop(i)
        best = min(best, time.perf_counter() - t0)
        rounds += 1
    return {"py_calls_per_s": round(1_000_000 / best), "py_rounds": rounds}


def measure_ceilings(*, quick: bool = False) -> dict[str, Any]:
    """Every ceiling; ``quick`` uses sub-second windows (for tests)."""
    out: dict[str, Any] = {}
    out.update(python_ceiling(0.2 if quick else 1.0))
    out.update(sqlite_ceiling(0.5 if quick else 3.0))
    out.update(grpc_echo_ceiling(1.0 if quick else 5.0, 0.3 if quick else 1.0))
    out.update(js_publish_ceiling(1.0 if quick else 5.0))
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "serve-echo":
        asyncio.run(serve_echo(int(argv[1])))
        return 0
    print("usage: python -m vcc_ops.bench.ceilings serve-echo PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
