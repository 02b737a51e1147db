"""Hub leader election on etcd, with the fencing token every leader write carries.

Protocol (key :data:`~vcc_failover.locator.LEADER_KEY`, value JSON
``{"node", "grpc", "token"}``):

* **Campaign.** A hub that sees no leader key grants a lease (TTL ``ttl_s``, about 2 s)
  and runs one transaction: *create the key with that lease if it does not exist*
  (``create_revision == 0``). The winner's **fencing token is the key's create
  revision**: etcd revisions only grow, so every later leader holds a larger token. The
  winner then rewrites the value with its token (guarded by the same create revision).
* **Lead.** The leader refreshes its lease every third of the TTL and checks the key is
  still its own. It believes it leads only until ``sent_at + TTL`` of its last
  acknowledged refresh (``sent_at`` is taken *before* the request, so the belief always
  ends no later than etcd's lease does). A refused refresh, a vanished key, another
  node's key, or no acknowledged refresh within the TTL (a paused or partitioned process)
  makes it step down at once: :attr:`is_leader` turns False and :meth:`require` raises
  :class:`~vcc_domain.errors.NotLeader`. After stepping down it revokes its lease (best
  effort) and becomes a follower again.
* **Follow.** A follower reads the key every ``poll_s`` (200 ms), remembers the leader's
  endpoint (for NotLeader answers) and campaigns as soon as the key is gone.
* **Resign.** :meth:`stop` deletes the key if it is still ours and revokes the lease, so a
  standby takes over without waiting for the TTL.

The time-based part of the rules is the pure :class:`LeaderTerm`, checked by a Hypothesis
state machine in ``tests/unit/test_election_logic.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from etcd3aio import Etcd3Client

from vcc_domain.errors import NotLeader
from vcc_failover.aio import cancel_and_wait
from vcc_failover.lease import ETCD_ERRORS, lease_ttl_seconds, new_client
from vcc_failover.locator import LEADER_KEY

log = logging.getLogger(__name__)

Clock = Callable[[], float]


# -- the pure rules ----------------------------------------------------------------------


@dataclass
class LeaderTerm:
    """What one node believes about its own leadership, as a function of time.

    Pure: every method takes the current monotonic time. ``valid_until`` only moves
    forward within one term, and only to ``sent_at + ttl`` of a refresh etcd acknowledged,
    where ``sent_at`` is read before the request left: etcd's lease outlives the belief.
    """

    ttl: float
    leading: bool = False
    token: int = 0
    valid_until: float = 0.0

    def won(self, token: int, sent_at: float) -> None:
        """The create transaction that produced ``token`` was sent at ``sent_at``."""
        if token <= self.token:
            raise ValueError(f"fencing token {token} does not exceed {self.token}")
        self.leading = True
        self.token = token
        self.valid_until = sent_at + self.ttl

    def refreshed(self, sent_at: float) -> None:
        """etcd acknowledged a lease refresh sent at ``sent_at`` (lease still alive)."""
        if self.leading:
            self.valid_until = max(self.valid_until, sent_at + self.ttl)

    def lost(self) -> None:
        """The lease or the key is gone, or another node holds the key."""
        self.leading = False
        self.valid_until = 0.0

    def is_leader(self, now: float) -> bool:
        return self.leading and now < self.valid_until

    def expired(self, now: float) -> bool:
        """Leading in name, but the last refresh is older than the TTL: step down."""
        return self.leading and now >= self.valid_until


@dataclass(frozen=True)
class LeaderRecord:
    node: str
    grpc: str
    token: int
    create_revision: int

    @classmethod
    def parse(cls, raw: bytes, create_revision: int) -> LeaderRecord:
        try:
            data = json.loads(raw)
            return cls(
                str(data.get("node", "")),
                str(data.get("grpc", "")),
                int(data.get("token", 0) or 0),
                create_revision,
            )
        except (ValueError, TypeError, AttributeError):
            return cls("", "", 0, create_revision)


@dataclass(frozen=True)
class LeadershipChange:
    """Passed to listeners whenever leading, the leader endpoint or the token changes."""

    is_leader: bool
    leader_endpoint: str
    token: int


Listener = Callable[[LeadershipChange], None]


# -- the etcd-backed election ------------------------------------------------------------


class EtcdLeadership:
    """A :class:`~vcc_failover.leadership.Leadership` elected through etcd."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        node_id: str,
        grpc_endpoint: str,
        ttl_s: float = 2.0,
        poll_s: float = 0.2,
        key: str = LEADER_KEY,
        on_elected: Callable[[int], Awaitable[None]] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.endpoints = list(endpoints)
        self.node_id = node_id
        self.grpc_endpoint = grpc_endpoint
        self.ttl = lease_ttl_seconds(ttl_s)
        self.poll_s = poll_s
        self.key = key
        self.on_elected = on_elected
        self._clock = clock
        self._term = LeaderTerm(ttl=float(self.ttl))
        self._lease_id = 0
        self._leader_endpoint = ""
        self._listeners: list[Listener] = []
        self._last_published: LeadershipChange | None = None
        self._client: Etcd3Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._hooks: set[asyncio.Future[None]] = set()
        self.elected = asyncio.Event()  # set while leading
        self.terms = 0  # how many times this node won
        self.won_at: float | None = None  # monotonic time of the latest win

    # -- Leadership protocol ------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._term.is_leader(self._clock())

    @property
    def leader_endpoint(self) -> str:
        return self.grpc_endpoint if self.is_leader else self._leader_endpoint

    @property
    def token(self) -> int:
        """The fencing token of the current (or last) term of this node."""
        return self._term.token

    def require(self) -> int:
        if self.is_leader:
            return self._term.token
        leader = self._leader_endpoint
        raise NotLeader(
            f"this hub ({self.node_id}) is not the leader; the leader is at {leader or '?'}",
            leader=leader,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        """Campaign in the background; never blocks (etcd may be down at start)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-election")

    async def stop(self) -> None:
        """Stop campaigning and resign: delete the key if it is ours, revoke the lease."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        was_leading = self._term.leading
        token = self._term.token
        self._step_down("stopping")
        if self._client is not None:
            if was_leading:
                with contextlib.suppress(*ETCD_ERRORS):
                    await self._delete_if_ours(token)
            await self._revoke()
            with contextlib.suppress(*ETCD_ERRORS):
                await self._client.close()
            self._client = None

    async def wait_leader(self, within_s: float) -> None:
        await asyncio.wait_for(self.elected.wait(), within_s)

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.poll_s
        while True:
            try:
                if self._client is None:
                    self._client = new_client(self.endpoints, rpc_max_attempts=1)
                    await self._client.connect()
                if self._term.leading:
                    await self._lead_once()
                    await self._sleep_while_leading()
                else:
                    await self._follow_once()
                    await asyncio.sleep(self.poll_s)
                backoff = self.poll_s
            except asyncio.CancelledError:
                raise
            except ETCD_ERRORS as exc:
                log.debug("election: etcd call failed: %s", _describe(exc))
                if self._term.expired(self._clock()):
                    self._step_down(f"no lease refresh within {self.ttl} s ({_describe(exc)})")
                    await self._revoke()
                await asyncio.sleep(min(backoff, self._time_left_or(backoff)))
                backoff = min(backoff * 2, 1.0)
            except Exception:
                log.exception("election loop failed; stepping down and retrying")
                self._step_down("unexpected error")
                await asyncio.sleep(1.0)

    def _time_left_or(self, default: float) -> float:
        if not self._term.leading:
            return default
        return max(0.01, self._term.valid_until - self._clock())

    async def _sleep_while_leading(self) -> None:
        """Sleep a third of the TTL, but wake at the end of the term to step down."""
        interval = self.ttl / 3
        await asyncio.sleep(max(0.01, min(interval, self._term.valid_until - self._clock())))
        if self._term.expired(self._clock()):
            self._step_down(f"no lease refresh within {self.ttl} s")
            await self._revoke()

    def _rpc_timeout(self) -> float:
        """A call's deadline: a third of the TTL, never past the end of the term."""
        limit = self.ttl / 3
        if self._term.leading:
            limit = min(limit, self._term.valid_until - self._clock())
        return max(0.05, limit)

    async def _follow_once(self) -> None:
        kv = self._kv()
        response = await kv.get(self.key, timeout=max(1.0, self.ttl / 2))
        if response.kvs:
            item = response.kvs[0]
            record = LeaderRecord.parse(item.value, int(item.create_revision))
            if record.node == self.node_id and record.create_revision == self._term.token:
                # Our own key from a term we already gave up: clear it for a fresh election.
                await self._delete_if_ours(record.create_revision)
                return
            self._set_leader_endpoint(record.grpc)
            return
        self._set_leader_endpoint("")
        await self._campaign()

    async def _campaign(self) -> None:
        client = self._client
        assert client is not None and client.lease is not None and client.kv is not None
        kv = client.kv
        timeout = max(1.0, self.ttl / 2)
        sent_at = self._clock()
        grant = await client.lease.grant(self.ttl, timeout=timeout)
        self._lease_id = int(grant.ID)
        try:
            response = await kv.txn(
                compare=[kv.txn_compare_create_revision(self.key, 0)],
                success=[kv.txn_op_put(self.key, self._value(0), lease=self._lease_id)],
                failure=[kv.txn_op_get(self.key)],
                timeout=timeout,
            )
        except BaseException:
            await self._revoke()
            raise
        if not response.succeeded:
            await self._revoke()
            kvs = response.responses[0].response_range.kvs if response.responses else []
            if kvs:
                record = LeaderRecord.parse(kvs[0].value, int(kvs[0].create_revision))
                self._set_leader_endpoint(record.grpc)
            return
        token = int(response.header.revision)
        if token <= self._term.token:
            log.error(
                "election: etcd revision %d does not exceed our previous token %d; "
                "was etcd reset? refusing to lead",
                token,
                self._term.token,
            )
            await self._revoke()
            return
        # Write our token into the value, only while the key is still the one we created.
        with contextlib.suppress(*ETCD_ERRORS):
            await kv.txn(
                compare=[kv.txn_compare_create_revision(self.key, token)],
                success=[kv.txn_op_put(self.key, self._value(token), lease=self._lease_id)],
                timeout=max(0.05, sent_at + self.ttl / 2 - self._clock()),
            )
        if self.on_elected is not None:
            # Before we say we lead (e.g. move the database fence to our token, so that a
            # deposed leader's late write is refused from the moment we lead).
            # Never cancelled (a database transaction cut mid-way may keep its locks): if
            # it is slow it finishes in the background while we already lead.
            hook = asyncio.ensure_future(self.on_elected(token))
            self._hooks.add(hook)
            hook.add_done_callback(self._hook_done)
            await asyncio.wait({hook}, timeout=self.ttl / 3)
            if not hook.done():
                log.warning("election: on_elected hook for token %d still running", token)
        if sent_at + self.ttl <= self._clock():
            log.warning("election: took too long to take office; campaigning again")
            await self._revoke()
            return
        self._term.won(token, sent_at)
        self.terms += 1
        self.won_at = self._clock()
        log.info("hub %s is the leader (fencing token %d)", self.node_id, token)
        self._publish()

    async def _lead_once(self) -> None:
        client = self._client
        assert client is not None and client.lease is not None and client.kv is not None
        sent_at = self._clock()
        alive = await self._keepalive(client, self._rpc_timeout())
        if not alive:
            self._step_down("lease expired")
            await self._revoke()
            return
        self._term.refreshed(sent_at)
        response = await client.kv.get(self.key, timeout=self._rpc_timeout())
        if not response.kvs or int(response.kvs[0].create_revision) != self._term.token:
            self._step_down("leader key gone or held by another hub")
            if response.kvs:
                item = response.kvs[0]
                self._set_leader_endpoint(
                    LeaderRecord.parse(item.value, int(item.create_revision)).grpc
                )
            await self._revoke()
            return
        self._publish()

    async def _keepalive(self, client: Etcd3Client, within_s: float) -> bool:
        assert client.lease is not None
        call = client.lease.keep_alive(self._lease_id)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the result, and stop() would then wait forever.
            async with asyncio.timeout(within_s):
                response = await call.read()
        finally:
            call.cancel()
        if response is grpc.aio.EOF:
            raise TimeoutError("keep-alive stream closed without a response")
        return int(response.TTL) > 0

    # -- helpers ------------------------------------------------------------------------

    def _kv(self) -> Any:
        assert self._client is not None and self._client.kv is not None
        return self._client.kv

    def _value(self, token: int) -> str:
        return json.dumps({"node": self.node_id, "grpc": self.grpc_endpoint, "token": token})

    async def _delete_if_ours(self, token: int) -> None:
        kv = self._kv()
        await kv.txn(
            compare=[kv.txn_compare_create_revision(self.key, token)],
            success=[kv.txn_op_delete(self.key)],
            timeout=1.0,
        )

    async def _revoke(self) -> None:
        """Give up our lease (deleting our key, if any); best effort."""
        lease_id, self._lease_id = self._lease_id, 0
        if not lease_id or self._client is None or self._client.lease is None:
            return
        with contextlib.suppress(*ETCD_ERRORS):
            await self._client.lease.revoke(lease_id, timeout=1.0)

    def _hook_done(self, hook: asyncio.Future[None]) -> None:
        self._hooks.discard(hook)
        if not hook.cancelled() and hook.exception() is not None:
            # Still lead: every write carries the token and advances the fence itself.
            log.warning("election: on_elected hook failed: %s", hook.exception())

    def _step_down(self, reason: str) -> None:
        if self._term.leading:
            log.warning("hub %s steps down (token %d): %s", self.node_id, self._term.token, reason)
        self._term.lost()
        self._publish()

    def _set_leader_endpoint(self, endpoint: str) -> None:
        self._leader_endpoint = endpoint
        self._publish()

    def _publish(self) -> None:
        leading = self.is_leader
        if leading:
            self.elected.set()
        else:
            self.elected.clear()
        change = LeadershipChange(leading, self.leader_endpoint, self._term.token)
        if change == self._last_published:
            return
        self._last_published = change
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("leadership listener failed")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
