"""Writes and key lookups on a SQLite file, on the event loop (a site's group commit and
lookups, the hub's event ingest).

Through SQLAlchemy's asyncio engine every statement is a round trip to an aiosqlite
thread: a future, a thread wake-up, and a wait for the GIL on the way back. With the
loop busy, each wait is up to the interpreter's 5 ms switch interval, so a batch of ten
statements made every RPC wait tens of milliseconds for its commit, and the hand-offs
cost a quarter of the site's CPU (`vcc bench site`; moving the batch to a thread of its
own did not help: it then waits for the GIL at every statement instead). A statement on
an indexed SQLite table takes microseconds, far less than a hand-off, so here the
writes of a batch and single-row lookups run on the loop thread itself:

* ``BEGIN IMMEDIATE`` with a busy timeout of 0: when another connection holds the write
  lock (the engine's occasional direct writes), the loop is not blocked: the batch is
  tried again after an ``asyncio.sleep`` back-off, for up to ``BUSY_TIMEOUT_S``. Nothing
  of a batch is committed before its ``COMMIT``, so a retry is safe.
* WAL with ``synchronous=NORMAL`` and foreign keys, as :func:`vcc_replication.db.
  make_engine` sets: a commit appends to the WAL without an fsync (durable against a
  killed process). The WAL checkpoint, which does fsync, is taken off this connection
  (``wal_autocheckpoint=0``) and run every ``CHECKPOINT_S`` on a worker thread.
* Lookups return the row as SQLAlchemy would (booleans as ``bool``); a lookup (or a
  :meth:`SqliteDirect.select`, such as the outbox relay's read of the next events) that
  meets a locked database raises :class:`Busy` and the caller asks the engine instead.

The SQL is what SQLAlchemy compiles from the same ``Table`` definitions (the schema and
its migrations stay SQLAlchemy's and Alembic's). Driver errors are wrapped as
SQLAlchemy's ``DBAPIError`` subclasses (``IntegrityError`` ...), so the store's error
handling is the same on both paths.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Boolean, Table, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_replication.db import sqlite_pragmas

T = TypeVar("T")
log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0  # how long a batch keeps trying to get the write lock
CHECKPOINT_S = 1.0  # WAL checkpoint period (on a worker thread)
_DIALECT = sqlite.dialect(paramstyle="named")


class Busy(Exception):
    """Another connection holds the lock: try again later (nothing was written)."""


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; None for another database or ``:memory:``."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


def compiled(stmt: Any) -> str:
    """SQL text of a SQLAlchemy statement for sqlite3 (``:name`` parameters)."""
    return str(stmt.compile(dialect=_DIALECT))


class SqliteDirect:
    """One connection on the loop thread for batches and lookups."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lookups: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._last_checkpoint = 0.0
        self.busy_retries = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            sqlite_pragmas(conn)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # see _maybe_checkpoint
            conn.row_factory = sqlite3.Row
            self._conn = conn
        return self._conn

    # -- batches -------------------------------------------------------------------------

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` in one transaction, retried while the database is locked."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_TIMEOUT_S
        delay = 0.001
        while True:
            try:
                result = self._in_transaction(fn)
            except Busy as exc:
                if loop.time() + delay > deadline:
                    raise _wrapped(
                        sqlite3.OperationalError("database is locked"), "BEGIN IMMEDIATE"
                    ) from exc
                self.busy_retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            self._maybe_checkpoint(loop)
            return result

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy() from exc
            raise _wrapped(exc, "BEGIN IMMEDIATE") from exc
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise Busy() from exc  # COMMIT met a lock: nothing was written
            if isinstance(exc, sqlite3.Error):
                raise _wrapped(exc, "COMMIT") from exc
            cause = exc.orig if isinstance(exc, DBAPIError) else None
            if isinstance(cause, sqlite3.OperationalError) and _is_busy(cause):
                raise Busy() from exc
            raise
        return result

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # unusable: a new connection next time
                self._conn = None
                conn.close()

    # -- lookups -------------------------------------------------------------------------

    def lookup(self, table: Table, column: str, value: str) -> dict[str, Any] | None:
        """The row of ``table`` whose ``column`` is ``value`` (None if there is none);
        raises :class:`Busy` when the database is locked right now."""
        found = self._lookups.get((table.name, column))
        if found is None:
            sql = compiled(select(table).where(table.c[column] == bindparam("value")))
            flags = tuple(c.name for c in table.c if isinstance(c.type, Boolean))
            found = self._lookups[(table.name, column)] = (sql, flags)
        sql, flags = found
        try:
            row = self._connection().execute(sql, {"value": value}).fetchone()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy() from exc
            raise _wrapped(exc, sql, {"value": value}) from exc
        if row is None:
            return None
        values = dict(zip(row.keys(), row, strict=True))
        for name in flags:
            values[name] = bool(values[name])
        return values

    def select(self, sql: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        """The rows of one read (the last committed state); raises :class:`Busy` when the
        database is locked right now."""
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy() from exc
            raise _wrapped(exc, sql, params) from exc

    # -- WAL checkpoints -----------------------------------------------------------------

    def _maybe_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if now - self._last_checkpoint < CHECKPOINT_S:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._last_checkpoint = now
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._checkpoint = loop.run_in_executor(self._checkpointer, _checkpoint, self.path)
        self._checkpoint.add_done_callback(_log_failure)

    async def close(self) -> None:
        if self._checkpoint is not None:
            try:
                await self._checkpoint
            except Exception:  # logged by its callback
                pass
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


def execute(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> int:
    """Run one statement; the rows it changed."""
    try:
        return conn.execute(sql, params).rowcount
    except sqlite3.Error as exc:
        raise _wrapped(exc, sql, params) from exc


def query(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """The rows of one query."""
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise _wrapped(exc, sql, params) from exc


def execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[dict[str, Any]]) -> None:
    try:
        conn.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise _wrapped(exc, sql, list(rows[:3])) from exc


def _checkpoint(path: str) -> None:
    """Copy the WAL into the database (PASSIVE: never waits for readers or writers)."""
    conn = sqlite3.connect(path, timeout=5)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("SQLite WAL checkpoint failed: %r", future.exception())


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def _wrapped(exc: sqlite3.Error, sql: str, params: Any = None) -> StatementError:
    """The driver error as SQLAlchemy's matching ``DBAPIError`` (IntegrityError, ...)."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error)
