"""The in-memory site store keeps the SQL store's semantics; synthetic customers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from vcc_domain.errors import Conflict, Unavailable
from vcc_proto.v1 import events_pb2 as pb
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    Event,
    SessionRecord,
    SiteStore,
    UnitOfWork,
)
from vcc_site.store.customers import phone_for, synthetic_customers
from vcc_site.store.memory import MemorySiteStore

SITE = "KM"


def call(call_id: str, state: str = "queued") -> CallRecord:
    return CallRecord(
        call_id, SITE, SITE, SITE, "19871000001", "10000", "billing", None, "ordinary",
        "ordinary", state, arrival_at_ms=1_000, ivr_path=("1",),
    )  # fmt: skip


def cdr(call_id: str, cdr_id: str | None = None) -> CdrRecord:
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
        ended_at_ms=9_000,
        wait_ms=1_000,
        ring_ms=500,
        talk_ms=7_000,
        hold_ms=0,
        agent_id="a1",
        transferred=False,
        overflowed=False,
    )


def event(n: int | str, at_ms: int = 1_000) -> Event:
    return Event(
        f"evt_{n}",
        "call.queued",
        f"call-{n}",
        pb.CallQueued(call=pb.CallInfo(call_id=f"call-{n}")),
        at_ms,
    )


def test_memory_store_satisfies_the_protocol() -> None:
    store: SiteStore = MemorySiteStore(SITE)
    assert store is not None


async def test_concurrent_commits_get_gap_free_sequences() -> None:
    store = MemorySiteStore(SITE)
    units = [
        UnitOfWork().add(call(f"c{i}")).emit(*(event(f"{i}.{k}") for k in range(1 + i % 2)))
        for i in range(200)
    ]
    results = await asyncio.gather(*(store.commit(u) for u in units))
    total = sum(len(u.events) for u in units)
    assert sorted(s for seqs in results for s in seqs) == list(range(1, total + 1))
    assert [r.seq for r in await store.outbox_after(0, limit=10_000)] == list(range(1, total + 1))
    assert await store.last_seq() == total
    assert await store.commit(UnitOfWork()) == []


async def test_duplicate_cdr_fails_alone_and_writes_nothing() -> None:
    store = MemorySiteStore(SITE)
    await store.commit(UnitOfWork().add(call("c1"), cdr("c1")).emit(event(1)))
    bad = UnitOfWork().add(call("c1", state="ended"), cdr("c1", "other")).emit(event(2))
    good = UnitOfWork().add(call("c2")).emit(event(3))
    results = await asyncio.gather(store.commit(bad), store.commit(good), return_exceptions=True)
    assert isinstance(results[0], Conflict)
    assert results[1] == [2]
    assert await store.call("c1") == call("c1")
    assert [r.event.event_id for r in await store.outbox_after(0)] == ["evt_1", "evt_3"]
    with pytest.raises(Conflict):  # two CDRs of one call inside one unit
        await store.commit(UnitOfWork().add(cdr("c3"), cdr("c3", "again")))
    with pytest.raises(Conflict):  # a repeated event id
        await store.commit(UnitOfWork().emit(event(1)))


async def test_repeats_upserts_and_outbox_housekeeping() -> None:
    store = MemorySiteStore(SITE)
    stretch = AgentStateRecord("a1", "s1", "ready", "", 10, 70, 60)
    note = AuditRecord("au1", 10, "a1", "login", "a1")
    session = SessionRecord("s1", "a1", "desk", 10)
    await store.commit(UnitOfWork().add(stretch, note, session, call("c1")).emit(event(1)))
    for repeated in (stretch, note):
        with pytest.raises(Conflict):
            await store.commit(UnitOfWork().add(repeated))
    await store.commit(UnitOfWork().add(call("c1", state="ended")).emit(event(2, at_ms=500)))
    assert (await store.call("c1")) == call("c1", state="ended")
    assert await store.open_calls() == []
    assert await store.open_sessions() == [session]
    await store.upsert_credentials([CredentialRecord("a1", "h")])
    assert await store.credential("a1") == CredentialRecord("a1", "h")
    await store.mark_sent(1, at_ms=5)
    assert [r.sent_at_ms for r in await store.outbox_after(0)] == [5, 0]
    assert await store.prune_outbox(confirmed_seq=2, keep_after_ms=600) == 1
    assert [r.seq for r in await store.outbox_after(0)] == [1]
    counts = await store.counts()
    assert counts["calls"] == 1 and counts["outbox"] == 1 and counts["audit"] == 1
    await store.close()
    with pytest.raises(Unavailable):
        await store.commit(UnitOfWork().emit(event(9)))


async def test_customer_lookups_and_uniqueness() -> None:
    store = MemorySiteStore(SITE)
    customers = synthetic_customers(SITE, "0871", 20, seed=1)
    await store.seed_customers(customers)
    first = customers[0]
    assert await store.customer_by_phone(first.phone) == first
    assert await store.customer_by_account(first.account_no) == first
    assert await store.customer(first.customer_id) == first
    with pytest.raises(Conflict):
        await store.seed_customers(customers[:1])
    with pytest.raises(Conflict):
        await store.commit(UnitOfWork().add(replace(customers[1], phone=first.phone)))
    await store.commit(UnitOfWork().add(replace(first, pin_failures=1)))
    assert (await store.customer(first.customer_id)) == replace(first, pin_failures=1)


def test_synthetic_customers_are_deterministic_and_unique() -> None:
    a = synthetic_customers(SITE, "0871", 2_000, seed=7)
    assert a == synthetic_customers(SITE, "0871", 2_000, seed=7)
    assert a != synthetic_customers(SITE, "0871", 2_000, seed=8)
    assert [c.tier for c in a[:4]] == ["vip", "blacklist", "high", "middle"]
    assert len({c.phone for c in a}) == len({c.account_no for c in a}) == 2_000
    assert all(len(c.phone) == 11 and c.phone.startswith("1") for c in a)
    assert all(c.pin_hash is None and c.home_site == SITE for c in a)
    assert a[5].customer_id == "KM-C000005" and a[5].phone == phone_for("0871", 5)
    other = synthetic_customers("QJ", "0874", 2_000, seed=7)
    assert not {c.phone for c in a} & {c.phone for c in other}
    assert not {c.account_no for c in a} & {c.account_no for c in other}
    shares = {t: sum(c.tier == t for c in a) / len(a) for t in ("vip", "ordinary", "middle")}
    assert 0.6 < shares["ordinary"] < 0.76 and 0.15 < shares["middle"] < 0.25
    assert 0.005 < shares["vip"] < 0.04
