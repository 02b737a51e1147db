"""Versioned writes and reads of the provincial directory (ARCHITECTURE §3.5).

Every committed change is the next directory version. A write runs in ONE transaction:
the leader's fencing token first (:func:`advance_fence`; a deposed leader is refused),
then a compare-and-set of the state row (``UPDATE directory_state SET version = v + 1
... WHERE version = v``: of two concurrent writers one loses, re-reads and retries, or
gets a Conflict when it asked for an ``expected_version``), the new whole document, and
the delta row. The change is validated before, by applying it to the document and
re-reading the whole document with the province loader.

After the commit the delta is published on JetStream (``Nats-Msg-Id`` = ``dir-<version>``,
so a re-publish is dropped by the broker). The broker is never the source of truth: if
publishing fails the delta stays in the database and a background task re-publishes
every version newer than the last one published; sites also fill gaps with GetDeltas.
Deltas older than the last :data:`KEEP_VERSIONS` are compacted away; a site that far
behind is told ``snapshot_required``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.directory_doc import (
    MAX_ENTITY_BYTES,
    Change,
    Document,
    apply_and_validate,
    canonical_json,
    document_from_toml,
    document_hash,
    list_entities,
)
from vcc_domain.directory_secrets import without_secrets
from vcc_domain.errors import Conflict, InvalidInput, NotLeader, Unavailable
from vcc_domain.ids import new_id
from vcc_failover.leadership import Leadership
from vcc_hub.store.directory_tables import (
    KEEP_VERSIONS,
    MIGRATIONS,
    directory_state,
    directory_versions,
)
from vcc_replication.background import BackgroundNats
from vcc_replication.db import is_retryable
from vcc_replication.fencing import advance_fence
from vcc_replication.jetstream import publish
from vcc_replication.streams import DIRECTORY_SUBJECT

log = logging.getLogger(__name__)

DEFAULT_MAX_DELTAS = 500
WRITE_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    document: Document
    doc_hash: str


@dataclass(frozen=True, slots=True)
class Delta:
    version: int
    change_id: str
    changes: list[Change]
    doc_hash: str
    actor: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Committed:
    version: int
    change_id: str


@dataclass(frozen=True, slots=True)
class DeltasAnswer:
    deltas: list[Delta]
    snapshot_required: bool
    latest_version: int


class _LostRace(Exception):
    """Another writer committed the version this write was based on."""


class DirectoryService:
    def __init__(
        self,
        engine: AsyncEngine,
        leadership: Leadership,
        clock: Clock,
        nats: BackgroundNats | None = None,
        *,
        keep_versions: int = KEEP_VERSIONS,
        on_version: Callable[[int], None] = lambda _v: None,
        republish_every_s: float = 1.0,
        encode_delta: Callable[[Delta], bytes] | None = None,
    ) -> None:
        if nats is not None and encode_delta is None:
            raise TypeError("a directory that publishes needs encode_delta (the wire codec)")
        self._encode = encode_delta or _not_published
        self.engine = engine
        self.leadership = leadership
        self.clock = clock
        self.nats = nats
        self.keep_versions = keep_versions
        self.on_version = on_version
        self.republish_every_s = republish_every_s
        self._cache: Snapshot | None = None
        self._lock = asyncio.Lock()  # one writer per process: deltas are published in order
        self._task: asyncio.Task[None] | None = None
        self._import_source: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def migrate(self) -> None:
        await MIGRATIONS.upgrade(self.engine)

    def start(self, import_source: Path | None = None) -> None:
        """Run the background re-publisher (and import ``import_source`` while empty)."""
        self._import_source = import_source
        self._task = asyncio.create_task(self._background(), name="directory-republish")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- reads ---------------------------------------------------------------------------

    async def version(self) -> int:
        async with self.engine.connect() as conn:
            stmt = select(directory_state.c.version).where(directory_state.c.id == 1)
            return int((await conn.execute(stmt)).scalar_one())

    async def snapshot(self) -> Snapshot:
        """The latest version and its whole document."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(directory_state.c.version, directory_state.c.doc_hash).where(
                        directory_state.c.id == 1
                    )
                )
            ).one()
            cached = self._cache
            if (
                cached is not None
                and cached.version == row.version
                and cached.doc_hash == row.doc_hash
            ):
                return cached
            row = (
                await conn.execute(
                    select(
                        directory_state.c.version,
                        directory_state.c.document,
                        directory_state.c.doc_hash,
                    ).where(directory_state.c.id == 1)
                )
            ).one()
        snap = Snapshot(int(row.version), json.loads(row.document), row.doc_hash)
        self._cache = snap
        return snap

    async def deltas_since(self, since: int, max_deltas: int = 0) -> DeltasAnswer:
        """Deltas ``since+1, since+2, ...`` without gaps; snapshot_required if compacted."""
        limit = max_deltas if 0 < max_deltas <= DEFAULT_MAX_DELTAS else DEFAULT_MAX_DELTAS
        async with self.engine.connect() as conn:
            latest = int(
                (
                    await conn.execute(
                        select(directory_state.c.version).where(directory_state.c.id == 1)
                    )
                ).scalar_one()
            )
            if since >= latest:
                # Ahead of the hub (its database was replaced): only a snapshot helps.
                return DeltasAnswer([], since > latest, latest)
            rows = (
                await conn.execute(
                    select(directory_versions)
                    .where(directory_versions.c.version > since)
                    .order_by(directory_versions.c.version)
                    .limit(limit)
                )
            ).all()
        if not rows or int(rows[0].version) != since + 1:
            return DeltasAnswer([], True, latest)
        deltas = [_delta_of(r) for r in rows]
        return DeltasAnswer(deltas, False, latest)

    async def list_entities(self, kind: str) -> tuple[int, list[tuple[str, Any]]]:
        snap = await self.snapshot()
        return snap.version, list_entities(snap.document, kind)

    # -- writes --------------------------------------------------------------------------

    async def apply_change(
        self,
        changes: Sequence[Change],
        *,
        expected_version: int | None = None,
        actor: str = "",
        request_id: str = "",
    ) -> Committed:
        """Commit ``changes`` as the next version (leader only); validated as a whole."""
        if not changes:
            raise InvalidInput("changes: at least one change is needed", field="changes")
        committed = await self._commit(list(changes), expected_version, actor, request_id)
        assert committed is not None
        return committed

    async def import_province(
        self,
        source: str | Document,
        *,
        actor: str = "",
        request_id: str = "",
        expected_version: int | None = None,
        only_if_empty: bool = False,
    ) -> Committed | None:
        """Replace the whole directory with a province (TOML text or document).

        With ``only_if_empty`` nothing happens (``None``) unless the directory has no
        version yet; otherwise it is an explicit admin import, one new version.
        """
        if isinstance(source, str):
            size = len(source.encode("utf-8"))
            if size > MAX_ENTITY_BYTES:
                raise InvalidInput(
                    f"toml: {size} bytes is over the limit of {MAX_ENTITY_BYTES} bytes",
                    field="toml",
                )
            doc = document_from_toml(source, "toml")
        else:
            doc = source
        change = Change("document", "upsert", "", doc)
        expected = 0 if only_if_empty else expected_version
        try:
            return await self._commit([change], expected, actor or "import", request_id)
        except Conflict:
            if only_if_empty:
                return None
            raise

    async def _commit(
        self, changes: list[Change], expected: int | None, actor: str, request_id: str
    ) -> Committed | None:
        token = self.leadership.require()
        change_id = request_id or new_id("chg")
        async with self._lock:
            for _attempt in range(WRITE_ATTEMPTS):
                found = await self._find_change(change_id)
                if found is not None:
                    return found
                base = await self.snapshot()
                if expected is not None and base.version != expected:
                    raise Conflict(
                        f"the directory is at version {base.version}, not "
                        f"{expected}; re-read and try again",
                        field="expected_version",
                        latest_version=base.version,
                    )
                doc, _province = await asyncio.to_thread(
                    apply_and_validate, base.document, changes, "directory"
                )
                try:
                    delta = await self._write(base, doc, changes, change_id, actor, token)
                except _LostRace:
                    self._cache = None
                    continue
                except IntegrityError:
                    self._cache = None
                    continue  # the same change_id committed meanwhile: found next round
                except DBAPIError as exc:
                    if not is_retryable(exc):
                        raise
                    self._cache = None
                    await asyncio.sleep(0.01)
                    continue
                self.on_version(delta.version)
                await self._publish_quietly([delta])
                return Committed(delta.version, change_id)
        raise Conflict("the directory is changing too fast; try again", field="expected_version")

    async def _write(
        self,
        base: Snapshot,
        doc: Document,
        changes: list[Change],
        change_id: str,
        actor: str,
        token: int,
    ) -> Delta:
        version = base.version + 1
        text = canonical_json(doc).decode("utf-8")
        digest = document_hash(without_secrets(doc))  # what sites receive and check
        now_ms = int(self.clock.now() * 1000)
        async with self.engine.begin() as conn:
            await advance_fence(conn, token)
            moved = await conn.execute(
                update(directory_state)
                .where(directory_state.c.id == 1, directory_state.c.version == base.version)
                .values(version=version, document=text, doc_hash=digest)
            )
            if moved.rowcount != 1:
                raise _LostRace()
            await conn.execute(
                insert(directory_versions).values(
                    version=version,
                    change_id=change_id,
                    changes=changes_to_json(changes),
                    doc_hash=digest,
                    actor=actor[:200],
                    at_ms=now_ms,
                    token=token,
                )
            )
            if version > self.keep_versions:
                await conn.execute(
                    delete(directory_versions).where(
                        directory_versions.c.version <= version - self.keep_versions
                    )
                )
        self._cache = Snapshot(version, doc, digest)
        return Delta(version, change_id, changes, digest, actor, now_ms)

    async def _find_change(self, change_id: str) -> Committed | None:
        async with self.engine.connect() as conn:
            version = (
                await conn.execute(
                    select(directory_versions.c.version).where(
                        directory_versions.c.change_id == change_id
                    )
                )
            ).scalar_one_or_none()
        return None if version is None else Committed(int(version), change_id)

    # -- publishing ----------------------------------------------------------------------

    async def _publish_quietly(self, deltas: list[Delta]) -> None:
        if self.nats is None:
            return
        try:
            await self._publish(deltas, give_up_after_s=1.0)
        except Exception as exc:
            log.warning("directory delta not published yet (%s); will retry", exc)

    async def _publish(self, deltas: list[Delta], give_up_after_s: float) -> None:
        nats = self.nats
        if nats is None or not nats.ready.is_set() or not nats.connected:
            raise Unavailable("NATS is not connected")
        for delta in deltas:
            await publish(
                nats.js,
                DIRECTORY_SUBJECT,
                self._encode(delta),
                f"dir-{delta.version}",
                give_up_after_s=give_up_after_s,
            )
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(directory_state)
                    .where(
                        directory_state.c.id == 1,
                        directory_state.c.published_version < delta.version,
                    )
                    .values(published_version=delta.version)
                )

    async def republish_pending(self) -> int:
        """Publish every committed version newer than the last one published."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(directory_state.c.version, directory_state.c.published_version).where(
                        directory_state.c.id == 1
                    )
                )
            ).one()
            oldest = (
                await conn.execute(select(func.min(directory_versions.c.version)))
            ).scalar_one_or_none()
        version, published = int(row.version), int(row.published_version)
        if published >= version:
            return 0
        since = max(published, int(oldest or 1) - 1)
        answer = await self.deltas_since(since)
        if answer.deltas:
            async with self._lock:
                await self._publish(answer.deltas, give_up_after_s=2.0)
        return len(answer.deltas)

    async def _background(self) -> None:
        while True:
            await asyncio.sleep(self.republish_every_s)
            try:
                if self.leadership.is_leader:
                    if self._import_source is not None and await self.version() == 0:
                        await self.import_file_if_empty(self._import_source)
                    await self.republish_pending()
                self.on_version(await self.version())
            except (NotLeader, Unavailable) as exc:
                log.debug("directory background: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("directory background task failed; retrying")

    async def import_file_if_empty(self, path: Path) -> Committed | None:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        committed = await self.import_province(text, actor="operator=hub-start", only_if_empty=True)
        if committed is not None:
            log.info("directory imported from %s as version %d", path, committed.version)
        return committed


def _delta_of(row: Any) -> Delta:
    return Delta(
        int(row.version),
        row.change_id,
        changes_from_json(row.changes),
        row.doc_hash,
        row.actor,
        int(row.at_ms),
    )


def _not_published(delta: Delta) -> bytes:
    raise RuntimeError(f"directory version {delta.version}: no wire codec to publish with")


def changes_to_json(changes: Sequence[Change]) -> str:
    """Changes as stored in ``directory_versions.changes``."""
    return json.dumps([ch.to_dict() for ch in changes], ensure_ascii=False, separators=(",", ":"))


def changes_from_json(text: str) -> list[Change]:
    return [Change(d["kind"], d["op"], d.get("id", ""), d.get("entity")) for d in json.loads(text)]
