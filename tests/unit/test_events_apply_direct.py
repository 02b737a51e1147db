"""The hub's ingest on the loop thread's SQLite connection writes exactly what the engine
path writes: the same copies from the same batches, a replay changes nothing, a stale
fencing token is refused and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from vcc_domain.errors import Fenced
from vcc_hub.adapters.events_apply import apply_batch, apply_batch_direct
from vcc_hub.store import event_tables as ev
from vcc_hub.store.workorders import work_orders
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import site_pb2 as s
from vcc_replication import fencing
from vcc_replication.db import make_engine, run_transaction
from vcc_replication.events import ContiguousTracker, SiteEvent, event
from vcc_replication.sqlite_direct import SqliteDirect

TABLES = [ev.inbox, ev.site_progress, ev.cdrs, ev.calls, ev.agent_states, ev.customers, ev.ratings]


def _call(site: str, seq: int, kind: str, call_id: str, state: str) -> SiteEvent:
    body = getattr(pb, "Call" + kind.split(".")[1].title().replace("_", ""))
    info = pb.CallInfo(call_id=call_id, state=state, business_id="bill", tier="gold")
    return event(site, seq, f"{site}_{seq}", kind, call_id, 1_000 + seq, body(call=info))


def _batches() -> list[list[SiteEvent]]:
    cdr = pb.Cdr(cdr_id="cdr_1", call_id="c1", site_id="KM", outcome="answered", talk_ms=9)
    cdr.ivr_path.extend(["1", "2"])
    profile = pb.CustomerProfile(customer_id="cu_1", phone="138", name="王", balance_fen=150)
    newer = pb.CustomerProfile(customer_id="cu_1", phone="138", name="王", balance_fen=99)
    order = s.WorkOrder(order_id="wo_1", owner_site="KM", origin_site="KM", version=2)
    old_order = s.WorkOrder(order_id="wo_1", owner_site="KM", origin_site="KM", version=1)
    first = [
        _call("KM", 1, "call.queued", "c1", "queued"),
        _call("KM", 2, "call.answered", "c1", "talking"),
        event("KM", 3, "KM_3", "cdr.created", "c1", 1_003, pb.CdrCreated(cdr=cdr)),
        event("KM", 4, "KM_4", "agent.state", "a1", 1_004, pb.AgentStateChanged(state="ready")),
        event(
            "KM", 5, "KM_5", "customer.updated", "cu_1", 1_005, pb.CustomerUpdated(customer=profile)
        ),
        event(
            "KM", 7, "KM_7", "work_order.answer", "wo_1", 1_007, pb.WorkOrderChanged(order=order)
        ),
        _call("DL", 1, "call.queued", "d1", "queued"),
        event(
            "DL", 2, "DL_2", "rating.created", "d1", 1_002, pb.RatingCreated(call_id="d1", score=5)
        ),
        _call("KM", 2, "call.answered", "c1", "talking"),  # repeated within the batch
    ]
    second = [
        *first[:3],  # a replay
        event(
            "KM",
            6,
            "KM_6",
            "work_order.created",
            "wo_1",
            1_006,
            pb.WorkOrderChanged(order=old_order),
        ),
        event(
            "KM", 8, "KM_8", "customer.updated", "cu_1", 1_008, pb.CustomerUpdated(customer=newer)
        ),
        _call("DL", 3, "call.ended", "d1", "ended"),
        event(
            "DL", 4, "DL_4", "rating.created", "d9", 1_004, pb.RatingCreated(call_id="d9", score=9)
        ),
    ]
    return [first, second]


async def _dump(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        out = {}
        for table in [*TABLES, work_orders]:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted(tuple(r) for r in rows)
        return out


async def _migrated(path: Path) -> Any:
    engine = make_engine(f"sqlite:///{path}")
    await fencing.migrate(engine)
    await ev.MIGRATIONS.upgrade(engine)
    return engine


async def test_the_direct_path_writes_what_the_engine_writes(tmp_path: Path) -> None:
    via_engine = await _migrated(tmp_path / "engine.db")
    via_loop = await _migrated(tmp_path / "direct.db")
    db = SqliteDirect(str(tmp_path / "direct.db"))
    t_engine, t_loop = ContiguousTracker(), ContiguousTracker()
    try:
        for batch in _batches():
            a = await run_transaction(
                via_engine, lambda conn, b=batch: apply_batch(conn, 1, b, t_engine, 5)
            )
            b = await db.transact(lambda conn, b=batch: apply_batch_direct(conn, 1, b, t_loop, 5))
            assert [e.event_id for e in a] == [e.event_id for e in b]
            for e in b:
                t_engine.observe(e.site, e.seq, 0.0)
                t_loop.observe(e.site, e.seq, 0.0)
        assert len(a) == 4  # the replay and the repeat were dropped
        dumped = await _dump(via_loop)
        assert dumped == await _dump(via_engine)
        assert len(dumped["inbox"]) == 12 and len(dumped["cdrs"]) == 1
        assert [(r[0], r[1], r[4]) for r in dumped["ratings"]] == [("DL", "d1", 5)]  # not 9
        calls = {r[1]: r[2] for r in dumped["calls"]}
        assert calls == {"c1": "talking", "d1": "ended"}
        assert [r[-1] for r in dumped["customers"]] == [8]  # the newer profile
        assert [r[11] for r in dumped["work_orders"]] == [2]  # the higher version
        progress = {r[0]: r[1] for r in dumped["site_progress"]}
        assert progress == {"KM": 8, "DL": 4}
        # the same batch again: nothing new, nothing changed
        again = ContiguousTracker()
        assert await db.transact(lambda c: apply_batch_direct(c, 1, _batches()[0], again, 9)) == []
        assert await _dump(via_loop) == dumped
    finally:
        await db.close()
        await via_engine.dispose()
        await via_loop.dispose()


async def test_a_stale_token_is_refused_on_the_direct_path(tmp_path: Path) -> None:
    engine = await _migrated(tmp_path / "hub.db")
    db = SqliteDirect(str(tmp_path / "hub.db"))
    tracker = ContiguousTracker()
    try:
        await db.transact(lambda c: apply_batch_direct(c, 7, [], tracker, 0))
        with pytest.raises(Fenced):
            await db.transact(lambda c: apply_batch_direct(c, 6, _batches()[0], tracker, 0))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == 0
            assert await fencing.current_fence(conn) == 7
    finally:
        await db.close()
        await engine.dispose()
