"""Database engines for every node: SQLite (embedded default), PostgreSQL, CockroachDB.

Each node (the hub, every site) has its own database. ``make_engine`` accepts a
SQLAlchemy URL; plain ``sqlite:///file.db`` and ``postgresql://`` / ``cockroachdb://``
URLs are upgraded to their asyncio drivers. ``run_transaction`` runs a unit of work in
one transaction and retries it a bounded number of times when the database reports a
serialization conflict (SQLSTATE 40001, CockroachDB's normal way to resolve contention;
SQLite's "database is locked" is treated the same way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

T = TypeVar("T")

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "cockroachdb": "cockroachdb+psycopg",
}

log = logging.getLogger(__name__)
CONNECT_WAIT_S = 30.0  # how long a unit of work waits for a database that refuses connections
# Pooled connections kept open. SQLAlchemy's default (5 + 10 overflow) opens and closes an
# overflow connection for every checkout beyond the fifth: under 30 concurrent calls that
# is a new SQLite connection (and aiosqlite thread) per customer lookup. Stores bound
# their concurrent reads to READ_CONCURRENCY, below POOL_SIZE, so reads never churn.
POOL_SIZE = 12
POOL_OVERFLOW = 20
READ_CONCURRENCY = 8


def async_url(url: str) -> str:
    """Rewrite a plain database URL to the asyncio driver we use for it."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    final = async_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if make_url(final).database not in (None, "", ":memory:"):  # memory: one static conn
        kwargs |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    if final.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:  # network databases: detect a connection the server dropped before using it
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(final, **kwargs)
    if final.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    return engine


def sqlite_pragmas(dbapi_conn: Any, _record: Any = None) -> None:
    """WAL, ``synchronous=NORMAL`` (durable against a killed process; the WAL is synced
    at checkpoints) and enforced foreign keys, on every SQLite connection we open."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_retryable(exc: BaseException) -> bool:
    """Serialization failures and SQLite lock contention are worth retrying."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate == "40001":
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(orig):
            return True
    return False


async def run_transaction(
    engine: AsyncEngine,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    attempts: int = 8,
    connect_wait_s: float = CONNECT_WAIT_S,
) -> T:
    """Run ``work`` inside one transaction, retrying bounded times on 40001.

    Getting a connection is retried for up to ``connect_wait_s`` (a database restarting
    refuses connections for a few seconds): nothing has run yet, so waiting is safe and a
    restart costs seconds of latency instead of an error. A failure once the transaction
    has begun is not retried here (its outcome may be unknown)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.01, max=0.5),
        reraise=True,
    ):
        with attempt:
            conn = await connect(engine, connect_wait_s)
            try:
                async with conn.begin():
                    return await work(conn)
            finally:
                await conn.close()
    raise AssertionError("unreachable")  # pragma: no cover


async def connect(engine: AsyncEngine, wait_s: float = CONNECT_WAIT_S) -> AsyncConnection:
    """A started connection, waiting up to ``wait_s`` for a database that refuses them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay = 0.05
    while True:
        conn = engine.connect()
        try:
            await conn.start()
            return conn
        except (OperationalError, InterfaceError) as exc:
            if loop.time() + delay > deadline:
                raise
            log.warning(
                "database not reachable (%s); trying again in %.2f s",
                str(exc).splitlines()[0][:160],
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer ``SELECT 1``."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
