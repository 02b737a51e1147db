"""Group commit of a site's units of work (see :mod:`vcc_site.store.sql`).

``commit`` queues the unit; one writer task takes everything pending (up to
``max_batch`` units), writes it in ONE transaction and resolves each caller with its
events' sequences once the transaction is durable. Rows are upserted by primary key
(``INSERT .. ON CONFLICT DO UPDATE``); CDRs, agent-state stretches and audit rows are
plain inserts, so a repeat fails. When a batch hits an integrity error, it is written
again one unit at a time: the offending unit fails with ``Conflict`` and writes nothing,
the others commit. An operational error (the database, not a unit's data) fails the
whole batch as ``Unavailable``.

The outbox sequence is gap-free: numbers are assigned only inside the committing
transaction, from the ``site_meta`` row ``outbox.last_seq``, which the transaction moves
forward with a compare-and-set (``UPDATE .. WHERE value = <expected>``). The writer keeps
the last committed value in memory and advances it only after a commit succeeds; after
any failure it reads it back from the database. So a second writer on the same database
can never create a duplicate or a hole, it only forces a re-read.

On a SQLite file the batch runs on the loop thread
(:mod:`vcc_replication.sqlite_direct`); on other databases through the asyncio engine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import TextClause

from vcc_domain.errors import ConfigError, Conflict, Unavailable
from vcc_replication import sqlite_direct as direct
from vcc_replication.db import run_transaction
from vcc_site.store import tables as t
from vcc_site.store.api import Event, Row, UnitOfWork

log = logging.getLogger(__name__)
SEQ_RACE_ATTEMPTS = 5


@dataclass(slots=True)
class _Pending:
    rows: tuple[Row, ...]
    events: tuple[Event, ...]
    future: asyncio.Future[list[int]]


@dataclass(slots=True)
class _Plan:
    results: list[list[int]]  # each unit's event sequences
    last: int  # the outbox sequence after the batch
    move: dict[str, str] | None  # parameters of _MOVE_SEQ_SQL (None: no events)
    writes: list[tuple[str, list[dict[str, Any]]]]  # (SQL, rows) in order


class _SeqMoved(Exception):
    """Someone else advanced ``outbox.last_seq``: re-read it and write again."""


class GroupCommit:
    """The writer task of one store; ``after(rows)`` runs after each durable batch."""

    def __init__(
        self,
        engine: AsyncEngine,
        direct_db: direct.SqliteDirect | None,
        *,
        max_batch: int,
        after: Callable[[list[Row]], None],
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self._direct = direct_db
        self._max_batch = max_batch
        self._after = after
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._last_seq: int | None = None  # last committed sequence; None = ask the DB
        self._upserts: dict[str, str] = {}  # table -> compiled upsert SQL
        self._inserts: dict[tuple[str, tuple[str, ...]], str] = {}  # (table, columns) -> SQL

    async def commit(self, uow: UnitOfWork) -> list[int]:
        return await self.enqueue(uow)

    def enqueue(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """Queue ``uow`` now (in call order); the future is its sequences once durable."""
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(tuple(uow.rows), tuple(uow.events), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run_writer(), name="site-store-writer")
        return future

    async def close(self) -> None:
        """Finish every unit already queued and stop the writer."""
        if self._writer is not None and not self._writer.done():
            self._queue.put_nowait(None)
            await self._writer

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
            error = unreachable(exc)
            for pending in batch:
                _fail(pending, error)
            return
        except DBAPIError as exc:
            if len(batch) > 1:  # isolate the unit(s) at fault, commit the rest
                for pending in batch:
                    await self._write_batch([pending])
                return
            _fail(batch[0], conflict(exc) if isinstance(exc, IntegrityError) else exc)
            return
        except Exception as exc:
            log.exception("site store: a batch of %d units failed", len(batch))
            for pending in batch:
                _fail(pending, exc)
            return
        for pending, seqs in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(seqs)
        try:
            self._after([row for pending in batch for row in pending.rows])
        except Exception:
            log.exception("site store: an after-commit hook failed")

    async def _transact(self, batch: list[_Pending]) -> list[list[int]]:
        for _ in range(SEQ_RACE_ATTEMPTS):
            try:
                if self._direct is not None:
                    results, last = await self._direct.transact(
                        lambda conn: self._write_direct(conn, batch)
                    )
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

    def _plan(self, batch: list[_Pending], expected: int) -> _Plan:
        """The batch's statements after ``expected``: the same SQL on both paths."""
        results, outbox_rows, seq = _numbered(batch, expected)
        move = {"key": t.LAST_SEQ_KEY, "old": str(expected), "new": str(seq)}
        upserts, inserts = _grouped(batch)
        writes = [
            (self.upsert_sql(t.SPECS[kind].table, t.SPECS[kind].key), rows)
            for kind, rows in upserts.items()
        ]
        writes += [
            (self._insert_sql(t.SPECS[kind].table, list(rows[0])), rows)
            for kind, rows in inserts.items()
        ]
        if outbox_rows:
            writes.append((self._insert_sql(t.outbox, list(outbox_rows[0])), outbox_rows))
        return _Plan(results, seq, move if outbox_rows else None, writes)

    async def _write(
        self, conn: AsyncConnection, batch: list[_Pending]
    ) -> tuple[list[list[int]], int]:
        """Through the engine. The sequence is taken first: a racing writer fails at
        once, not after writing its rows."""
        expected = self._last_seq
        if expected is None:
            expected = await read_last_seq(conn)
        plan = self._plan(batch, expected)
        if plan.move is not None:
            if (await conn.execute(_text(_MOVE_SEQ_SQL), plan.move)).rowcount != 1:
                raise _SeqMoved()
        for sql, rows in plan.writes:
            await conn.execute(_text(sql), rows)
        return plan.results, plan.last

    def _write_direct(
        self, conn: sqlite3.Connection, batch: list[_Pending]
    ) -> tuple[list[list[int]], int]:
        """:meth:`_write` on a SQLite file, on the loop thread (:mod:`vcc_replication.sqlite_direct`)."""
        expected = self._last_seq
        if expected is None:
            found = conn.execute(_LAST_SEQ_SQL, {"key": t.LAST_SEQ_KEY}).fetchone()
            expected = _last_seq_of(None if found is None else found[0])
        plan = self._plan(batch, expected)
        if plan.move is not None:
            if direct.execute(conn, _MOVE_SEQ_SQL, plan.move) != 1:
                raise _SeqMoved()
        for sql, rows in plan.writes:
            direct.execute_many(conn, sql, rows)
        return plan.results, plan.last

    def _insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        """``INSERT INTO table (columns) VALUES (:column, ..)``, compiled once."""
        key = (table.name, tuple(columns))
        sql = self._inserts.get(key)
        if sql is None:
            sql = direct.compiled(insert(table).values({c: bindparam(c) for c in columns}))
            self._inserts[key] = sql
        return sql

    def upsert_sql(self, table: Table, key: Sequence[str]) -> str:
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


_LAST_SEQ_SQL = direct.compiled(
    select(t.site_meta.c.value).where(t.site_meta.c.key == bindparam("key"))
)


@functools.cache
def _text(sql: str) -> TextClause:
    return text(sql)


async def read_last_seq(conn: AsyncConnection) -> int:
    found = await conn.execute(_text(_LAST_SEQ_SQL), {"key": t.LAST_SEQ_KEY})
    return _last_seq_of(found.scalar_one_or_none())


def _last_seq_of(value: str | None) -> int:
    if value is None:
        raise ConfigError("site_meta has no outbox.last_seq: run migrate() first")
    return int(value)


def unreachable(exc: DBAPIError) -> Unavailable:
    first = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else ""
    return Unavailable("the site database is unreachable", error=first)


def conflict(exc: IntegrityError) -> Conflict:
    return Conflict("a unique record is repeated or taken", error=str(exc.orig))


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
