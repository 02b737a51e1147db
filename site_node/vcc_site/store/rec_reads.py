"""Reads of call recordings, on the SQL or memory store.

Writes go through :meth:`SiteStore.commit` like every other row (see ``rec_tables``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.sql import Select

from vcc_domain.recordings import RecordingRow
from vcc_site.store import rec_tables as r
from vcc_site.store import tables as t


@dataclass(frozen=True, slots=True)
class RecordingQuery:
    """Which recordings: of an agent, of a business, started in ``[start_ms, end_ms)``
    (0: unbounded), with or without those swept; newest first, at most ``limit``."""

    agent_id: str = ""
    business_id: str = ""
    start_ms: int = 0
    end_ms: int = 0
    include_swept: bool = False
    limit: int = 200

    def matches(self, row: RecordingRow) -> bool:
        return (
            (not self.agent_id or self.agent_id in row.agents)
            and (not self.business_id or row.business_id == self.business_id)
            and row.started_at_ms >= self.start_ms
            and (not self.end_ms or row.started_at_ms < self.end_ms)
            and (self.include_swept or not row.swept_at_ms)
        )


class RecordingReads(Protocol):
    async def recording(self, recording_id: str) -> RecordingRow | None: ...
    async def recordings(self, query: RecordingQuery) -> list[RecordingRow]: ...
    async def of_call(self, call_id: str) -> list[RecordingRow]: ...
    async def unswept_before(self, started_before_ms: int, limit: int) -> list[RecordingRow]:
        """Rows not swept yet that started before ``started_before_ms``, oldest first."""
        ...


def _newest_first(rows: list[RecordingRow]) -> list[RecordingRow]:
    return sorted(rows, key=lambda x: (-x.started_at_ms, x.recording_id))


class SqlRecordingReads:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def _all(self, stmt: Select[Any]) -> list[RecordingRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [t.from_row(RecordingRow, row) for row in rows]

    async def recording(self, recording_id: str) -> RecordingRow | None:
        c = r.recordings.c
        found = await self._all(select(r.recordings).where(c.recording_id == recording_id))
        return found[0] if found else None

    async def recordings(self, query: RecordingQuery) -> list[RecordingRow]:
        c = r.recordings.c
        stmt = select(r.recordings).where(c.started_at_ms >= query.start_ms)
        if query.end_ms:
            stmt = stmt.where(c.started_at_ms < query.end_ms)
        if query.business_id:
            stmt = stmt.where(c.business_id == query.business_id)
        if not query.include_swept:
            stmt = stmt.where(c.swept_at_ms == 0)
        if query.agent_id:  # the JSON list names the agent, quoted
            stmt = stmt.where(c.agents.contains(f'"{query.agent_id}"', autoescape=True))
        stmt = stmt.order_by(c.started_at_ms.desc(), c.recording_id).limit(query.limit)
        return [x for x in await self._all(stmt) if query.matches(x)]

    async def of_call(self, call_id: str) -> list[RecordingRow]:
        c = r.recordings.c
        stmt = select(r.recordings).where(c.call_id == call_id).order_by(c.started_at_ms)
        return await self._all(stmt)

    async def unswept_before(self, started_before_ms: int, limit: int) -> list[RecordingRow]:
        c = r.recordings.c
        stmt = (
            select(r.recordings)
            .where(c.swept_at_ms == 0, c.started_at_ms < started_before_ms)
            .order_by(c.started_at_ms, c.recording_id)
            .limit(limit)
        )
        return await self._all(stmt)


class MemoryRecordingReads:
    def __init__(self, tables: dict[str, dict[tuple[Any, ...], Any]]) -> None:
        self.rows = tables["recordings"]

    async def recording(self, recording_id: str) -> RecordingRow | None:
        found: RecordingRow | None = self.rows.get((recording_id,))
        return found

    async def recordings(self, query: RecordingQuery) -> list[RecordingRow]:
        found = [x for x in self.rows.values() if query.matches(x)]
        return _newest_first(found)[: query.limit]

    async def of_call(self, call_id: str) -> list[RecordingRow]:
        found = [x for x in self.rows.values() if x.call_id == call_id]
        return sorted(found, key=lambda x: x.started_at_ms)

    async def unswept_before(self, started_before_ms: int, limit: int) -> list[RecordingRow]:
        found = [
            x
            for x in self.rows.values()
            if not x.swept_at_ms and x.started_at_ms < started_before_ms
        ]
        return sorted(found, key=lambda x: (x.started_at_ms, x.recording_id))[:limit]


def recording_reads(store: object) -> RecordingReads:
    """The reads for a site store: SQL when it has an engine, else its memory tables."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        return SqlRecordingReads(engine)
    tables = getattr(store, "tables", None)
    if isinstance(tables, dict):
        return MemoryRecordingReads(tables)
    raise TypeError(f"no recording reads for {type(store).__name__}")
