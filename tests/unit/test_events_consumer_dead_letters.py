"""The hub's consumer isolates an event it cannot apply: the rest of its batch is
applied, the culprit is delivered again up to ``MAX_DELIVERIES`` times, then moved to the
dead letters and counted as seen; a database failure refuses nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

import vcc_hub.adapters.nats_events as consumer_module
from vcc_domain.clock import ManualClock
from vcc_failover.leadership import StaticLeadership
from vcc_hub.adapters.nats_events import EventsConsumer, SiteDirectory
from vcc_hub.store import event_tables as ev
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication import fencing
from vcc_replication.db import make_engine
from vcc_replication.dead_letters import MAX_DELIVERIES
from vcc_replication.events import ContiguousTracker, encode, event, headers


class FakeMsg:
    def __init__(self, data: bytes, hdrs: dict[str, str], delivered: int, stream_seq: int) -> None:
        self.data, self.headers, self.subject = data, hdrs, "vcc.site.KM.events"
        self.metadata = SimpleNamespace(
            num_delivered=delivered, sequence=SimpleNamespace(stream=stream_seq)
        )
        self.acked = self.naked = False

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float | None = None) -> None:
        self.naked = True


class FakeJs:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, data: bytes, **kw: Any) -> None:
        self.published.append((subject, data, kw["headers"]))


def _msg(seq: int, aggregate: str, delivered: int = 1) -> FakeMsg:
    e = event(
        "KM",
        seq,
        f"evt_{seq}",
        "call.queued",
        aggregate,
        1_000 + seq,
        pb.CallQueued(call=pb.CallInfo(call_id=aggregate, state="queued")),
    )
    return FakeMsg(encode(e), headers(e), delivered, 100 + seq)


@pytest.fixture
async def consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    await fencing.migrate(engine)
    await ev.MIGRATIONS.upgrade(engine)
    real = consumer_module.apply_batch

    async def poisoned(conn: Any, token: int, events: list[Any], *args: Any) -> Any:
        if any(e.aggregate_id == "poison" for e in events):
            raise ValueError("a value the hub's tables refuse")
        if any(e.aggregate_id == "db_down" for e in events):
            raise OperationalError("INSERT", {}, Exception("database is gone"))
        return await real(conn, token, events, *args)

    monkeypatch.setattr(consumer_module, "apply_batch", poisoned)
    js = FakeJs()
    c = EventsConsumer(
        engine,
        SimpleNamespace(js=js),
        lambda: StaticLeadership(),  # type: ignore[arg-type]
        ManualClock(),
        SiteDirectory([], {}),
    )
    c.tracker = ContiguousTracker()
    try:
        yield c, js
    finally:
        await engine.dispose()


def _dead(reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "vcc_hub_events_dead_lettered_total", {"site": "KM", "reason": reason}
        )
        or 0.0
    )


async def test_a_bad_event_is_isolated_then_dead_lettered(consumer: Any) -> None:
    c, js = consumer
    before = _dead("apply")
    first = [_msg(1, "call_1"), _msg(2, "poison"), _msg(3, "call_3")]
    await c._apply(first)
    assert [(m.acked, m.naked) for m in first] == [(True, False), (False, True), (True, False)]
    assert c.tracker.contiguous("KM") == 1 and c.tracker.seen("KM", 3)
    for delivery in range(2, MAX_DELIVERIES):  # delivered again: refused again
        again = _msg(2, "poison", delivered=delivery)
        await c._apply([again])
        assert again.naked and not again.acked and not js.published
    last = _msg(2, "poison", delivered=MAX_DELIVERIES)
    await c._apply([last, _msg(4, "call_4")])
    assert last.acked and not last.naked
    [(subject, data, hdrs)] = js.published
    assert subject == "vcc.deadletter.KM" and data == last.data
    assert hdrs["Vcc-Dead-Reason"] == "apply" and hdrs["Vcc-Dead-Deliveries"] == "5"
    assert "refuse" in hdrs["Vcc-Dead-Error"] and hdrs["Vcc-Seq"] == "2"
    assert _dead("apply") == before + 1
    # its sequence counts as seen: the site's sequence is contiguous, no gap to repair
    assert c.tracker.contiguous("KM") == 4 and c.tracker.gaps("KM") == []


async def test_a_database_failure_refuses_nothing(consumer: Any) -> None:
    c, js = consumer
    msgs = [_msg(1, "call_1"), _msg(2, "db_down")]
    with pytest.raises(OperationalError):
        await c._apply(msgs)
    assert not any(m.acked or m.naked for m in msgs) and not js.published


async def test_undecodable_bytes_go_to_the_dead_letters_without_a_sequence(consumer: Any) -> None:
    c, js = consumer
    before = _dead("decode")
    garbage = FakeMsg(b"\x00\x01garbage", {"Vcc-Site": "KM"}, MAX_DELIVERIES, 7)
    await c._apply([garbage])
    assert garbage.acked and js.published[0][0] == "vcc.deadletter.KM"
    assert _dead("decode") == before + 1 and c.tracker.contiguous("KM") == 0
