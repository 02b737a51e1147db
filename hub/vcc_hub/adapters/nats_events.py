"""The hub's consumer of site events, with gap repair.

While this hub leads, a durable pull consumer on ``VCC_SITE_EVENTS`` fetches batches;
each batch is applied in ONE fenced transaction (:mod:`vcc_hub.adapters.events_apply`; on a
SQLite file on the loop thread's own connection) and acknowledged after the commit. When leadership is lost the consumer is dropped; a
new term reloads the tracker from the database (another leader may have written).

Gap repair: every half second the open gaps of each site are checked; a gap open longer
than ``grace_s`` makes the hub ask the site (``Remote.RepublishEvents``) to publish that
range again, and the gap's timer restarts (so a site that is down is asked again later,
not in a loop). Sites are found through ``SiteDirectory`` (a static map or etcd).

An event whose payload names another site than its subject (``vcc.site.<SITE>.events``,
which only that site's NATS user may publish on) is dead-lettered at once (reason
``site``) and never applied. Dead letters: an event that cannot be decoded, or whose apply fails for a reason of its
own (a batch that fails is applied again one event at a time to find it), is delivered
again after a short delay, up to ``MAX_DELIVERIES`` times; then it is published to
``VCC_DEAD_LETTERS`` (:mod:`vcc_replication.dead_letters`), counted in
``vcc_hub_events_dead_lettered_total`` and acknowledged. Other events of its site keep
being applied meanwhile. A dead letter whose envelope gave its site and sequence is
recorded in the inbox as seen (kind ``dead_letter``), so the contiguous sequence moves
past it and gap repair does not ask for it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.errors import Fenced, NotLeader, Unavailable
from vcc_failover.leadership import Leadership
from vcc_hub.adapters.event_metrics import LAG
from vcc_hub.adapters.events_apply import (
    DeadMark,
    apply_batch,
    apply_batch_direct,
    load_tracker,
    mark_dead,
)
from vcc_proto.channels import ChannelPool
from vcc_proto.names import SITE_EVENTS_STREAM, SITE_EVENTS_SUBJECTS, SITE_KEY_PREFIX
from vcc_proto.observability import call_context
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_replication.background import BackgroundNats
from vcc_replication.db import run_transaction
from vcc_replication.dead_letters import (
    MAX_DELIVERIES,
    REDELIVER_DELAY_S,
    publish_dead_letter,
)
from vcc_replication.events import (
    MAX_REPUBLISH_RANGE,
    SITE_HEADER,
    ContiguousTracker,
    Gap,
    InvalidEvent,
    SiteEvent,
    decode,
)
from vcc_replication.jetstream import RETRYABLE
from vcc_replication.sqlite_direct import SqliteDirect
from vcc_replication.streams import DEAD_LETTER_STREAM, site_of_subject

log = logging.getLogger(__name__)

DURABLE = "vcc-hub-events"
SUBJECT_FILTER = SITE_EVENTS_SUBJECTS
MAX_REPAIR_RANGE = MAX_REPUBLISH_RANGE

APPLIED = Counter("vcc_hub_events_applied_total", "Site events applied at the hub", ["site"])
DUPLICATES = Counter(
    "vcc_hub_events_duplicate_total",
    "Site events delivered again and dropped by the inbox",
    ["site"],
)
OPEN_GAPS = Gauge("vcc_hub_open_gaps", "Missing ranges above the contiguous sequence", ["site"])
CONTIGUOUS = Gauge("vcc_hub_contiguous_seq", "Highest contiguous event sequence applied", ["site"])
DEAD_LETTERED = Counter(
    "vcc_hub_events_dead_lettered_total",
    "Site events moved to the dead letters (not decodable or not applicable)",
    ["site", "reason"],
)
REPAIRS = Counter(
    "vcc_hub_gap_repairs_total", "RepublishEvents requests sent to sites", ["site", "outcome"]
)


class SiteDirectory:
    """Where each site's gRPC endpoint is: a static map, else etcd ``/vcc/sites/<SITE>``."""

    def __init__(self, etcd_endpoints: list[str], static: dict[str, str] | None = None) -> None:
        self._etcd = etcd_endpoints
        self._static = dict(static or {})
        self._cache: dict[str, tuple[str, float]] = {}

    @staticmethod
    def parse_static(text: str) -> dict[str, str]:
        """``"KM=127.0.0.1:5001,DL=..."`` → ``{"KM": "127.0.0.1:5001", ...}``."""
        out: dict[str, str] = {}
        for part in text.split(","):
            if "=" in part:
                site, endpoint = part.split("=", 1)
                out[site.strip()] = endpoint.strip()
        return out

    async def endpoint(self, site: str) -> str:
        if site in self._static:
            return self._static[site]
        cached = self._cache.get(site)
        if cached is not None and time.monotonic() - cached[1] < 2.0:
            return cached[0]
        from vcc_failover.lease import get_prefix

        values = await get_prefix(self._etcd, SITE_KEY_PREFIX + site, retry_for_s=2.0)
        raw = values.get(SITE_KEY_PREFIX + site)
        if raw is None:
            raise Unavailable(f"site {site} is not registered in etcd", field="site")
        endpoint = str(json.loads(raw)["grpc"])
        self._cache[site] = (endpoint, time.monotonic())
        return endpoint


