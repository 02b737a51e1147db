"""A NATS connection that nats-py closes for good (as after a protocol error) is replaced:
the health gauge drops, a new client connects, and the hub's event ingest subscribes again
and applies what sites publish after it, each event once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY

from tests.integration._helpers.site import until
from vcc_domain.clock import ManualClock
from vcc_failover.leadership import StaticLeadership
from vcc_hub.adapters.nats_events import EventsConsumer, SiteDirectory
from vcc_hub.store import event_tables as ev
from vcc_ops.infra.nats import NatsServer
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication import fencing
from vcc_replication.background import BackgroundNats
from vcc_replication.db import make_engine
from vcc_replication.events import encode, event, headers
from vcc_replication.sqlite_direct import SqliteDirect
from vcc_replication.streams import ensure_province_streams, site_events_subject

NAME = "watchdog-test"


async def _until(what: Callable[[], bool], description: str) -> None:
    async def check() -> bool:
        return what()

    await until(check, description, timeout_s=60.0)


def _up() -> float | None:
    return REGISTRY.get_sample_value("vcc_nats_connected", {"name": NAME})


def _applied(consumer: EventsConsumer) -> int:
    return 0 if consumer.tracker is None else consumer.tracker.contiguous("KM")


async def _publish(nats: BackgroundNats, seq: int) -> None:
    info = pb.CallInfo(call_id=f"c{seq}", state="queued")
    e = event(
        "KM", seq, f"evt_{seq}", "call.queued", f"c{seq}", 1_000 + seq, pb.CallQueued(call=info)
    )
    await nats.js.publish(site_events_subject("KM"), encode(e), headers=headers(e))


async def test_a_closed_connection_is_replaced_and_ingest_resumes(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    await fencing.migrate(engine)
    await ev.MIGRATIONS.upgrade(engine)
    nats = BackgroundNats([nats_server.url], name=NAME, on_connected=ensure_province_streams)
    nats.start()
    consumer = EventsConsumer(
        engine,
        nats,
        lambda: StaticLeadership(),
        ManualClock(),
        SiteDirectory([], {}),
        direct=SqliteDirect(str(tmp_path / "hub.db")),
    )
    consumer.start()
    try:
        await asyncio.wait_for(nats.ready.wait(), 60)
        assert nats.generation == 1 and _up() == 1.0
        await _publish(nats, 1)
        await _until(lambda: _applied(consumer) == 1, "event 1 applied")

        first = nats.client
        assert first is not None
        await first.close()  # what nats-py does after a protocol error: closed for good
        assert not nats.connected
        await _until(lambda: nats.generation == 2 and nats.ready.is_set(), "a new connection")
        assert nats.client is not first and nats.connected and _up() == 1.0

        await _publish(nats, 2)
        await _publish(nats, 3)
        await _until(lambda: _applied(consumer) == 3, "events 2 and 3 applied")
        async with engine.connect() as conn:
            rows = (await conn.execute(ev.inbox.select())).all()
        assert sorted(r.seq for r in rows) == [1, 2, 3]
    finally:
        await consumer.stop()
        await nats.stop()
        await engine.dispose()
    assert _up() == 0.0
