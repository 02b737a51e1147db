"""The site store on SQLAlchemy (SQLite, PostgreSQL, CockroachDB) with group commit.

``commit`` queues the unit of work; one writer task takes everything pending (up to
``max_batch`` units), writes it in ONE transaction and resolves each caller with its
events' sequences once the transaction is durable. Rows are upserted by primary key
(``INSERT .. ON CONFLICT DO UPDATE``); CDRs, agent-state stretches and audit rows are
plain inserts, so a repeat fails. When a batch hits an integrity error, it is written
again one unit at a time: the offending unit fails with ``Conflict`` and writes nothing,
the others commit.

The outbox sequence is gap-free: numbers are assigned only inside the committing
transaction, from the ``site_meta`` row ``outbox.last_seq``, which the transaction moves
forward with a compare-and-set (``UPDATE .. WHERE value = <expected>``). The writer keeps
the last committed value in memory and advances it only after a commit succeeds; after
any failure it reads it back from the database. So a second writer on the same database
can never create a duplicate or a hole, it only forces a re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from vcc_domain.errors import ConfigError, Conflict, Unavailable
from vcc_replication.db import READ_CONCURRENCY, connect, make_engine, run_transaction
from vcc_site.store import sqlite_direct as direct
from vcc_site.store import tables as t
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    CustomerRecord,
    Event,
    LegRecord,
    OutboxRow,
    Row,
    SessionRecord,
    UnitOfWork,
)
from vcc_site.store.migrations import migrate as migrate_schema

log = logging.getLogger(__name__)
R = TypeVar("R")
SEQ_RACE_ATTEMPTS = 5


@dataclass(slots=True)
class _Pending:
    rows: tuple[Row, ...]
    events: tuple[Event, ...]
    future: asyncio.Future[list[int]]


PHONE_CACHE_MAX = 200_000


class _SeqMoved(Exception):
    """Someone else advanced ``outbox.last_seq``: re-read it and write again."""


class SqlSiteStore:
    """:class:`~vcc_site.store.api.SiteStore` on an async SQLAlchemy engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        site_id: str,
        *,
        max_batch: int = 256,
        owns_engine: bool = False,
        direct_sqlite: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.site_id = site_id
        self._max_batch = max_batch
        self._owns_engine = owns_engine
        # on a SQLite file, batches and lookups run on the loop thread (.sqlite_direct)
        path = direct.sqlite_file(engine) if direct_sqlite else None
        self._direct = direct.SqliteDirect(path) if path else None
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._last_seq: int | None = None  # last committed sequence; None = ask the DB
        self._upserts: dict[str, str] = {}  # table -> compiled upsert SQL
        self.on_commit: list[Callable[[], None]] = []  # called after each durable commit
        # caller number -> customer (or None): every call looks its caller up, customers
        # change rarely; any committed customer write clears it
        self._by_phone: dict[str, CustomerRecord | None] = {}
        # lookups hold a pooled connection each; bounded so they wait for one instead of
        # opening (and closing) connections beyond the pool
        self._reads = asyncio.Semaphore(READ_CONCURRENCY)
        self._lookups: dict[tuple[str, str], Executable] = {}  # (table, column) -> SELECT

    @classmethod
    async def open(
        cls, url: str, site_id: str, *, max_batch: int = 256, migrate: bool = True,
        direct_sqlite: bool = True,
    ) -> SqlSiteStore:
        """A store on a new engine for ``url`` (disposed by :meth:`close`)."""
        store = cls(make_engine(url), site_id, max_batch=max_batch, owns_engine=True,
                    direct_sqlite=direct_sqlite)
        if migrate:
            await store.migrate()
        return store

    # -- schema ---------------------------------------------------------------------

    async def migrate(self) -> None:
        """Upgrade the schema to head and claim the database for this site."""
        await migrate_schema(self.engine)
        owner = await self.meta(t.SITE_ID_KEY)
        if owner is None:
            await self.set_meta(t.SITE_ID_KEY, self.site_id)
        elif owner != self.site_id:
            raise ConfigError(
                f"database belongs to site {owner!r}, not {self.site_id!r}", field="site_id"
            )

    # -- group commit ---------------------------------------------------------------

    async def commit(self, uow: UnitOfWork) -> list[int]:
        if self._closed:
            raise Unavailable("the site store is closed")
        if not uow:
            return []
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(tuple(uow.rows), tuple(uow.events), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run_writer(), name="site-store-writer")
        return await future

    async def close(self) -> None:
        """Finish every unit already submitted, stop the writer, dispose an owned engine."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None and not self._writer.done():
            self._queue.put_nowait(None)
            await self._writer
        if self._direct is not None:
            await self._direct.close()
        if self._owns_engine:
            await self.engine.dispose()

    async def _run_writer(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._write_batch(batch)
            if stop:
                return

    async def _write_batch(self, batch: list[_Pending]) -> None:
        """Commit the batch; never raises (failures go to the callers' futures)."""
        try:
            results = await self._transact(batch)
        except (OperationalError, InterfaceError) as exc:
            # the database, not a unit's data: every unit fails alike (isolating them
            # would wait for an unreachable database once per unit)
            error = _unreachable(exc)
            for pending in batch:
                _fail(pending, error)
            return
        except DBAPIError as exc:
            if len(batch) > 1:  # isolate the unit(s) at fault, commit the rest
                for pending in batch:
                    await self._write_batch([pending])
                return
            _fail(batch[0], _conflict(exc) if isinstance(exc, IntegrityError) else exc)
            return
        except Exception as exc:
            log.exception("site store: a batch of %d units failed", len(batch))
            for pending in batch:
                _fail(pending, exc)
            return
        if any(isinstance(row, CustomerRecord) for pending in batch for row in pending.rows):
            self._by_phone.clear()
        for pending, seqs in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(seqs)
        for hook in self.on_commit:
            try:
                hook()
            except Exception:
                log.exception("site store: an on_commit hook failed")

    async def _transact(self, batch: list[_Pending]) -> list[list[int]]:
        for _ in range(SEQ_RACE_ATTEMPTS):
            try:
                if self._direct is not None:
                    results, last = await self._direct.transact(
                        lambda conn: self._write_direct(conn, batch))
                else:
                    results, last = await run_transaction(
                        self.engine, lambda conn: self._write(conn, batch)
                    )
            except _SeqMoved:
                self._last_seq = None
                continue
            except BaseException:
                self._last_seq = None
                raise
            self._last_seq = last
            return results
        raise Unavailable("the outbox sequence keeps moving: another writer on this database?")

    async def _write(
        self, conn: AsyncConnection, batch: list[_Pending]
    ) -> tuple[list[list[int]], int]:
        expected = self._last_seq
        if expected is None:
            expected = await _read_last_seq(conn)
        results, outbox_rows, seq = _numbered(batch, expected)
        if outbox_rows:  # take the sequence first: a racing writer fails here, not later
            moved = await conn.execute(
                update(t.site_meta)
                .where(t.site_meta.c.key == t.LAST_SEQ_KEY)
                .where(t.site_meta.c.value == str(expected))
                .values(value=str(seq))
            )
            if moved.rowcount != 1:
                raise _SeqMoved()
        upserts, inserts = _grouped(batch)
        for kind, values in upserts.items():
            spec = t.SPECS[kind]
            await conn.execute(self._upsert(spec.table, spec.key), values)
        for kind, values in inserts.items():
            await conn.execute(insert(t.SPECS[kind].table), values)
        if outbox_rows:
            await conn.execute(insert(t.outbox), outbox_rows)
        return results, seq

    def _write_direct(
        self, conn: sqlite3.Connection, batch: list[_Pending]
    ) -> tuple[list[list[int]], int]:
        """:meth:`_write` on a SQLite file, on the loop thread (see :mod:`.sqlite_direct`)."""
        assert self._direct is not None
        expected = self._last_seq
        if expected is None:
            found = conn.execute("SELECT value FROM site_meta WHERE key = ?",
                                 (t.LAST_SEQ_KEY,)).fetchone()
            if found is None:
                raise ConfigError("site_meta has no outbox.last_seq: run migrate() first")
            expected = int(found[0])
        results, outbox_rows, seq = _numbered(batch, expected)
        if outbox_rows:
            moved = direct.execute(conn, _MOVE_SEQ_SQL, {"key": t.LAST_SEQ_KEY,
                                                         "old": str(expected), "new": str(seq)})
            if moved != 1:
                raise _SeqMoved()
        upserts, inserts = _grouped(batch)
        for kind, values in upserts.items():
            spec = t.SPECS[kind]
            direct.execute_many(conn, self._upsert_sql(spec.table, spec.key), values)
        for kind, values in inserts.items():
            sql = self._direct.insert_sql(t.SPECS[kind].table, list(values[0]))
            direct.execute_many(conn, sql, values)
        if outbox_rows:
            sql = self._direct.insert_sql(t.outbox, list(outbox_rows[0]))
            direct.execute_many(conn, sql, outbox_rows)
        return results, seq

    def _upsert(self, table: Table, key: Sequence[str]) -> Executable:
        return text(self._upsert_sql(table, key))

    def _upsert_sql(self, table: Table, key: Sequence[str]) -> str:
        sql = self._upserts.get(table.name)
        if sql is None:
            dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
            ins = dialect.insert(table)
            upsert = ins.on_conflict_do_update(
                index_elements=list(key),
                set_={c.name: ins.excluded[c.name] for c in table.c if c.name not in key},
            )
            # Dialect upserts are not cacheable by SQLAlchemy and would be compiled again
            # on every commit (about a third of a commit's CPU): compile once, with named
            # parameters, into plain SQL text, which is cached like any other statement.
            sql = str(upsert.compile(dialect=dialect.dialect(paramstyle="named")))
            self._upserts[table.name] = sql
        return sql

    async def _exec(self, stmt: Executable, params: list[dict[str, Any]] | None = None) -> int:
        """Run one write statement in its own (retried) transaction; rows affected."""

        async def work(conn: AsyncConnection) -> int:
            return (await conn.execute(stmt, params)).rowcount

        return await run_transaction(self.engine, work)

    # -- direct writes (outside the event sequence) ---------------------------------

    async def seed_customers(self, records: Sequence[CustomerRecord]) -> int:
        """Insert customers in one transaction (demos, tests); a repeat is a Conflict."""
        self._by_phone.clear()
        try:
            return await self._insert_many(CustomerRecord, records, upsert=False)
        finally:
            self._by_phone.clear()

    async def upsert_credentials(self, records: Sequence[CredentialRecord]) -> int:
        """Create or replace agents' password records (from the directory)."""
        return await self._insert_many(CredentialRecord, records, upsert=True)

    async def _insert_many(self, kind: type[Any], records: Sequence[Row], *, upsert: bool) -> int:
        if not records:
            return 0
        spec = t.SPECS[kind]
        stmt = self._upsert(spec.table, spec.key) if upsert else insert(spec.table)
        try:
            await self._exec(stmt, [t.to_row(record) for record in records])
        except IntegrityError as exc:
            raise _conflict(exc) from exc
        return len(records)

    async def meta(self, key: str) -> str | None:
        """A value of the site's key/value table (``None`` if unset)."""
        stmt = select(t.site_meta.c.value).where(t.site_meta.c.key == key)
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar_one_or_none()

    async def set_meta(self, key: str, value: str) -> None:
        """Set a key of the site's key/value table (not the outbox sequence)."""
        if key == t.LAST_SEQ_KEY:
            raise ValueError("the outbox sequence is only moved by commit()")
        await self._exec(self._upsert(t.site_meta, ["key"]), [{"key": key, "value": value}])

    async def set_metas(self, values: dict[str, str]) -> None:
        """Set several keys of the site's key/value table in ONE transaction."""
        if t.LAST_SEQ_KEY in values:
            raise ValueError("the outbox sequence is only moved by commit()")
        if values:
            await self._exec(self._upsert(t.site_meta, ["key"]),
                             [{"key": k, "value": v} for k, v in values.items()])

    # -- reads ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection for a read; a database that refuses connections is
        ``Unavailable`` at once (the access edge then offers the call to another site)."""
        async with self._reads:
            try:
                conn = await connect(self.engine, wait_s=0)
            except (OperationalError, InterfaceError) as exc:
                raise _unreachable(exc) from exc
            try:
                yield conn
            finally:
                await conn.close()

    async def _one(self, kind: type[R], stmt: Executable,
                   params: dict[str, Any] | None = None) -> R | None:
        async with self._reading() as conn:
            row = (await conn.execute(stmt, params)).first()
        return None if row is None else t.from_row(kind, row)

    async def _all(self, kind: type[R], stmt: Executable) -> list[R]:
        async with self._reading() as conn:
            rows = (await conn.execute(stmt)).all()
        return [t.from_row(kind, row) for row in rows]

    async def _by(self, kind: type[R], column: str, value: str) -> R | None:
        """The row of ``kind`` whose ``column`` is ``value``; the SELECT is built once per
        (table, column) with a bound parameter, so SQLAlchemy reuses its compiled form."""
        table = t.SPECS[kind].table
        if self._direct is not None:
            try:
                found = self._direct.lookup(table, column, value)
            except direct.Busy:
                pass  # locked right now: through the engine, which waits
            else:
                return None if found is None else t.from_row(kind, found)
        stmt = self._lookups.get((table.name, column))
        if stmt is None:
            stmt = select(table).where(table.c[column] == bindparam("value"))
            self._lookups[(table.name, column)] = stmt
        return await self._one(kind, stmt, {"value": value})

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        if phone in self._by_phone:
            return self._by_phone[phone]
        found = await self._by(CustomerRecord, "phone", phone)
        if len(self._by_phone) >= PHONE_CACHE_MAX:
            self._by_phone.clear()
        self._by_phone[phone] = found
        return found

    async def customer_by_account(self, account_no: str) -> CustomerRecord | None:
        return await self._by(CustomerRecord, "account_no", account_no)

    async def customer(self, customer_id: str) -> CustomerRecord | None:
        return await self._by(CustomerRecord, "customer_id", customer_id)

    async def customers_page(self, after_id: str = "", limit: int = 500) -> list[CustomerRecord]:
        """Customers in ID order after ``after_id`` (publishing every profile once)."""
        c = t.customers.c
        stmt = select(t.customers).where(c.customer_id > after_id).order_by(c.customer_id)
        return await self._all(CustomerRecord, stmt.limit(limit))

    async def credential(self, agent_id: str) -> CredentialRecord | None:
        return await self._by(CredentialRecord, "agent_id", agent_id)

    async def call(self, call_id: str) -> CallRecord | None:
        return await self._by(CallRecord, "call_id", call_id)

    async def open_calls(self) -> list[CallRecord]:
        c = t.calls.c
        stmt = select(t.calls).where(c.state != "ended").order_by(c.arrival_at_ms, c.call_id)
        return await self._all(CallRecord, stmt)

    async def open_sessions(self) -> list[SessionRecord]:
        c = t.agent_sessions.c
        stmt = (
            select(t.agent_sessions)
            .where(c.logout_at_ms == 0)
            .order_by(c.login_at_ms, c.session_id)
        )
        return await self._all(SessionRecord, stmt)

    async def legs(self, call_id: str) -> list[LegRecord]:
        """The legs of a call, oldest first (screen pop, transfers)."""
        c = t.legs.c
        stmt = select(t.legs).where(c.call_id == call_id).order_by(c.offered_at_ms, c.leg_id)
        return await self._all(LegRecord, stmt)

    async def cdr(self, call_id: str) -> CdrRecord | None:
        return await self._by(CdrRecord, "call_id", call_id)

    async def cdrs(self, limit: int = 1000, after_ended_at_ms: int = 0) -> list[CdrRecord]:
        c = t.cdrs.c
        stmt = (
            select(t.cdrs)
            .where(c.ended_at_ms > after_ended_at_ms)
            .order_by(c.ended_at_ms, c.cdr_id)
            .limit(limit)
        )
        return await self._all(CdrRecord, stmt)

    async def state_history(self, agent_id: str) -> list[AgentStateRecord]:
        c = t.agent_state_history.c
        stmt = (
            select(t.agent_state_history)
            .where(c.agent_id == agent_id)
            .order_by(c.started_at_ms, c.state)
        )
        return await self._all(AgentStateRecord, stmt)

    async def audit(self, subject: str) -> list[AuditRecord]:
        c = t.audit.c
        stmt = select(t.audit).where(c.subject == subject).order_by(c.at_ms, c.audit_id)
        return await self._all(AuditRecord, stmt)

    async def outbox_after(self, seq: int, limit: int = 500) -> list[OutboxRow]:
        c = t.outbox.c
        stmt = select(t.outbox).where(c.seq > seq).order_by(c.seq).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [t.outbox_from_row(row) for row in rows]

    async def mark_sent(self, up_to_seq: int, at_ms: int) -> None:
        """Stamp every unsent event up to ``up_to_seq`` as sent at ``at_ms``."""
        c = t.outbox.c
        stmt = (
            update(t.outbox)
            .where(c.seq <= up_to_seq)
            .where(c.sent_at_ms == 0)
            .values(sent_at_ms=at_ms)
        )
        await self._exec(stmt)

    async def prune_outbox(self, confirmed_seq: int, keep_after_ms: int) -> int:
        """Delete events the hub confirmed (seq <= confirmed_seq) older than keep_after_ms."""
        c = t.outbox.c
        stmt = delete(t.outbox).where(c.seq <= confirmed_seq).where(c.at_ms < keep_after_ms)
        return await self._exec(stmt)

    async def last_seq(self) -> int:
        async with self.engine.connect() as conn:
            return await _read_last_seq(conn)

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return {
                table.name: (
                    await conn.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in t.COUNTED_TABLES
            }


_MOVE_SEQ_SQL = direct.compiled(
    update(t.site_meta)
    .where(t.site_meta.c.key == bindparam("key"))
    .where(t.site_meta.c.value == bindparam("old"))
    .values(value=bindparam("new"))
)


def _numbered(
    batch: list[_Pending], last_seq: int
) -> tuple[list[list[int]], list[dict[str, Any]], int]:
    """Each unit's event sequences after ``last_seq``, the outbox rows, the new last."""
    seq = last_seq
    results: list[list[int]] = []
    outbox_rows: list[dict[str, Any]] = []
    for pending in batch:
        seqs = []
        for event in pending.events:
            seq += 1
            seqs.append(seq)
            outbox_rows.append(t.event_row(seq, event))
        results.append(seqs)
    return results, outbox_rows, seq


def _grouped(
    batch: list[_Pending],
) -> tuple[dict[type[Any], list[dict[str, Any]]], dict[type[Any], list[dict[str, Any]]]]:
    """The batch's rows by record type: upserts (the last version of a key in the batch
    wins, as if written in turn) and plain inserts."""
    upserts: dict[type[Any], dict[tuple[Any, ...], dict[str, Any]]] = {}
    inserts: dict[type[Any], list[dict[str, Any]]] = {}
    for pending in batch:
        for record in pending.rows:
            kind = type(record)
            if t.SPECS[kind].insert_only:
                inserts.setdefault(kind, []).append(t.to_row(record))
            else:
                upserts.setdefault(kind, {})[t.key_of(record)] = t.to_row(record)
    return {kind: list(by_key.values()) for kind, by_key in upserts.items()}, inserts


async def _read_last_seq(conn: AsyncConnection) -> int:
    stmt = select(t.site_meta.c.value).where(t.site_meta.c.key == t.LAST_SEQ_KEY)
    value = (await conn.execute(stmt)).scalar_one_or_none()
    if value is None:
        raise ConfigError("site_meta has no outbox.last_seq: run migrate() first")
    return int(value)


def _unreachable(exc: DBAPIError) -> Unavailable:
    first = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else ""
    return Unavailable("the site database is unreachable", error=first)


def _conflict(exc: IntegrityError) -> Conflict:
    return Conflict("a unique record is repeated or taken", error=str(exc.orig))


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