class EventsConsumer:
    def __init__(
        self,
        engine: AsyncEngine,
        nats: BackgroundNats,
        leadership: Callable[[], Leadership],
        clock: Clock,
        sites: SiteDirectory,
        *,
        grace_s: float = 2.0,
        batch: int = 500,
        direct: SqliteDirect | None = None,
    ) -> None:
        self._engine = engine
        self._direct = direct
        self._nats = nats
        self._leadership = leadership
        self._clock = clock
        self._sites = sites
        self.grace_s = grace_s
        self.batch = batch
        self.tracker: ContiguousTracker | None = None
        self._sub: object | None = None
        self._sub_generation = 0  # the NATS connection the subscription was made on
        self._tasks: list[asyncio.Task[None]] = []
        self._channels = ChannelPool()
        self._repairing: set[tuple[str, int]] = set()
        self._asks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._consume_forever(), name="hub-events"),
            asyncio.create_task(self._repair_forever(), name="hub-event-gaps"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._asks]:
            task.cancel()
        for task in [*self._tasks, *self._asks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()
        await self._channels.close()
        if self._direct is not None:
            await self._direct.close()

    # -- consuming --------------------------------------------------------------------

    async def _consume_forever(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except (Fenced, NotLeader) as exc:
                log.warning("events: stopped consuming: %s", exc)
                await self._drop()
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("events: consumer step failed; retrying")
                await self._drop()
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        if not self._leadership().is_leader:
            await self._drop()
            await asyncio.sleep(0.5)
            return
        if not self._nats.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nats.ready.wait(), 1.0)
            return
        if self._sub is not None and self._sub_generation != self._nats.generation:
            log.warning("events: NATS connected again; subscribing again")
            await self._drop()  # the subscription died with the old client
        if self._sub is None:
            self._sub_generation = self._nats.generation
            async with self._engine.connect() as conn:
                self.tracker = await load_tracker(conn, self._clock.monotonic())
            config = ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=SUBJECT_FILTER,
                ack_wait=10.0,
                max_ack_pending=50_000,
            )
            self._sub = await self._nats.js.pull_subscribe(
                SUBJECT_FILTER, durable=DURABLE, stream=SITE_EVENTS_STREAM, config=config
            )
            log.info("events: consuming %s as %s", SITE_EVENTS_STREAM, DURABLE)
        sub = self._sub
        try:
            msgs: list[Msg] = await sub.fetch(self.batch, timeout=1.0)  # type: ignore[attr-defined]
        except TimeoutError:
            return
        except RETRYABLE:
            await asyncio.sleep(0.2)
            return
        if msgs:
            await self._apply(msgs)

    async def _apply(self, msgs: list[Msg]) -> None:
        """Apply a batch in one transaction; if that fails for a reason of the events
        (not the database or leadership), apply them one by one so the good ones go in
        and each culprit is refused alone (redelivered, then dead-lettered)."""
        decoded: list[tuple[Msg, SiteEvent]] = []
        for msg in msgs:
            try:
                event = decode(msg.data)
            except InvalidEvent as exc:
                await self._refuse(msg, "decode", exc, exc.envelope)
                continue
            if event.site != site_of_subject(msg.subject):
                await self._refuse_foreign(msg, event)
                continue
            decoded.append((msg, event))
        if not decoded:
            return
        try:
            await self._commit([e for _, e in decoded])
        except Exception as exc:
            if systemic(exc):
                raise
            log.warning("events: a batch of %d failed (%r); applying one by one", len(decoded), exc)
            for msg, event in decoded:
                try:
                    await self._commit([event])
                except Exception as one:
                    if systemic(one):
                        raise
                    await self._refuse(msg, "apply", one, event)
                    continue
                with contextlib.suppress(Exception):
                    await msg.ack()
            return
        for msg, _ in decoded:
            with contextlib.suppress(Exception):
                await msg.ack()

    async def _commit(self, events: list[SiteEvent]) -> None:
        tracker = self.tracker
        assert tracker is not None
        token = self._leadership().require()
        now_ms = int(self._clock.now() * 1000)
        if self._direct is not None:
            new = await self._direct.transact(
                lambda conn: apply_batch_direct(conn, token, events, tracker, now_ms)
            )
        else:
            new = await run_transaction(
                self._engine, lambda conn: apply_batch(conn, token, events, tracker, now_ms)
            )
        now = self._clock.monotonic()
        fresh_ids = {e.event_id for e in new}
        debug = log.isEnabledFor(logging.DEBUG)
        for e in new:
            tracker.observe(e.site, e.seq, now)
            APPLIED.labels(e.site).inc()
            LAG.observe(e.site, (now_ms - e.at_ms) / 1000.0)
            if debug:  # the call's trail across processes, on its own log lines
                with call_context(call_of(e), site=e.site):
                    log.debug("events: applied %s #%d %s", e.site, e.seq, e.kind)
        for e in events:
            if e.event_id not in fresh_ids:
                DUPLICATES.labels(e.site).inc()
        self._figures({e.site for e in events})

    def _figures(self, sites: set[str]) -> None:
        tracker = self.tracker
        assert tracker is not None
        for site in sites:
            CONTIGUOUS.labels(site).set(tracker.contiguous(site))
            OPEN_GAPS.labels(site).set(len(tracker.gaps(site)))

    async def _refuse(self, msg: Msg, reason: str, exc: Exception, event: SiteEvent | None) -> None:
        """An event that cannot be decoded or applied: delivered again later, until the
        last allowed delivery moves it to the dead letters and acknowledges it. A dead
        letter whose envelope named its site and sequence counts as seen (the sequence
        moves on; gap repair does not ask for it again); bytes without one leave any gap
        to gap repair, which gets the site's own copy of that sequence."""
        deliveries = msg.metadata.num_delivered or 1
        if deliveries < MAX_DELIVERIES:
            log.warning(
                "events: refused a message on %s (%s, delivery %d of %d): %s",
                msg.subject,
                reason,
                deliveries,
                MAX_DELIVERIES,
                exc,
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=REDELIVER_DELAY_S)
            return
        # the subject's site first: NATS lets a site publish only on its own subject
        site = site_of_subject(msg.subject) or (
            (event.site if event is not None else "") or (msg.headers or {}).get(SITE_HEADER, "")
        )
        now_ms = int(self._clock.now() * 1000)
        await publish_dead_letter(self._nats.js, msg, site, reason, str(exc), deliveries, now_ms)
        if event is not None:
            try:
                await self._mark_dead(event, now_ms)
            except Exception as mark_exc:
                if systemic(mark_exc):
                    raise
                # e.g. an ID too long for the inbox: the letter is kept, the gap stays
                log.error(
                    "events: could not record dead-lettered %s #%d as seen: %r",
                    event.site,
                    event.seq,
                    mark_exc,
                )
        DEAD_LETTERED.labels(site, reason).inc()
        log.error(
            "events: moved a message on %s to %s after %d deliveries (%s): %s",
            msg.subject,
            DEAD_LETTER_STREAM,
            deliveries,
            reason,
            exc,
        )
        with contextlib.suppress(Exception):
            await msg.ack()

    async def _refuse_foreign(self, msg: Msg, event: SiteEvent) -> None:
        """An event whose payload names another site than the subject it came on: a node
        speaking for another. Dead-lettered at once under the publishing site's subject,
        never applied nor counted as the named site's sequence."""
        site = site_of_subject(msg.subject)
        error = f"event of site {event.site!r} published on {msg.subject}"
        now_ms = int(self._clock.now() * 1000)
        deliveries = msg.metadata.num_delivered or 1
        await publish_dead_letter(self._nats.js, msg, site, "site", error, deliveries, now_ms)
        DEAD_LETTERED.labels(site, "site").inc()
        log.error("events: moved a message to %s: %s", DEAD_LETTER_STREAM, error)
        with contextlib.suppress(Exception):
            await msg.ack()

    async def _mark_dead(self, event: SiteEvent, now_ms: int) -> None:
        tracker = self.tracker
        assert tracker is not None
        token = self._leadership().require()
        mark = DeadMark(event.site, event.seq, event.event_id, max(0, event.at_ms))
        new = await run_transaction(
            self._engine, lambda conn: mark_dead(conn, token, [mark], tracker, now_ms)
        )
        now = self._clock.monotonic()
        for m in new:
            tracker.observe(m.site, m.seq, now)
        self._figures({event.site})

    async def _drop(self) -> None:
        self.tracker = None
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # type: ignore[attr-defined]

    # -- gap repair -------------------------------------------------------------------

    async def _repair_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            tracker = self.tracker
            if tracker is None:
                continue
            now = self._clock.monotonic()
            for site in tracker.sites():
                OPEN_GAPS.labels(site).set(len(tracker.gaps(site)))
                for gap in tracker.overdue(site, now, self.grace_s)[:8]:
                    tracker.restart_timer(site, gap, now)
                    if (site, gap.first) not in self._repairing:
                        self._repairing.add((site, gap.first))
                        task = asyncio.create_task(self._ask(site, gap))
                        self._asks.add(task)
                        task.add_done_callback(self._asks.discard)

    async def _ask(self, site: str, gap: Gap) -> None:
        last = min(gap.last, gap.first + MAX_REPAIR_RANGE - 1)
        try:
            endpoint = await self._sites.endpoint(site)
            channel = self._channels.get(endpoint)
            reply = await sg.RemoteStub(channel).RepublishEvents(
                s.RepublishEventsRequest(from_seq=gap.first, to_seq=last), timeout=10.0
            )
            log.info(
                "events: asked %s to re-publish %d..%d: %d sent (lowest held %d)",
                site,
                gap.first,
                last,
                reply.count,
                reply.lowest_held_seq,
            )
            if reply.lowest_held_seq > gap.first:
                log.error(
                    "events: site %s no longer holds %d..%d; those events are lost",
                    site,
                    gap.first,
                    min(last, reply.lowest_held_seq - 1),
                )
            REPAIRS.labels(site, "ok").inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            REPAIRS.labels(site, "failed").inc()
            log.warning(
                "events: could not ask %s to re-publish %d..%d: %s", site, gap.first, last, exc
            )
        finally:
            self._repairing.discard((site, gap.first))


def systemic(exc: BaseException) -> bool:
    """A failure of the database, the broker or leadership, not of the events applied:
    the batch waits (nothing is refused or dead-lettered for it)."""
    if isinstance(
        exc,
        Fenced
        | NotLeader
        | Unavailable
        | OSError
        | TimeoutError
        | OperationalError
        | InterfaceError,
    ):
        return True
    return bool(getattr(exc, "connection_invalidated", False))


def call_of(event: SiteEvent) -> str:
    """The call an event is about ("" if none): a call event's aggregate, else the
    call its body names (a CDR, an agent's state)."""
    if event.kind.startswith(("call.", "consult.")):
        return event.aggregate_id
    body = getattr(event, event.WhichOneof("body") or "", None)
    found = getattr(body, "call_id", "") or getattr(getattr(body, "cdr", None), "call_id", "")
    return str(found)
