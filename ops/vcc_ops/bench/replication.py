"""``vcc bench replication``: sustained site-to-hub event replication, and its lag.

Per run, in a fresh temporary directory: a real ``nats-server`` (JetStream, file storage,
default fsync policy), a real etcd and a real ``vcc hub`` process on its own SQLite
database. The site side runs in this process: a real :class:`SqlSiteStore` (SQLite) and
the real :class:`OutboxRelay`. A producer commits events through the store's outbox in
units of ``unit`` events (each unit one ``commit``, so group commit applies), open loop
at ``rate`` events/s for ``seconds`` seconds (``rate=0``: as fast as the store takes
them). The mix is a call's life: ``call.queued``, ``agent.state``, ``call.answered``,
``call.ended`` and ``cdr.created`` (so the hub writes its CDR, call and agent copies).

Figures, read from the hub's database once every event is applied:

* ``events_per_s``: events applied at the hub per second, from the first event's time
  (``at_ms``, taken just before its commit at the site) to the last apply;
* ``lag_p50_ms`` / ``lag_p99_ms`` / ``lag_max_ms``: per event, ``inbox.applied_at_ms -
  at_ms`` (site commit → outbox → relay → JetStream → hub consumer → hub commit);
* ``offered_per_s``: events committed at the site per second over the producing window.

Both clocks are this machine's wall clock (same host), in milliseconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vcc_domain.ids import new_id

MEDIAN_KEYS = ("events_per_s", "offered_per_s", "lag_p50_ms", "lag_p99_ms", "lag_max_ms")


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def events_for_call(i: int, now_ms: int, site: str = "KM") -> list[Any]:
    """The five events of one answered call at ``site`` (queued, agent busy, answered,
    ended, CDR), each stamped ``now_ms``."""
    from vcc_proto.v1 import events_pb2 as pb
    from vcc_site.store.api import Event

    call_id = new_id("call")
    agent = f"{site}-{i % 150:04d}"

    def info(state: str, agent_id: str = "") -> pb.CallInfo:
        return pb.CallInfo(
            call_id=call_id,
            site_id=site,
            business_id="general",
            tier="ordinary",
            priority="ordinary",
            state=state,
            agent_id=agent_id,
        )

    cdr = pb.Cdr(
        cdr_id=new_id("cdr"),
        call_id=call_id,
        site_id=site,
        home_site=site,
        entry_site=site,
        business_id="general",
        tier="ordinary",
        caller_masked="137****0000",
        outcome="answered",
        arrival_at_ms=now_ms,
        answered_at_ms=now_ms,
        ended_at_ms=now_ms,
        wait_ms=5,
        ring_ms=3,
        talk_ms=60,
        hold_ms=0,
        agent_id=agent,
        transferred=False,
        overflowed=False,
        ivr_path=["main", "0"],
    )
    return [
        Event(new_id("evt"), "call.queued", call_id, pb.CallQueued(call=info("queued")), now_ms),
        Event(
            new_id("evt"),
            "agent.state",
            agent,
            pb.AgentStateChanged(
                agent_id=agent, session_id="ses_bench", state="busy", reason="", call_id=call_id
            ),
            now_ms,
        ),
        Event(
            new_id("evt"),
            "call.answered",
            call_id,
            pb.CallAnswered(call=info("connected", agent)),
            now_ms,
        ),
        Event(
            new_id("evt"), "call.ended", call_id, pb.CallEnded(call=info("ended", agent)), now_ms
        ),
        Event(
            new_id("evt"),
            "cdr.created",
            call_id,
            pb.CdrCreated(call=info("ended", agent), cdr=cdr),
            now_ms,
        ),
    ]


async def _produce(store: Any, rate: float, seconds: float, unit: int) -> tuple[int, float]:
    """Commit events open loop at ``rate``/s (0 = back to back); (events, seconds taken)."""
    from vcc_site.store.api import UnitOfWork

    total = int(rate * seconds) if rate > 0 else 0
    start = time.perf_counter()
    produced = 0
    calls = 0
    pending: set[asyncio.Task[list[int]]] = set()
    while True:
        elapsed = time.perf_counter() - start
        if rate > 0:
            if produced >= total:
                break
            due = min(total, int(elapsed * rate) + unit)
            if produced >= due:
                await asyncio.sleep(0.005)
                continue
        elif elapsed >= seconds:
            break
        now_ms = int(time.time() * 1000)
        uow = UnitOfWork()
        while len(uow.events) < unit:
            uow.emit(*events_for_call(calls, now_ms))
            calls += 1
        produced += len(uow.events)
        task = asyncio.create_task(store.commit(uow))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if len(pending) > 64:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(0)
    if pending:
        await asyncio.gather(*pending)
    return produced, time.perf_counter() - start


def _hub_rows(db: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT at_ms, applied_at_ms FROM inbox").fetchall()


def _hub_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


async def _run(workdir: Path, rate: float, seconds: float, unit: int) -> dict[str, Any]:
    from vcc_ops.bench.site import bench_province
    from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, free_port
    from vcc_proto.server import check_health
    from vcc_replication.background import BackgroundNats
    from vcc_replication.streams import ensure_province_streams
    from vcc_site.store.sql import SqlSiteStore
    from vcc_site.sync.relay import OutboxRelay

    nats_server = NatsServer(workdir / "nats")
    etcd = EtcdServer(workdir / "etcd")
    nats_server.start()
    etcd.start()
    hub_db = workdir / "hub.db"
    port = free_port()
    hub = ManagedProcess(
        "hub",
        [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "hub",
            "--insecure",  # measured without TLS
            "--province",
            str(bench_province(workdir)),
            "--data-dir",
            str(workdir / "hub-data"),
            "--nats",
            nats_server.url,
            "--etcd",
            etcd.endpoint,
            "--db",
            f"sqlite:///{hub_db}",
            "--grpc-port",
            str(port),
            "--log-file",
            str(workdir / "hub.log"),
            "--log-level",
            "WARNING",
        ],
        workdir / "hub.out",
    )
    store = None
    relay = None
    nats = None
    try:
        hub.start()
        deadline = time.monotonic() + 90
        while not await check_health(f"127.0.0.1:{port}", timeout_s=1.0, pid=hub.pid):
            if not hub.alive or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start: {hub.log_tail()}")
            await asyncio.sleep(0.2)
        store = await SqlSiteStore.open(f"sqlite:///{workdir / 'site.db'}", "KM")
        nats = BackgroundNats(
            [nats_server.url], name="bench-site", on_connected=ensure_province_streams
        )
        nats.start()
        await asyncio.wait_for(nats.ready.wait(), 30)
        relay = OutboxRelay(store, nats, "KM", None)
        await relay.start()
        # warm-up: a few events through the whole path (not measured)
        await _produce(store, 500, 0.2, 50)
        warm = await store.last_seq()
        deadline = time.monotonic() + 60
        while _hub_count(hub_db) < warm:
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not apply the warm-up events")
            await asyncio.sleep(0.1)
        t0 = time.perf_counter()
        produced, took = await _produce(store, rate, seconds, unit)
        expected = warm + produced
        while relay.sent_seq < expected and time.perf_counter() - t0 < 120 + seconds:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        relay_s = time.perf_counter() - t0
        deadline = time.monotonic() + 120 + seconds
        while _hub_count(hub_db) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub applied {_hub_count(hub_db)} of {expected} events")
            await asyncio.sleep(0.1)
        rows = sorted(_hub_rows(hub_db))[warm:]
        lags = sorted(float(applied - at) for at, applied in rows)
        window_ms = max(a for _, a in rows) - min(at for at, _ in rows)
        return {
            "events": len(rows),
            "events_per_s": round(len(rows) / max(window_ms / 1000.0, 1e-3), 1),
            "offered_per_s": round(produced / max(took, 1e-3), 1),
            "published_per_s": round(produced / max(relay_s, 1e-3), 1),
            "lag_p50_ms": _percentile(lags, 0.50),
            "lag_p99_ms": _percentile(lags, 0.99),
            "lag_max_ms": lags[-1] if lags else 0.0,
        }
    finally:
        if relay is not None:
            await relay.stop()
        if nats is not None:
            await nats.stop()
        if store is not None:
            await store.close()
        hub.stop(timeout=20)
        etcd.stop()
        nats_server.stop()


def run_replication_bench(
    rate: float = 5000.0, seconds: float = 10.0, unit: int = 50
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vcc-bench-repl-") as tmp:
        result = asyncio.run(_run(Path(tmp), rate, seconds, unit))
    result.update({"rate": rate, "seconds": seconds, "unit": unit})
    return result


def median_of_runs(runs: int = 3, **kwargs: Any) -> dict[str, Any]:
    results = [run_replication_bench(**kwargs) for _ in range(runs)]
    out = dict(results[0])
    for key in MEDIAN_KEYS:
        out[key] = statistics.median(r[key] for r in results)
    out["events"] = sum(r["events"] for r in results)
    out["runs"] = runs
    out["per_run"] = results
    return out
