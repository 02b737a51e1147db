"""The site store on SQLAlchemy (SQLite, PostgreSQL, CockroachDB).

Units of work commit through :mod:`vcc_site.store.group_commit` (one writer, batched,
gap-free outbox sequence); reads go through a bounded number of pooled connections, or
on a SQLite file through the loop thread's own connection (:mod:`vcc_replication.sqlite_direct`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from vcc_domain.errors import ConfigError, Unavailable
from vcc_replication import sqlite_direct as direct
from vcc_replication.db import READ_CONCURRENCY, connect, make_engine, run_transaction
from vcc_site.store import tables as t
from vcc_site.store.api import (
    AgentStateRecord,
    AuditRecord,
    CallRecord,
    CdrRecord,
    CredentialRecord,
    CustomerRecord,
    LegRecord,
    OutboxRow,
    Row,
    SessionRecord,
    UnitOfWork,
)
from vcc_site.store.group_commit import GroupCommit, conflict, read_last_seq, unreachable
from vcc_site.store.migrations import migrate as migrate_schema

log = logging.getLogger(__name__)
R = TypeVar("R")

PHONE_CACHE_MAX = 200_000


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
        self.engine = engine
        self.site_id = site_id
        self._owns_engine = owns_engine
        # on a SQLite file, batches and lookups run on the loop thread (sqlite_direct)
        path = direct.sqlite_file(engine) if direct_sqlite else None
        self._direct = direct.SqliteDirect(path) if path else None
        self._group = GroupCommit(engine, self._direct, max_batch=max_batch, after=self._committed)
        self._closed = False
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
        cls,
        url: str,
        site_id: str,
        *,
        max_batch: int = 256,
        migrate: bool = True,
        direct_sqlite: bool = True,
    ) -> SqlSiteStore:
        """A store on a new engine for ``url`` (disposed by :meth:`close`)."""
        store = cls(
            make_engine(url),
            site_id,
            max_batch=max_batch,
            owns_engine=True,
            direct_sqlite=direct_sqlite,
        )
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
        return await self._group.commit(uow)

    def enqueue(self, uow: UnitOfWork) -> asyncio.Future[list[int]]:
        """:meth:`commit` without a task of its own: queued now, in call order."""
        if self._closed or not uow:
            done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
            if self._closed:
                done.set_exception(Unavailable("the site store is closed"))
            else:
                done.set_result([])
            return done
        return self._group.enqueue(uow)

    async def close(self) -> None:
        """Finish every unit already submitted, stop the writer, dispose an owned engine."""
        if self._closed:
            return
        self._closed = True
        await self._group.close()
        if self._direct is not None:
            await self._direct.close()
        if self._owns_engine:
            await self.engine.dispose()

    def _committed(self, rows: list[Row]) -> None:
        """After each durable batch: forget cached customers, run the hooks."""
        if any(isinstance(row, CustomerRecord) for row in rows):
            self._by_phone.clear()
        for hook in self.on_commit:
            try:
                hook()
            except Exception:
                log.exception("site store: an on_commit hook failed")

    def _upsert_stmt(self, table: Table, key: Sequence[str]) -> Executable:
        return text(self._group.upsert_sql(table, key))

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
        stmt = text(self._group.upsert_sql(spec.table, spec.key)) if upsert else insert(spec.table)
        try:
            await self._exec(stmt, [t.to_row(record) for record in records])
        except IntegrityError as exc:
            raise conflict(exc) from exc
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
        await self._exec(self._upsert_stmt(t.site_meta, ["key"]), [{"key": key, "value": value}])

    async def set_metas(self, values: dict[str, str]) -> None:
        """Set several keys of the site's key/value table in ONE transaction."""
        if t.LAST_SEQ_KEY in values:
            raise ValueError("the outbox sequence is only moved by commit()")
        if values:
            await self._exec(
                self._upsert_stmt(t.site_meta, ["key"]),
                [{"key": k, "value": v} for k, v in values.items()],
            )

    # -- reads ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection for a read; a database that refuses connections is
        ``Unavailable`` at once (the access edge then offers the call to another site)."""
        async with self._reads:
            try:
                conn = await connect(self.engine, wait_s=0)
            except (OperationalError, InterfaceError) as exc:
                raise unreachable(exc) from exc
            try:
                yield conn
            finally:
                await conn.close()

    async def _one(
        self, kind: type[R], stmt: Executable, params: dict[str, Any] | None = None
    ) -> R | None:
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

    async def swap_failures(
        self, kind: str, key: str, old: tuple[int, int], new: tuple[int, int]
    ) -> bool:
        if kind == "agent":
            table, id_col, count, until = t.credentials, "agent_id", "failures", "locked_until_ms"
        else:
            table, id_col, count, until = (
                t.customers,
                "customer_id",
                "pin_failures",
                "pin_locked_until_ms",
            )
        c = table.c
        stmt = (
            update(table)
            .where(c[id_col] == key, c[count] == old[0], c[until] == old[1])
            .values({count: new[0], until: new[1]})
        )
        changed = await self._exec(stmt) == 1
        if changed and kind != "agent":
            self._by_phone.clear()
        return changed

    async def call(self, call_id: str) -> CallRecord | None:
        return await self._by(CallRecord, "call_id", call_id)

    async def open_calls(self) -> list[CallRecord]:
        c = t.calls.c
        stmt = select(t.calls).where(c.state != "ended").order_by(c.arrival_at_ms, c.call_id)
        return await self._all(CallRecord, stmt)

    async def calls_of_caller(self, caller_number: str, limit: int) -> list[CallRecord]:
        c = t.calls.c
        stmt = (
            select(t.calls)
            .where(c.caller_number == caller_number)
            .order_by(c.arrival_at_ms.desc(), c.call_id)
            .limit(limit)
        )
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
        """Up to ``limit`` outbox rows after ``seq``, in order. On a SQLite file on the
        loop thread's connection (the relay reads after every commit: through the engine
        each read was a thread hand-off and a tenth of a loaded site's CPU)."""
        if self._direct is not None:
            try:
                found = self._direct.select(_OUTBOX_AFTER_SQL, {"seq": seq, "limit": limit})
            except direct.Busy:
                pass  # locked right now: through the engine, which waits
            else:
                return [t.outbox_from_mapping(row) for row in found]
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

    async def record_sent(self, after_seq: int, up_to_seq: int, at_ms: int, key: str) -> None:
        """The relay's round in ONE transaction: stamp the events after ``after_seq`` up to
        ``up_to_seq`` as sent at ``at_ms`` and set its cursor ``key`` to ``up_to_seq``. On
        a SQLite file on the loop thread's connection: two engine transactions per round
        were a third of a loaded site's database hand-offs, and their write lock made
        the group commit wait."""
        if key == t.LAST_SEQ_KEY:
            raise ValueError("the outbox sequence is only moved by commit()")
        stamp = {"after": after_seq, "upto": up_to_seq, "at": at_ms}
        cursor = {"key": key, "value": str(up_to_seq)}
        upsert = self._group.upsert_sql(t.site_meta, ["key"])
        if self._direct is not None:

            def work(conn: Any) -> None:
                direct.execute(conn, _STAMP_SENT_SQL, stamp)
                direct.execute(conn, upsert, cursor)

            await self._direct.transact(work)
            return

        async def work_async(conn: AsyncConnection) -> None:
            await conn.execute(text(_STAMP_SENT_SQL), stamp)
            await conn.execute(text(upsert), cursor)

        await run_transaction(self.engine, work_async)

    async def prune_outbox(self, confirmed_seq: int, keep_after_ms: int) -> int:
        """Delete events the hub confirmed (seq <= confirmed_seq) older than keep_after_ms."""
        c = t.outbox.c
        stmt = delete(t.outbox).where(c.seq <= confirmed_seq).where(c.at_ms < keep_after_ms)
        return await self._exec(stmt)

    async def last_seq(self) -> int:
        async with self.engine.connect() as conn:
            return await read_last_seq(conn)

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return {
                table.name: (
                    await conn.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in t.COUNTED_TABLES
            }


_STAMP_SENT_SQL = direct.compiled(
    update(t.outbox)
    .where(t.outbox.c.seq > bindparam("after"))
    .where(t.outbox.c.seq <= bindparam("upto"))
    .where(t.outbox.c.sent_at_ms == literal_column("0"))
    .values(sent_at_ms=bindparam("at"))
)
_OUTBOX_AFTER_SQL = (
    direct.compiled(
        select(t.outbox).where(t.outbox.c.seq > bindparam("seq")).order_by(t.outbox.c.seq)
    )
    + " LIMIT :limit"
)
