"""Which local process opened a TCP connection: the fault proxy's source names.

A connection accepted by a proxy is named after the process that opened it: the client
socket's inode (one ``sock_diag`` netlink query for that exact socket, or, where netlink
is unavailable, a scan of ``/proc/net/tcp``), then the ``/proc/<pid>/fd`` of the
registered processes. A connection no registered process owns is named :data:`EDGE`.

:class:`OwnerLookup` runs these lookups on a small pool of its own with a bound on the
lookups waiting and a time limit on each: when the machine is loaded and the lookups
fall behind, a connection is named :data:`EDGE` (and counted) rather than held unanswered
while its client gives up and reconnects, which used to pile sockets up by the thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

EDGE = "edge"

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_INODE_AT = 16 + 68  # netlink header, then inet_diag_msg's idiag_inode


def _diag_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """Inode of the TCP socket ``local -> remote`` by one exact sock_diag query; None if
    no such socket. Raises OSError when sock_diag is unavailable."""
    family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET

    def addr(host: str) -> bytes:
        return ipaddress.ip_address(host).packed.ljust(16, b"\0")

    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    req += struct.pack("!HH", local[1], remote[1]) + addr(local[0]) + addr(remote[0])
    req += struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    msg = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + req
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)
        nl.sendto(msg, (0, 0))
        data = nl.recv(8192)
    _, kind = struct.unpack_from("=IH", data)
    if kind == _NLMSG_ERROR or len(data) < _INODE_AT + 4:
        return None
    inode: int = struct.unpack_from("=I", data, _INODE_AT)[0]
    return inode or None


def _table_inode(local_port: int, remote_port: int) -> int | None:
    """Inode of the TCP socket ``*:local_port -> *:remote_port`` from /proc/net/tcp*."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 10:
                        continue
                    lport = int(parts[1].rsplit(":", 1)[1], 16)
                    rport = int(parts[2].rsplit(":", 1)[1], 16)
                    if lport == local_port and rport == remote_port:
                        return int(parts[9]) or None
        except OSError:
            continue
    return None


def socket_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    try:
        return _diag_inode(local, remote)
    except (OSError, ValueError):
        return _table_inode(local[1], remote[1])


class ProcessNames:
    """pid -> process name, for naming the source of a proxied connection."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._ports: dict[int, str] = {}  # local port of a drill's probe -> name it poses as
        self._lock = threading.Lock()

    def name_port(self, port: int, name: str | None) -> None:
        """Name the connections from local ``port`` (a drill's probe socket) ``name``,
        or forget the port with None."""
        with self._lock:
            if name is None:
                self._ports.pop(port, None)
            else:
                self._ports[port] = name

    def register(self, pid: int | None, name: str) -> None:
        if pid is None:
            return
        with self._lock:
            for old in [p for p, n in self._names.items() if n == name]:
                del self._names[old]
            self._names[pid] = name

    def probe(self, peer_port: int) -> str | None:
        """The name a drill gave local port ``peer_port``, if any (no /proc read)."""
        with self._lock:
            return self._ports.get(peer_port)

    def owner(self, peer: tuple[str, int], listener: tuple[str, int]) -> str:
        """Name of the process whose socket ``peer`` is connected to ``listener``."""
        probe = self.probe(peer[1])
        if probe is not None:
            return probe
        inode = socket_inode(peer, listener)
        if inode is None:
            return EDGE
        target = f"socket:[{inode}]"
        with self._lock:
            names = dict(self._names)
        for pid, name in names.items():
            fd_dir = f"/proc/{pid}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                with contextlib.suppress(OSError):
                    if os.readlink(f"{fd_dir}/{fd}") == target:
                        return name
        return EDGE


class OwnerLookup:
    """Bounded, time-limited :meth:`ProcessNames.owner` lookups off the event loop.

    At most ``workers`` lookups run and ``max_pending`` wait; beyond that, or when one
    takes longer than ``timeout_s``, the connection is named :data:`EDGE` and
    ``unnamed`` counts it. A lookup that timed out still finishes in its thread (a /proc
    read cannot be interrupted) but holds no socket: the connection went on without it.
    """

    def __init__(
        self,
        names: ProcessNames,
        *,
        workers: int = 2,
        max_pending: int = 64,
        timeout_s: float = 1.0,
    ) -> None:
        self.names = names
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.unnamed = 0
        self._pending = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fault-owner")

    async def name(self, peer: tuple[str, int] | None, listener: tuple[str, int]) -> str:
        if peer is None:
            return EDGE
        probe = self.names.probe(int(peer[1]))
        if probe is not None:
            return probe
        if self._pending >= self.max_pending:
            return self._give_up(peer, "too many lookups waiting")
        self._pending += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.names.owner, peer, listener)
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            return self._give_up(peer, f"no answer in {self.timeout_s:.1f} s")

    def _done(self, _future: asyncio.Future[str]) -> None:
        self._pending -= 1

    def _give_up(self, peer: tuple[str, int], why: str) -> str:
        self.unnamed += 1
        log.warning("fault proxy: owner of %s:%d unknown (%s): named %s", *peer, why, EDGE)
        return EDGE

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
