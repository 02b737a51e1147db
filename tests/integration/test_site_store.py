"""The SQL site store on real databases: SQLite (file) and PostgreSQL (started here).

On a SQLite file the store commits and looks up on the loop thread (``sqlite-direct``,
the default); ``sqlite-engine`` runs the same tests through SQLAlchemy's engine, the
path PostgreSQL and CockroachDB take."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from vcc_domain.errors import ConfigError, Conflict, Unavailable
from vcc_domain.quality import OrderCheck, QaReview
from vcc_domain.recordings import RecordingRow
from vcc_domain.satisfaction import Rating
from vcc_proto.server import free_tcp_port
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.db import make_engine
from vcc_replication.events import body_type
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    Event,
    LegRecord,
    SessionRecord,
    UnitOfWork,
)
from vcc_site.store.customers import synthetic_customers
from vcc_site.store.migrations import current_revision, head_revision, migrate
from vcc_site.store.qa_reads import quality_reads
from vcc_site.store.rec_reads import RecordingQuery, recording_reads
from vcc_site.store.sql import SqlSiteStore
from vcc_site.store.tables import metadata

SITE = "KM"


def call(call_id: str, state: str = "queued", **kw: object) -> CallRecord:
    base = CallRecord(
        call_id=call_id,
        site_id=SITE,
        entry_site=SITE,
        home_site=SITE,
        caller_number="19871000001",
        dialed_code="10000",
        business_id="billing",
        customer_id=None,
        tier="ordinary",
        priority="ordinary",
        state=state,
        arrival_at_ms=1_000,
        ivr_path=("1", "2"),
        attached={"lang": "zh"},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def cdr(call_id: str, cdr_id: str | None = None, ended_at_ms: int = 9_000) -> CdrRecord:
    return CdrRecord(
        cdr_id=cdr_id or f"cdr-{call_id}",
        call_id=call_id,
        site_id=SITE,
        home_site=SITE,
        entry_site=SITE,
        business_id="billing",
        tier="ordinary",
        caller_masked="198****0001",
        outcome="answered",
        arrival_at_ms=1_000,
        answered_at_ms=2_000,
        ended_at_ms=ended_at_ms,
        wait_ms=1_000,
        ring_ms=500,
        talk_ms=7_000,
        hold_ms=0,
        agent_id="a1",
        transferred=False,
        overflowed=False,
        ivr_path=("1",),
    )


def event(n: int | str, kind: str = "call.queued", at_ms: int = 1_000) -> Event:
    info = pb.CallInfo(call_id=f"call-{n}", state=str(n), priority="vip")
    return Event(f"evt_{n}", kind, f"call-{n}", body_type(kind)(call=info), at_ms)


@pytest.fixture(params=["sqlite-direct", "sqlite-engine", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'site.db'}"
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database(f"site_{uuid.uuid4().hex[:12]}")
    return url


@pytest.fixture
async def store(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[SqlSiteStore]:
    engine_only = request.node.callspec.params.get("db_url") == "sqlite-engine"
    s = await SqlSiteStore.open(db_url, SITE, direct_sqlite=not engine_only)
    try:
        yield s
    finally:
        await s.close()


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn)
    return [d for d in compare_metadata(context, metadata) if "alembic_version" not in str(d)]


async def test_migrate_twice_is_a_noop_and_matches_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert await current_revision(engine) is None
        await migrate(engine)
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_unit_writes_rows_and_events_together(store: SqlSiteStore) -> None:
    seqs = await store.commit(UnitOfWork().add(call("c1")).emit(event(1), event(2)))
    assert seqs == [1, 2]
    assert await store.call("c1") == call("c1")
    rows = await store.outbox_after(0)
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].event == event(1)
    assert await store.last_seq() == 2
    assert await store.commit(UnitOfWork()) == []


async def test_concurrent_commits_get_gap_free_sequences(store: SqlSiteStore) -> None:
    units = [
        UnitOfWork().add(call(f"c{i}")).emit(*(event(f"{i}.{k}") for k in range(1 + i % 2)))
        for i in range(200)
    ]
    results = await asyncio.gather(*(store.commit(u) for u in units))
    flat = sorted(s for seqs in results for s in seqs)
    total = sum(len(u.events) for u in units)
    assert flat == list(range(1, total + 1))
    for unit, seqs in zip(units, results, strict=True):
        assert len(seqs) == len(unit.events)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    rows = await store.outbox_after(0, limit=10_000)
    by_seq = {
        s: e
        for u, seqs in zip(units, results, strict=True)
        for s, e in zip(seqs, u.events, strict=True)
    }
    assert [(r.seq, r.event) for r in rows] == sorted(by_seq.items())
    assert (await store.counts())["calls"] == 200


async def test_duplicate_cdr_fails_alone_and_writes_nothing(store: SqlSiteStore) -> None:
    await store.commit(UnitOfWork().add(call("c1"), cdr("c1")).emit(event(1)))
    bad = UnitOfWork().add(call("c1", state="ended"), cdr("c1", "other")).emit(event(2))
    good = UnitOfWork().add(call("c2")).emit(event(3))
    twin = UnitOfWork().add(cdr("c2")).emit(event(4))
    twin_again = UnitOfWork().add(cdr("c2", "cdr-c2-b")).emit(event(5))
    results = await asyncio.gather(
        *(store.commit(u) for u in (bad, good, twin, twin_again)), return_exceptions=True
    )
    assert isinstance(results[0], Conflict)
    assert results[1] == [2] and results[2] == [3]
    assert isinstance(results[3], Conflict)
    assert (await store.call("c1")) == call("c1")  # the bad unit's update was not written
    assert [r.event.event_id for r in await store.outbox_after(0)] == ["evt_1", "evt_3", "evt_4"]
    assert await store.last_seq() == 3
    assert await store.commit(UnitOfWork().emit(event(6))) == [4]
    assert (await store.cdr("c1")) == cdr("c1")


async def test_upsert_updates_a_call(store: SqlSiteStore) -> None:
    await store.commit(UnitOfWork().add(call("c1")))
    ended = call("c1", state="ended", agent_id="a7", notes="备注", ivr_path=("9",))
    await store.commit(UnitOfWork().add(ended))
    assert await store.call("c1") == ended
    assert await store.open_calls() == []
    assert (await store.counts())["calls"] == 1


async def test_outbox_mark_sent_and_prune(store: SqlSiteStore) -> None:
    for i in range(1, 6):
        await store.commit(UnitOfWork().emit(event(i, at_ms=i * 100)))
    await store.mark_sent(3, at_ms=7_000)
    rows = await store.outbox_after(0)
    assert [r.sent_at_ms for r in rows] == [7_000] * 3 + [0, 0]
    assert [r.seq for r in await store.outbox_after(3, limit=1)] == [4]
    assert await store.prune_outbox(confirmed_seq=3, keep_after_ms=250) == 2
    assert [r.seq for r in await store.outbox_after(0)] == [3, 4, 5]
    assert await store.prune_outbox(confirmed_seq=5, keep_after_ms=10_000) == 3
    assert await store.outbox_after(0) == []
    assert await store.last_seq() == 5
    assert await store.commit(UnitOfWork().emit(event(6))) == [6]


async def test_record_sent_stamps_the_round_and_moves_the_cursor_at_once(
    store: SqlSiteStore,
) -> None:
    for i in range(1, 6):
        await store.commit(UnitOfWork().emit(event(i, at_ms=i * 100)))
    await store.record_sent(0, 2, 7_000, "relay.sent_seq")
    await store.record_sent(2, 4, 8_000, "relay.sent_seq")
    await store.record_sent(2, 4, 9_000, "relay.sent_seq")  # a repeat stamps nothing again
    rows = await store.outbox_after(0)
    assert [r.sent_at_ms for r in rows] == [7_000, 7_000, 8_000, 8_000, 0]
    assert await store.meta("relay.sent_seq") == "4"
    with pytest.raises(ValueError):
        await store.record_sent(4, 5, 1, "outbox.last_seq")
    assert await store.commit(UnitOfWork().emit(event(6))) == [6]


async def test_customer_lookups_and_uniqueness(store: SqlSiteStore) -> None:
    customers = synthetic_customers(SITE, "0871", 50, seed=3)
    assert await store.seed_customers(customers) == 50
    first = customers[0]
    assert await store.customer_by_phone(first.phone) == first
    assert await store.customer_by_account(first.account_no) == first
    assert await store.customer(first.customer_id) == first
    assert await store.customer_by_phone("10000000000") is None
    with pytest.raises(Conflict):
        await store.seed_customers(customers[:1])
    updated = replace(first, pin_hash="$argon2id$x", pin_failures=2)
    await store.commit(UnitOfWork().add(updated))
    assert await store.customer(first.customer_id) == updated
    thief = replace(customers[1], phone=first.phone)
    with pytest.raises(Conflict):
        await store.commit(UnitOfWork().add(thief).emit(event("x")))
    assert await store.customer(thief.customer_id) == customers[1]
    assert await store.last_seq() == 0


async def test_agent_records_counts_and_repeats(store: SqlSiteStore) -> None:
    session = SessionRecord("s1", "a1", "desk-1", login_at_ms=10)
    stretch = AgentStateRecord("a1", "s1", "ready", "", 10, 70, 60)
    note = AuditRecord("au1", 10, "a1", "login", "a1")
    leg = LegRecord("l1", "c1", SITE, "a1", "agent", offered_at_ms=20)
    await store.commit(UnitOfWork().add(session, stretch, note, leg).emit(event(1)))
    await store.upsert_credentials([CredentialRecord("a1", "$argon2id$h")])
    await store.upsert_credentials([CredentialRecord("a1", "$argon2id$h", failures=2)])
    assert await store.open_sessions() == [session]
    assert await store.state_history("a1") == [stretch]
    assert await store.audit("a1") == [note]
    assert await store.legs("c1") == [leg]
    assert await store.credential("a1") == CredentialRecord("a1", "$argon2id$h", failures=2)
    for repeated in (stretch, note):
        with pytest.raises(Conflict):
            await store.commit(UnitOfWork().add(repeated).emit(event("r")))
    await store.commit(UnitOfWork().add(replace(session, logout_at_ms=99)))
    assert await store.open_sessions() == []
    await store.commit(UnitOfWork().add(cdr("c1"), cdr("c2", ended_at_ms=20_000)))
    assert [c.call_id for c in await store.cdrs()] == ["c1", "c2"]
    assert [c.call_id for c in await store.cdrs(after_ended_at_ms=9_000)] == ["c2"]
    assert await store.counts() == {
        "customers": 0,
        "calls": 0,
        "legs": 1,
        "cdrs": 2,
        "agent_sessions": 1,
        "agent_state_history": 1,
        "credentials": 1,
        "audit": 1,
        "outbox": 1,
    }


async def test_data_survives_reopening(db_url: str) -> None:
    first = await SqlSiteStore.open(db_url, SITE)
    await first.commit(UnitOfWork().add(call("c1")).emit(event(1), event(2)))
    await first.close()
    again = await SqlSiteStore.open(db_url, SITE)
    try:
        assert await again.call("c1") == call("c1")
        assert await again.last_seq() == 2
        assert await again.commit(UnitOfWork().emit(event(3))) == [3]
    finally:
        await again.close()
    with pytest.raises(ConfigError):
        await SqlSiteStore.open(db_url, "QJ")


async def test_close_drains_pending_commits(store: SqlSiteStore) -> None:
    tasks = [asyncio.create_task(store.commit(UnitOfWork().emit(event(i)))) for i in range(50)]
    await asyncio.sleep(0)
    await store.close()
    assert sorted(s for t in tasks for s in t.result()) == list(range(1, 51))


async def test_two_writers_on_one_database_stay_gap_free(db_url: str) -> None:
    a = await SqlSiteStore.open(db_url, SITE)
    b = await SqlSiteStore.open(db_url, SITE, migrate=False)
    try:
        units = [(a if i % 2 else b, UnitOfWork().emit(event(i))) for i in range(60)]
        results = await asyncio.gather(*(s.commit(u) for s, u in units))
        assert sorted(s for seqs in results for s in seqs) == list(range(1, 61))
    finally:
        await a.close()
        await b.close()


async def test_sqlite_batch_waits_for_a_write_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """Another connection holds SQLite's write lock: the commit waits (the loop keeps
    running), then lands once the lock is released; nothing is lost or doubled."""
    path = tmp_path / "site.db"
    store = await SqlSiteStore.open(f"sqlite:///{path}", SITE)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        assert store._direct is not None
        await store.commit(UnitOfWork().add(call("c0")).emit(event(0)))
        other.execute("BEGIN IMMEDIATE")
        pending = asyncio.create_task(store.commit(UnitOfWork().add(call("c1")).emit(event(1))))
        async with asyncio.timeout(30):
            while store._direct.busy_retries < 3:  # noqa: ASYNC110 - polls a counter
                await asyncio.sleep(0.01)
        assert not pending.done()
        other.execute("ROLLBACK")
        assert await asyncio.wait_for(pending, 30) == [2]
        assert await store.call("c1") == call("c1")
        assert [r.seq for r in await store.outbox_after(0)] == [1, 2]
    finally:
        other.close()
        await store.close()


async def test_a_database_that_refuses_connections_is_unavailable_for_reads() -> None:
    """Nothing listens on the port: a lookup fails at once with Unavailable (gRPC
    UNAVAILABLE, so the access edge offers the call to another site), not INTERNAL."""
    port = free_tcp_port()
    store = SqlSiteStore(make_engine(f"postgresql://vcc@127.0.0.1:{port}/site"), SITE)
    try:
        with pytest.raises(Unavailable, match="unreachable"):
            await asyncio.wait_for(store.customer_by_phone("087160001234"), 30)
        with pytest.raises(Unavailable):
            await asyncio.wait_for(store.call("call_01JD5Z8X9Q2W3E4R5T6Y7U8I9O"), 30)
    finally:
        await store.close()
        await store.engine.dispose()


LEGACY_OUTBOX = [  # (kind, JSON payload) as sites wrote them before events were protobuf
    (
        "call.answered",
        {
            "call_id": "call-1",
            "site_id": "KM",
            "state": "connected",
            "business_id": "billing",
            "tier": "vip",
            "priority": "vip",
            "agent_id": "KM-0001",
            "answered_at_ms": 1_700_000_000.25,
        },
    ),
    (
        "cdr.created",
        {
            "call_id": "call-1",
            "site_id": "KM",
            "state": "ended",
            "tier": "vip",
            "cdr": {
                "cdr_id": "cdr-1",
                "call_id": "call-1",
                "site_id": "KM",
                "talk_ms": 7_000,
                "transferred": True,
                "ivr_path": ["1", "2"],
            },
            "legs": [{"leg_id": "leg-1", "serving_site": "KM", "offered_at_ms": 5}],
        },
    ),
    (
        "work_order.created",
        {
            "order": {
                "order_id": "wo-1",
                "owner_site": "KM",
                "version": 2,
                "fields": {"address": "x"},
            },
            "action": "created",
            "actor": "KM-0001",
        },
    ),
    (
        "customer.updated",
        {
            "customer_id": "KM-C1",
            "action": "pin_set",
            "pin_failures": 1,
            "customer": {"customer_id": "KM-C1", "balance_fen": -5, "pin_set": True},
        },
    ),
]


def _to_0003(connection: Connection) -> None:
    from alembic import command

    from vcc_site.store.migrations import alembic_config

    command.upgrade(alembic_config(connection), "0003")


async def test_migration_turns_json_outbox_rows_into_protobuf(db_url: str) -> None:
    import json

    from sqlalchemy import text

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_to_0003)
            for seq, (kind, payload) in enumerate(LEGACY_OUTBOX, start=1):
                await conn.execute(
                    text(
                        "INSERT INTO outbox (seq, event_id, kind, aggregate_id, payload, at_ms, "
                        "sent_at_ms) VALUES (:seq, :id, :kind, 'agg', :payload, 9, 0)"
                    ),
                    {"seq": seq, "id": f"evt_{seq}", "kind": kind, "payload": json.dumps(payload)},
                )
        await migrate(engine)
    finally:
        await engine.dispose()
    store = await SqlSiteStore.open(db_url, SITE)
    try:
        rows = await store.outbox_after(0)
    finally:
        await store.close()
    assert [r.event.kind for r in rows] == [k for k, _ in LEGACY_OUTBOX]
    answered, created, order, customer = (r.event.body for r in rows)
    assert isinstance(answered, pb.CallAnswered) and answered.call.agent_id == "KM-0001"
    assert answered.call.state == "connected" and answered.answered_at_ms == 1_700_000_000_250
    assert isinstance(created, pb.CdrCreated) and created.call.state == "ended"
    assert created.cdr.talk_ms == 7_000 and list(created.cdr.ivr_path) == ["1", "2"]
    assert created.legs[0].serving_site == "KM"
    assert isinstance(order, pb.WorkOrderChanged) and order.order.version == 2
    assert dict(order.order.fields) == {"address": "x"} and order.actor == "KM-0001"
    assert isinstance(customer, pb.CustomerUpdated) and customer.customer.balance_fen == -5
    assert rows[0].data and rows[0].event.event_id == "evt_1"


async def test_quality_rows_round_trip(store: SqlSiteStore) -> None:
    """Inspection reviews (points as JSON), work-order checks and ratings (one per call)."""
    review = QaReview(
        "qa-1", SITE, "2026-12", "call-1", "A1", "general", "sample", 5, state="scored",
        inspector="QA1", points={"greeting": 10, "accuracy": 35}, score_bp=9000,
    )  # fmt: skip
    check = OrderCheck(
        "wo_1", SITE, "2026-12", "A1", "general", "inquiry", True, True, False, "QA1", 7
    )
    rating = Rating("call-1", SITE, "A1", "general", 4, 9, "2026-12")
    await store.commit(UnitOfWork().add(review, check, rating))
    reads = quality_reads(store)
    assert await reads.review("qa-1") == review
    assert await reads.reviews("2026-12", "A1", "scored") == [review]
    assert await reads.reviews("2026-11") == []
    assert await reads.checks("2026-12") == [check]
    assert await reads.ratings("2026-12") == [rating]
    with pytest.raises(Conflict):
        await store.commit(UnitOfWork().add(replace(rating, score=1)))
    assert await reads.rating("call-1") == rating
    wraps = [
        AgentStateRecord("A1", "s1", "wrap_up", "", at, at + 20_000, 20_000) for at in (10, 99)
    ]
    await store.commit(UnitOfWork().add(*wraps, replace(wraps[0], state="busy")))
    assert await reads.wrap_ups(0, 99) == [wraps[0]]  # the month's after-call work
    assert await reads.callback_orders(0, 10**13) == []


async def test_recording_rows_round_trip(store: SqlSiteStore) -> None:
    """Recordings (legs and agents as JSON) read by call, by filter (an agent matched
    exactly, newest first) and for the sweep (not swept, oldest first)."""
    rows = [
        RecordingRow(
            f"rec_{n}", SITE, f"call-{n}", f"sip-{n}@h", ("caller",), agents, "general",
            1000 * n, 1000 * n + 500, 500, f"d/rec_{n}.pcap", 10, "0" * 64, 1000 * n + 600,
        )
        for n, agents in ((1, ("A1",)), (2, ("A1_2",)), (3, ("A1", "B%")))
    ]  # fmt: skip
    await store.commit(UnitOfWork().add(*rows))
    reads = recording_reads(store)
    assert await reads.recording("rec_2") == rows[1]
    assert await reads.of_call("call-3") == [rows[2]]
    assert await reads.recordings(RecordingQuery(agent_id="A1")) == [rows[2], rows[0]]
    assert await reads.recordings(RecordingQuery(agent_id="B%")) == [rows[2]]
    assert await reads.recordings(RecordingQuery(start_ms=2000, end_ms=3000)) == [rows[1]]
    swept = replace(rows[0], swept_at_ms=9)
    await store.commit(UnitOfWork().add(swept))
    assert await reads.unswept_before(3001, 10) == [rows[1], rows[2]]
    assert await reads.recordings(RecordingQuery(agent_id="A1")) == [rows[2]]
    found = await reads.recordings(RecordingQuery(agent_id="A1", include_swept=True, limit=1))
    assert found == [rows[2]]
