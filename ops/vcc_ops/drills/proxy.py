"""A fault-injecting TCP proxy placed in every connection path of a local province.

Every server a province process connects to (each NATS node, each etcd member, each hub,
each site) gets one listening proxy in front of it; processes are given the proxies'
addresses instead of the servers' (hubs and sites *advertise* a proxy: they listen on
``127.0.0.1:P`` and the proxy listens on ``PROXY_HOST:P``). On every accepted connection
the proxy finds which process opened it (the client socket's inode in ``/proc/net/tcp``,
looked up in the ``/proc/<pid>/fd`` of the registered processes), so faults are rules
over *(source, destination)* names with shell patterns: ``cut(src="site-KM",
dst="hub-*")`` cuts KM from the hubs and nothing else. The access edge process is
registered as ``edge``; a connection from an unregistered process (the drill's own agent
bots and callers) is named ``edge`` too, unless
the drill named its local port (:meth:`ProcessNames.name_port`: a probe that measures a
link as a given process sees it).

* ``cut`` closes matching connections and refuses new ones (``mode="refuse"``), or keeps
  them open and forwards nothing (``mode="blackhole"``: the peer sees a silent link).
* ``slow(ms)`` delays every forwarded chunk by ``ms`` milliseconds, order kept.
* ``restore()`` removes rules (all, or those of one source/destination).

Every accepted socket is closed: when it is refused or its upstream cannot be reached,
when either side resets it, when a cut drops it, and at most ``half_close_s`` after
either side ended its stream. Naming a connection is bounded (:class:`OwnerLookup`): a
lookup that falls behind names it ``edge`` rather than holding it.

The proxies run on their own event loop in a daemon thread, so a synchronous launcher
and an asyncio drill can both drive them; every control method is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vcc_ops.drills.owners import EDGE, OwnerLookup, ProcessNames

__all__ = ["EDGE", "PROXY_HOST", "FaultNet", "ProcessNames", "Rule"]

log = logging.getLogger(__name__)

PROXY_HOST = "127.0.0.2"  # the whole 127/8 is loopback on Linux
CHUNK = 65536
# Once one side of a connection has closed, the other gets this long to finish before the
# proxy closes both: none of the proxied protocols half-closes, and a side that never
# answers an end of stream must not keep the closed side's socket (CLOSE-WAIT) for good.
HALF_CLOSE_S = 5.0
CONNECT_TIMEOUT_S = 5.0  # to the upstream server; the accepted socket is closed after it
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rule:
    action: str  # "refuse" | "blackhole" | "slow"
    src: str = "*"
    dst: str = "*"
    delay_ms: float = 0.0

    def matches(self, src: str, dst: str) -> bool:
        return fnmatch.fnmatchcase(src, self.src) and fnmatch.fnmatchcase(dst, self.dst)


@dataclass(eq=False)
class _Conn:
    src: str
    dst: str
    writers: list[asyncio.StreamWriter]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    finished: int = 0  # directions that reached end of stream
    linger: asyncio.TimerHandle | None = None  # closes a half-closed connection

    def close(self) -> None:
        if self.linger is not None:
            self.linger.cancel()
        for task in self.tasks:
            task.cancel()
        for writer in self.writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class FaultNet:
    """Every proxy of one province and the fault rules over them."""

    def __init__(
        self,
        names: ProcessNames | None = None,
        *,
        owner_timeout_s: float = 1.0,
        half_close_s: float = HALF_CLOSE_S,
    ) -> None:
        self.names = names or ProcessNames()
        self.owners = OwnerLookup(self.names, timeout_s=owner_timeout_s)
        self.half_close_s = half_close_s
        self.rules: list[Rule] = []
        self._conns: set[_Conn] = set()
        self._servers: dict[str, list[asyncio.Server]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-net", daemon=True
        )
        self._thread.start()
        self.stats: dict[str, int] = {"accepted": 0, "refused": 0, "closed_by_cut": 0, "unnamed": 0}

    # -- thread plumbing --------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def _sync(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run())

    # -- proxies ----------------------------------------------------------------------

    def add(
        self, dst: str, listen_port: int, upstream: tuple[str, int], listen_host: str = PROXY_HOST
    ) -> str:
        """Listen on ``listen_host:listen_port`` and forward to ``upstream``; the
        connections are named ``dst``. Returns the proxy's ``host:port``."""

        async def start() -> None:
            server = await asyncio.start_server(
                lambda r, w: self._accept(r, w, dst, upstream),
                listen_host,
                listen_port,
                reuse_address=True,
            )
            self._servers.setdefault(dst, []).append(server)

        self._call(start())
        return f"{listen_host}:{listen_port}"

    def stop(self) -> None:
        async def close_all() -> None:
            for conn in list(self._conns):
                self._drop(conn)
            for servers in self._servers.values():
                for server in servers:
                    server.close()
            self._servers.clear()

        if self._loop.is_running():
            self._call(close_all())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self.owners.close()

    # -- rules ------------------------------------------------------------------------

    def cut(self, src: str = "*", dst: str = "*", mode: str = "refuse") -> Rule:
        if mode not in ("refuse", "blackhole"):
            raise ValueError(f"cut mode must be refuse or blackhole, not {mode!r}")
        rule = Rule(mode, src, dst)

        def apply() -> None:
            self.rules.append(rule)
            if mode == "refuse":
                for conn in [c for c in self._conns if rule.matches(c.src, c.dst)]:
                    self.stats["closed_by_cut"] += 1
                    self._drop(conn)

        self._sync(apply)
        log.warning("fault: cut %s -> %s (%s)", src, dst, mode)
        return rule

    def slow(self, delay_ms: float, src: str = "*", dst: str = "*") -> Rule:
        rule = Rule("slow", src, dst, float(delay_ms))
        self._sync(lambda: self.rules.append(rule))
        log.warning("fault: slow %s -> %s by %.0f ms", src, dst, delay_ms)
        return rule

    def restore(self, rule: Rule | None = None) -> None:
        """Remove one rule, or every rule; blackholed connections are closed (their
        peers reconnect), so nothing stays wedged after a restore."""

        def apply() -> None:
            removed = [rule] if rule is not None else list(self.rules)
            self.rules = [r for r in self.rules if r not in removed]
            for conn in list(self._conns):
                if any(r.action == "blackhole" and r.matches(conn.src, conn.dst) for r in removed):
                    self._drop(conn)

        self._sync(apply)
        log.warning("fault: restored %s", rule or "every link")

    def _blocked(self, src: str, dst: str) -> str | None:
        for rule in self.rules:
            if rule.action != "slow" and rule.matches(src, dst):
                return rule.action
        return None

    def _delay_s(self, src: str, dst: str) -> float:
        return (
            max(
                (r.delay_ms for r in self.rules if r.action == "slow" and r.matches(src, dst)),
                default=0.0,
            )
            / 1000.0
        )

    def connections(self) -> list[tuple[str, str]]:
        return self._sync(lambda: sorted((c.src, c.dst) for c in self._conns))

    # -- forwarding -------------------------------------------------------------------

    async def _accept(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        dst: str,
        upstream: tuple[str, int],
    ) -> None:
        """Name the connection, then forward it, refuse it, or (when the upstream server
        cannot be reached) close it: whatever happens, the accepted socket is closed
        unless its forwarding has started."""
        forwarding = False
        try:
            forwarding = await self._open(reader, writer, dst, upstream)
        finally:
            if not forwarding:
                writer.transport.abort()

    async def _open(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        dst: str,
        upstream: tuple[str, int],
    ) -> bool:
        peer = writer.get_extra_info("peername")
        listener = writer.get_extra_info("sockname")
        # Finding the owner reads /proc: off the loop, so established connections keep
        # flowing (a TLS handshake needs several round trips), bounded and time-limited.
        src = await self.owners.name(tuple(peer[:2]) if peer else None, tuple(listener[:2]))
        self.stats["unnamed"] = self.owners.unnamed
        if self._blocked(src, dst) is not None:
            self.stats["refused"] += 1
            return False
        if reader.at_eof():
            return False  # the client left while it was being named: nothing to forward
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*upstream), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            return False
        self.stats["accepted"] += 1
        conn = _Conn(src, dst, [writer, up_writer])
        self._conns.add(conn)
        conn.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, conn)),
            asyncio.create_task(self._pump(up_reader, writer, conn)),
        ]
        return True

    def _drop(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        conn.close()

    def _ended(self, conn: _Conn) -> None:
        """One direction reached end of stream: the other gets ``half_close_s``."""
        if conn.linger is None and conn in self._conns:
            conn.linger = asyncio.get_running_loop().call_later(self.half_close_s, self._drop, conn)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer, conn))
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self._blocked(conn.src, conn.dst) == "blackhole":
                    continue  # swallowed: the link is silent
                queue.put_nowait((time.monotonic() + self._delay_s(conn.src, conn.dst), data))
            queue.put_nowait((0.0, b""))
            self._ended(conn)
            await sender
            conn.finished += 1
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            conn.finished = 2
        finally:
            sender.cancel()
            if conn.finished >= 2:  # both directions over (or one failed): drop it
                self._drop(conn)

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        while True:
            due, data = await queue.get()
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._blocked(conn.src, conn.dst) == "blackhole":
                continue
            writer.write(data)
            await writer.drain()
