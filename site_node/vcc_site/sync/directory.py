"""Directory sync at a site: apply the hub's deltas strictly in order, never half a version.

The site's copy is the province document (the province file's tables, as JSON) and the
version it reflects, both kept in ``site_meta`` and written in ONE transaction. On start
the last applied copy is loaded (and the site serves it, not its start-up file). Deltas
arrive on JetStream, fetched from the durable pull consumer the hub made for the site; a
delta is applied only when its version is exactly the current one plus one: the changes
are applied to the document, the result is re-read by the province loader, stored, and
only then is ``core.province`` swapped (one assignment: a caller sees the old or the new
version).
A gap, a start, and every ``poll_every_s`` as a safety net, the site asks the hub leader
over gRPC for the deltas since its version (GetDeltas), or a snapshot when those were
compacted. With the hub and the broker gone the site keeps serving its last version.

Every version, from the broker or the hub, must be signed by a hub of the province CA
(:mod:`vcc_proto.signing`, checked against the site's own ``ca.crt``) and produce the
document hash it signs; anything else is refused before it touches the copy, logged and
counted in ``vcc_site_directory_refused_total{reason}``, and the hub is asked instead. A
site without a certificate (``--insecure``) applies unsigned versions (a warning at
start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import nats.errors as nats_errors
from nats.aio.msg import Msg
from prometheus_client import Gauge
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from vcc_domain.directory_doc import (
    Document,
    apply_changes,
    canonical_json,
    document_hash,
    validate,
)
from vcc_domain.errors import NotFound, NotLeader, Unavailable, VccError
from vcc_domain.province import Province
from vcc_proto.channels import client_tls, open_channel
from vcc_proto.signing import SignatureRefused
from vcc_proto.status import from_rpc_error, leader_of
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_replication.streams import DIRECTORY_STREAM, directory_consumer
from vcc_site.components import SiteContext
from vcc_site.store.api import CredentialRecord
from vcc_site.sync.directory_wire import SignedVersions, change_of

log = logging.getLogger(__name__)

# One message per fetch: a waiting fetch of more returns only when the batch is full or
# its time is up, which would hold a delta back for up to FETCH_WAIT_S.
FETCH_BATCH = 1
FETCH_WAIT_S = 5.0
META_VERSION = "directory.version"
META_DOCUMENT = "directory.document"

DIRECTORY_VERSION = Gauge(
    "vcc_site_directory_version", "Directory version this site serves", ["site"]
)


class _HubRefused(Exception):
    """The hub answered NotLeader (re-locate) or was unreachable (retry)."""


class DirectorySync:
    def __init__(
        self, ctx: SiteContext, *, poll_every_s: float = 10.0, rpc_timeout_s: float = 5.0
    ) -> None:
        self.ctx = ctx
        self.poll_every_s = poll_every_s
        self.rpc_timeout_s = rpc_timeout_s
        self.version = 0
        self.document: Document | None = None
        self._lock = asyncio.Lock()  # every apply, from the broker or the hub, in order
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: grpc.aio.Channel | None = None
        self._endpoint = ""
        self._leader_hint = ""
        self._need_snapshot = False
        self._guard = SignedVersions(ctx.site_id, client_tls())

    # -- lifecycle -----------------------------------------------------------------------

    async def load(self) -> None:
        """Serve the last applied copy, if any (before anything else runs)."""
        raw_version = await self.ctx.store.meta(META_VERSION)
        raw_doc = await self.ctx.store.meta(META_DOCUMENT)
        if raw_version is None or raw_doc is None:
            self._publish_version()
            return
        doc = json.loads(raw_doc)
        try:
            province = await asyncio.to_thread(validate, doc, "site copy of the directory")
        except VccError as exc:
            log.error("stored directory copy (version %s) is unusable: %s", raw_version, exc)
            return
        self._swap(int(raw_version), doc, province)
        log.info("serving directory version %d from the site database", self.version)

    def start(self) -> None:
        if not self._guard.on:
            log.warning("no site certificate (--insecure): directory versions are applied unsigned")
        self._wake.set()
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name="directory-poll"),
            asyncio.create_task(self._consume(), name="directory-consume"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    # -- from the broker -----------------------------------------------------------------

    async def _consume(self) -> None:
        while True:  # again on every new NATS connection (the subscription dies with one)
            await self._consume_one()

    async def _consume_one(self) -> None:
        """Fetch deltas from the durable consumer the hub made for this site (the site
        may create none); anything missed meanwhile is asked of the hub."""
        nats = self.ctx.nats
        await nats.ready.wait()
        lost = nats.lost
        durable = directory_consumer(self.ctx.site_id)
        sub = None
        while sub is None:
            try:
                sub = await nats.js.pull_subscribe_bind(durable=durable, stream=DIRECTORY_STREAM)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot bind the directory consumer yet (%s); retrying", exc)
                await asyncio.sleep(1.0)
        self._wake.set()
        missing = False
        try:
            while not lost.is_set():
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except asyncio.CancelledError:
                    raise
                except nats_errors.TimeoutError:
                    continue
                except Exception as exc:  # no consumer yet (the hub makes it), broker away
                    if not missing:
                        log.warning("directory consumer %s not usable yet (%s)", durable, exc)
                    missing = True
                    await asyncio.sleep(1.0)
                    continue
                if missing:  # what was committed meanwhile: ask the hub
                    missing = False
                    self._wake.set()
                for msg in msgs:
                    await self._on_msg(msg)
                    with contextlib.suppress(Exception):
                        await msg.ack()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        try:
            delta = h.DirectoryDelta.FromString(msg.data)
        except Exception:
            log.warning("undecodable directory delta on %s; ignored", msg.subject)
            return
        try:
            await self.on_delta(delta)
        except Exception:
            log.exception("directory delta %d not applied; asking the hub", delta.version)
            self._wake.set()

    async def on_delta(self, delta: h.DirectoryDelta) -> None:
        try:
            self._guard.check(delta.version, delta.document_hash, delta, "the broker")
        except SignatureRefused:
            self._wake.set()  # the hub answers with the genuine version, if there is one
            return
        async with self._lock:
            if delta.version <= self.version:
                return  # already applied (a re-publish, or the hub got there first)
            if delta.version != self.version + 1:
                log.info(
                    "directory gap: at %d, got %d; asking the hub", self.version, delta.version
                )
                self._wake.set()
                return
            await self._apply_deltas([delta])

    # -- from the hub --------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_every_s)
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("directory catch-up failed (%s); serving version %d", exc, self.version)

    async def catch_up(self) -> None:
        """Ask the hub for what we miss: deltas since our version, or a snapshot."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type(_HubRefused),
            reraise=True,
        ):
            with attempt:
                await self._catch_up_once()

    async def _catch_up_once(self) -> None:
        stub = hg.DirectoryStub(await self._hub_channel())
        site = self.ctx.site_id
        async with self._lock:
            while True:
                reply = await self._call(
                    stub.GetDeltas(
                        h.GetDeltasRequest(since_version=self.version, site_id=site),
                        timeout=self.rpc_timeout_s,
                    )
                )
                if reply.snapshot_required or self._need_snapshot:
                    snap = await self._call(
                        stub.GetSnapshot(
                            h.GetSnapshotRequest(site_id=site), timeout=self.rpc_timeout_s
                        )
                    )
                    await self._install_snapshot(snap)
                    return
                if not reply.deltas:
                    return
                await self._apply_deltas(list(reply.deltas))
                if self.version >= reply.latest_version:
                    return

    async def _call(self, call: Any) -> Any:
        try:
            return await call
        except grpc.RpcError as exc:
            err = from_rpc_error(exc)
            if isinstance(err, NotLeader):
                self._leader_hint = leader_of(exc) or ""
                await self._drop_channel()
                raise _HubRefused(str(err)) from exc
            if isinstance(err, Unavailable):
                await self._drop_channel()
                raise _HubRefused(str(err)) from exc
            raise err from exc

    async def _hub_channel(self) -> grpc.aio.Channel:
        endpoint = self._leader_hint
        if not endpoint:
            try:
                endpoint = await self.ctx.hub.leader_endpoint()
            except Unavailable as exc:
                raise _HubRefused(str(exc)) from exc
        self._leader_hint = ""
        if self._channel is None or endpoint != self._endpoint:
            await self._drop_channel()
            self._channel = open_channel(endpoint)
            self._endpoint = endpoint
        return self._channel

    async def _drop_channel(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    # -- applying (under the lock) -------------------------------------------------------

    async def _apply_deltas(self, deltas: Sequence[h.DirectoryDelta]) -> None:
        """Apply consecutive deltas; store and serve the result as one step."""
        doc = self.document if self.document is not None else {}
        version = self.version
        for delta in deltas:
            if delta.version <= version:
                continue
            if delta.version != version + 1:
                raise NotFound(
                    f"directory delta {version + 1} missing (got {delta.version})", field="version"
                )
            self._guard.check(delta.version, delta.document_hash, delta, "the hub")
            doc = apply_changes(doc, [change_of(c) for c in delta.changes])
            version = delta.version
        if version == self.version:
            return
        expected_hash = deltas[-1].document_hash
        if expected_hash and document_hash(doc) != expected_hash:
            self._guard.count("hash")
            log.error(
                "directory copy differs from the hub's at version %d; taking a snapshot", version
            )
            self._need_snapshot = True
            self._wake.set()
            return
        await self._store_and_swap(version, doc)

    async def _install_snapshot(self, snap: h.DirectorySnapshot) -> None:
        self._need_snapshot = False
        if snap.version == self.version:
            return
        if snap.version < self.version:
            log.warning(
                "the hub's directory (version %d) is behind this site's (%d); following the hub",
                snap.version,
                self.version,
            )
        self._guard.check(snap.version, snap.document_hash, snap, "the hub")
        doc = json.loads(snap.document_json)
        if self._guard.on and document_hash(doc) != snap.document_hash:
            self._guard.refuse("hash", f"snapshot {snap.version} differs from its signed hash")
        await self._store_and_swap(snap.version, doc, dict(snap.home_password_hashes))

    async def _store_and_swap(
        self, version: int, doc: Document, hashes: Mapping[str, str] | None = None
    ) -> None:
        province = await asyncio.to_thread(validate, doc, f"directory version {version}")
        if not any(s.id == self.ctx.site_id for s in province.sites):
            log.error(
                "directory version %d has no site %s; staying on version %d",
                version,
                self.ctx.site_id,
                self.version,
            )
            return
        await self.ctx.store.set_metas(
            {META_VERSION: str(version), META_DOCUMENT: canonical_json(doc).decode("utf-8")}
        )
        before = self.ctx.core.province
        self._swap(version, doc, province)
        log.info("directory version %d applied", version)
        try:
            await self._initial_credentials(before, province, hashes)
        except Exception:
            log.exception("credentials of new agents not set")

    async def _initial_credentials(
        self, before: Province, after: Province, hashes: Mapping[str, str] | None
    ) -> None:
        """Initial passwords of people new at this site (existing passwords are kept);
        they must be changed at the first sign-in. The hashes are not in the directory a
        site receives: they come beside a snapshot (``hashes``), or are asked of the hub
        (GetSnapshot as this site) when a new person of the site has no credential."""
        site = self.ctx.site_id
        known = {a.id for a in before.agents if a.home_site == site}
        store = self.ctx.store
        wanted = [
            a
            for a in after.agents_at(site)
            if (a.id not in known or (hashes and a.id in hashes))
            and await store.credential(a.id) is None
        ]
        if not wanted:
            return
        if hashes is None and any(not a.password_hash for a in wanted):
            hashes = await self._home_hashes()
        missing = [
            CredentialRecord(a.id, hashed, must_change=True)
            for a in wanted
            if (hashed := (hashes or {}).get(a.id) or a.password_hash)
        ]
        if missing:
            await store.upsert_credentials(missing)

    async def _home_hashes(self) -> dict[str, str]:
        """This site's people's password hashes, asked of the hub leader."""
        stub = hg.DirectoryStub(await self._hub_channel())
        snap = await self._call(
            stub.GetSnapshot(
                h.GetSnapshotRequest(site_id=self.ctx.site_id), timeout=self.rpc_timeout_s
            )
        )
        return dict(snap.home_password_hashes)

    def _swap(self, version: int, doc: Document, province: Province) -> None:
        core = self.ctx.core
        core.province = province
        core.policy = province.routing
        self.document, self.version = doc, version
        self._publish_version()

    def _publish_version(self) -> None:
        self.ctx.state.directory_version = self.version
        DIRECTORY_VERSION.labels(self.ctx.site_id).set(self.version)
