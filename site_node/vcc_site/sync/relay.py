"""The site's outbox relay: every committed event goes up to the hub, in sequence order.

* **Publishing**: unsent outbox rows are read in sequence order and published to
  ``vcc.site.<SITE>.events`` with ``Nats-Msg-Id`` = event ID, many in flight at once;
  once the server acknowledged them, rows are stamped sent up to the highest *contiguous*
  acknowledged sequence (a failure in the middle leaves the rest for the next round).
  The relay wakes on every commit (``SqlSiteStore.on_commit``, the only writer of the
  outbox; the flag is cleared before each read, so a round reads once what woke it)
  and polls every second anyway, as a safety net (an idle site asked its
  database twenty times a second before). With the broker gone it simply retries; the outbox grows meanwhile and
  ``vcc_site_outbox_backlog`` shows by how much.
* **Republishing**: the hub asks for a range it misses (``Remote.RepublishEvents``); the
  rows still held are published again under a fresh message ID (the broker may still
  remember the old one after losing the message; the hub's inbox drops duplicates).
* **Confirmation and pruning**: every few seconds the relay asks the hub leader how far
  it has applied this site's events without a gap (``Replication.GetReplicationStatus``)
  and prunes rows at or below that, once older than the retention window (1 h by
  default). If the hub stays behind what was sent and does not move between two checks,
  the tail it misses is published again (a lost last event leaves no gap to see).
  An unreachable hub is tolerated: nothing is pruned.

The relay's cursor (highest contiguous sequence acknowledged by the broker) is kept in
``site_meta`` under ``relay.sent_seq``, so a restart resumes where it was (re-sending a
few events at most, which the broker and the hub both drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from prometheus_client import Counter, Gauge

from vcc_domain.errors import Unavailable
from vcc_failover.leadership import HubLocator
from vcc_proto.channels import open_channel
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_replication.background import BackgroundNats
from vcc_replication.events import encode_stored, republish_msg_id, stored, wire_headers
from vcc_replication.streams import site_events_subject
from vcc_site.store.api import OutboxRow
from vcc_site.store.sql import SqlSiteStore
from vcc_site.sync.relay_settings import DROP_EVENT_ENV as DROP_EVENT_ENV
from vcc_site.sync.relay_settings import RelaySettings as RelaySettings

log = logging.getLogger(__name__)

CURSOR_KEY = "relay.sent_seq"
PRUNE_RECHECK_S = 60.0  # an unchanged confirmation prunes again after this (rows age out)

BACKLOG = Gauge(
    "vcc_site_outbox_backlog", "Outbox events not yet acknowledged by the broker", ["site"]
)
PUBLISHED = Counter(
    "vcc_site_events_published_total", "Site events published to JetStream", ["site"]
)
REPUBLISHED = Counter(
    "vcc_site_events_republished_total",
    "Site events published again at the hub's request",
    ["site"],
)
CONFIRMED = Gauge(
    "vcc_site_hub_confirmed_seq",
    "Highest contiguous event sequence the hub has confirmed",
    ["site"],
)
PRUNED = Counter("vcc_site_outbox_pruned_total", "Outbox rows pruned after confirmation", ["site"])


def to_wire(site_id: str, row: OutboxRow) -> bytes:
    """The protobuf ``SiteEvent`` of an outbox row (its stored bytes after site and seq)."""
    e = row.event
    data = row.data or stored(e.event_id, e.kind, e.aggregate_id, e.at_ms, e.body)
    return encode_stored(site_id, row.seq, data)


class OutboxRelay:
    def __init__(
        self,
        store: SqlSiteStore,
        nats: BackgroundNats,
        site_id: str,
        hub: HubLocator | None,
        settings: RelaySettings | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.nats = nats
        self.site_id = site_id
        self.hub = hub
        self.settings = settings or RelaySettings()
        self.subject = site_events_subject(site_id)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.sent_seq = 0  # highest contiguous sequence the broker acknowledged
        self.confirmed_seq = 0  # highest contiguous sequence the hub confirmed
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: grpc.aio.Channel | None = None
        self._channel_target = ""
        self._stalled_at: int | None = None  # hub contiguous seen behind us last check
        self._pruned_upto, self._pruned_at = 0, 0  # confirmed seq and time of the last prune
        self._inbox_client: NatsClient | None = None
        self._inbox_prefix = ""
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._token = 0
        self._drop_seq = self.settings.drop_event_seq
        if self._drop_seq:
            log.error(
                "TEST-ONLY DEFECT ON: %s=%d, site %s will drop that event",
                DROP_EVENT_ENV,
                self._drop_seq,
                site_id,
            )

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        raw = await self.store.meta(CURSOR_KEY)
        self.sent_seq = int(raw) if raw else 0
        self.store.on_commit.append(self._wake.set)
        self._tasks = [
            asyncio.create_task(self._forever(self._publish_round, "publish"), name="relay"),
            asyncio.create_task(self._forever(self._status_round, "status"), name="relay-status"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.on_commit.remove(self._wake.set)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._channel is not None:
            await self._channel.close()

    async def _forever(self, step: Callable[[], Awaitable[float]], what: str) -> None:
        while True:
            try:
                pause = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay %s round failed: %s", what, exc)
                pause = 1.0
            if pause > 0:
                if what == "publish":
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
                    self._wake.clear()
                else:
                    await asyncio.sleep(pause)

    # -- publishing -------------------------------------------------------------------

    async def _publish_round(self) -> float:
        """Publish one batch; returns how long to wait before the next round."""
        if not self.nats.connected:
            return 0.5
        # a commit from now on wakes the next round; those before are in this read
        self._wake.clear()
        rows = await self.store.outbox_after(self.sent_seq, limit=self.settings.batch)
        if not rows:
            BACKLOG.labels(self.site_id).set(0)
            return self.settings.poll_s
        acked = await self._publish(rows, republish=False)
        if acked > self.sent_seq:
            await self.store.record_sent(self.sent_seq, acked, self._now_ms(), CURSOR_KEY)
            self.sent_seq = acked
        backlog = max(0, rows[-1].seq - self.sent_seq)
        if len(rows) == self.settings.batch:
            backlog = max(backlog, await self.store.last_seq() - self.sent_seq)
        BACKLOG.labels(self.site_id).set(backlog)
        if acked < rows[-1].seq:
            return 0.5  # the broker failed part of the batch: back off, then retry
        # a full batch may leave more behind it; otherwise the next commit wakes us (a
        # read right away found nothing, and then woke again for the commits it had read)
        return 0.0 if len(rows) == self.settings.batch else self.settings.poll_s

    async def _publish(self, rows: list[OutboxRow], *, republish: bool) -> int:
        """Publish ``rows`` with all in flight; the highest sequence of the acked prefix.

        Every message carries a reply subject under one inbox subscription of the relay,
        where JetStream's publish acknowledgements arrive; no per-message request object
        is needed, which is what lets one Python process sustain thousands per second.
        """
        nc = self.nats.client
        if nc is None:
            return rows[0].seq - 1
        prefix, waiters = await self._ack_inbox(nc)
        loop = asyncio.get_running_loop()
        stamp = self._now_ms()
        futures: list[asyncio.Future[None]] = []
        tokens: list[str] = []
        try:
            for row in rows:
                if row.seq == self._drop_seq:  # the test-only defect (see DROP_EVENT_ENV)
                    log.error(
                        "TEST-ONLY DEFECT: dropping event %d of site %s (%s)",
                        row.seq,
                        self.site_id,
                        row.event.event_id,
                    )
                    dropped: asyncio.Future[None] = loop.create_future()
                    dropped.set_result(None)
                    futures.append(dropped)
                    continue
                event_id = row.event.event_id
                msg_id = republish_msg_id(event_id, stamp) if republish else None
                self._token += 1
                token = f"{prefix}.{self._token}"
                future: asyncio.Future[None] = loop.create_future()
                waiters[token] = future
                tokens.append(token)
                futures.append(future)
                await nc.publish(
                    self.subject,
                    to_wire(self.site_id, row),
                    reply=token,
                    headers=wire_headers(self.site_id, row.seq, event_id, msg_id),
                )
            await nc.flush(timeout=max(1, int(self.settings.publish_timeout_s)))
            await asyncio.wait(futures, timeout=self.settings.publish_timeout_s)
        except Exception as exc:
            log.warning("relay: publishing %d events failed: %r", len(rows), exc)
        finally:
            for token in tokens:
                waiters.pop(token, None)
        acked = rows[0].seq - 1
        failures = 0
        for row, future in zip(rows, futures, strict=False):
            ok = future.done() and not future.cancelled() and future.exception() is None
            if not ok:
                failures += 1
                if failures == 1:
                    reason = (
                        future.exception()
                        if future.done() and not future.cancelled()
                        else "no acknowledgement in time"
                    )
                    log.warning("relay: publish of event %d failed: %s", row.seq, reason)
                if not future.done():
                    future.cancel()
                continue
            if failures == 0:
                acked = row.seq
        failures += len(rows) - len(futures)
        (REPUBLISHED if republish else PUBLISHED).labels(self.site_id).inc(len(rows) - failures)
        return acked

    async def _ack_inbox(self, nc: NatsClient) -> tuple[str, dict[str, asyncio.Future[None]]]:
        """The relay's acknowledgement inbox on this connection (made once per client)."""
        if self._inbox_client is nc:
            return self._inbox_prefix, self._waiters
        waiters: dict[str, asyncio.Future[None]] = {}
        prefix = nc.new_inbox()

        async def on_ack(msg: Msg) -> None:
            future = waiters.pop(msg.subject, None)
            if future is None or future.done():
                return
            data = msg.data
            if not data or b'"error"' in data:
                status = (msg.headers or {}).get("Status", "")
                future.set_exception(
                    Unavailable(f"JetStream refused the event: {data!r} {status}".strip())
                )
            else:
                future.set_result(None)

        await nc.subscribe(prefix + ".*", cb=on_ack)
        self._inbox_client, self._inbox_prefix, self._waiters = nc, prefix, waiters
        return prefix, waiters

    async def republish(self, from_seq: int, to_seq: int) -> tuple[int, int]:
        """Publish held rows in ``[from_seq, to_seq]`` again: (count, lowest held seq)."""
        first = await self.store.outbox_after(0, limit=1)
        lowest = first[0].seq if first else 0
        count = 0
        cursor = max(0, from_seq - 1)
        while cursor < to_seq:
            rows = [
                r
                for r in await self.store.outbox_after(cursor, limit=self.settings.batch)
                if r.seq <= to_seq
            ]
            if not rows:
                break
            acked = await self._publish(rows, republish=True)
            count += max(0, acked - rows[0].seq + 1)
            if acked < rows[-1].seq:
                break
            cursor = rows[-1].seq
        log.info(
            "relay: re-published %d events in %d..%d at the hub's request", count, from_seq, to_seq
        )
        return count, lowest

    # -- confirmation, pruning, tail repair ------------------------------------------

    async def _status_round(self) -> float:
        every = self.settings.status_every_s
        if self.hub is None:
            return every
        try:
            status = await self._hub_status()
        except Exception as exc:  # the hub may be gone: keep everything, ask later
            log.debug("relay: hub status unavailable: %s", exc)
            return every
        self.confirmed_seq = max(self.confirmed_seq, int(status.contiguous_seq))
        CONFIRMED.labels(self.site_id).set(self.confirmed_seq)
        confirmed = min(self.confirmed_seq, self.sent_seq)
        if confirmed > 0 and self._prune_due(confirmed):
            keep_after = self._now_ms() - int(self.settings.retention_s * 1000)
            pruned = await self.store.prune_outbox(confirmed, keep_after)
            if pruned:
                PRUNED.labels(self.site_id).inc(pruned)
        hub_seq = int(status.contiguous_seq)
        if hub_seq < self.sent_seq and int(status.highest_seq) <= hub_seq:
            if self._stalled_at == hub_seq:  # no progress since last check, nothing above
                await self.republish(hub_seq + 1, self.sent_seq)
                self._stalled_at = None
            else:
                self._stalled_at = hub_seq
        else:
            self._stalled_at = None
        return every

    def _prune_due(self, confirmed: int) -> bool:
        """Prune when the hub confirmed more, or when rows may have aged past the
        retention since the last prune (a write transaction every round was most of an
        idle site's database work)."""
        now = self._now_ms()
        recheck_ms = 1000 * min(PRUNE_RECHECK_S, self.settings.retention_s)
        if confirmed == self._pruned_upto and now - self._pruned_at < recheck_ms:
            return False
        self._pruned_upto, self._pruned_at = confirmed, now
        return True

    async def _hub_status(self) -> h.ReplicationStatus:
        assert self.hub is not None
        target = await self.hub.leader_endpoint()
        if self._channel is None or target != self._channel_target:
            if self._channel is not None:
                await self._channel.close()
            self._channel = open_channel(target)
            self._channel_target = target
        stub = hg.ReplicationStub(self._channel)
        reply: h.ReplicationStatus = await stub.GetReplicationStatus(
            h.ReplicationStatusRequest(site_id=self.site_id), timeout=self.settings.hub_timeout_s
        )
        return reply
