"""The fault-injecting proxy against a real TCP echo server on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from vcc_ops.drills.proxy import EDGE, FaultNet, ProcessNames
from vcc_ops.infra.ports import free_port


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A threaded echo server on 127.0.0.1."""
    server = socket.create_server(("127.0.0.1", 0))
    port = int(server.getsockname()[1])
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield port
    stop.set()
    server.close()


@pytest.fixture
def net() -> Iterator[FaultNet]:
    faults = FaultNet()
    yield faults
    faults.stop()


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def _is_closed(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b""
    except OSError:
        return True


def test_forwards_then_cut_closes_and_refuses_then_restore(net: FaultNet, echo_port: int) -> None:
    address = net.add("echo", free_port(), ("127.0.0.1", echo_port))
    sock = _connect(address)
    payload = os.urandom(200_000)
    assert _roundtrip(sock, payload) == payload
    assert net.connections() == [(EDGE, "echo")]

    rule = net.cut(dst="echo")
    assert _is_closed(sock)  # the existing connection was closed
    refused = _connect(address)  # the listener accepts, then drops at once
    assert _is_closed(refused)

    net.restore(rule)
    again = _connect(address)
    assert _roundtrip(again, b"back") == b"back"
    for s in (sock, refused, again):
        s.close()


def test_rules_match_the_source_process(net: FaultNet, echo_port: int) -> None:
    net.names.register(os.getpid(), "site-KM")
    address = net.add("hub-1", free_port(), ("127.0.0.1", echo_port))
    sock = _connect(address)
    assert _roundtrip(sock, b"hello") == b"hello"
    assert net.connections() == [("site-KM", "hub-1")]

    net.cut(src="site-QJ", dst="hub-*")  # another site: ours is untouched
    assert _roundtrip(sock, b"still") == b"still"
    net.cut(src="site-KM", dst="hub-*")
    assert _is_closed(sock)
    net.restore()
    fresh = _connect(address)
    assert _roundtrip(fresh, b"ok") == b"ok"
    sock.close()
    fresh.close()


def test_blackhole_keeps_the_socket_silent_and_slow_delays(net: FaultNet, echo_port: int) -> None:
    address = net.add("nats0", free_port(), ("127.0.0.1", echo_port))
    sock = _connect(address)
    assert _roundtrip(sock, b"a") == b"a"
    rule = net.cut(dst="nats0", mode="blackhole")
    sock.settimeout(0.5)
    sock.sendall(b"lost")
    with pytest.raises(TimeoutError):
        sock.recv(10)  # open, but nothing comes back
    net.restore(rule)
    assert _is_closed(sock)  # wedged connections are dropped on restore

    net.slow(300, dst="nats0")
    fresh = _connect(address)
    started = time.monotonic()
    assert _roundtrip(fresh, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.3  # both ways delayed: a lower bound only
    fresh.close()


def test_a_named_local_port_poses_as_a_process(net: FaultNet, echo_port: int) -> None:
    address = net.add("nats0", free_port(), ("127.0.0.1", echo_port))
    host, port = address.rsplit(":", 1)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    net.names.name_port(int(probe.getsockname()[1]), "site-DL")
    probe.settimeout(5)
    probe.connect((host, int(port)))
    plain = _connect(address)  # from an unnamed port: the edge
    assert _roundtrip(probe, b"hi") == b"hi" and _roundtrip(plain, b"hi") == b"hi"
    assert net.connections() == [(EDGE, "nats0"), ("site-DL", "nats0")]

    net.cut(src="site-*", dst="nats*")  # the probe is cut as the site would be
    assert _is_closed(probe)
    assert _roundtrip(plain, b"still") == b"still"
    net.names.name_port(int(probe.getsockname()[1]), None)
    probe.close()
    plain.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client killed mid-connection does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_every_accepted_socket_is_closed_however_its_client_leaves(
    net: FaultNet, echo_port: int
) -> None:
    address = net.add("etcd0", free_port(), ("127.0.0.1", echo_port))
    baseline = _open_fds()

    for i in range(150):
        sock = _connect(address)
        if i % 3 == 0:
            assert _roundtrip(sock, b"ping") == b"ping"
            sock.close()
        elif i % 3 == 1:
            sock.close()  # gone before the proxy named it, or right after
        else:
            _reset(sock)
    rule = net.cut(dst="etcd0")
    for i in range(60):  # refused while cut: the listener accepts, then drops
        sock = _connect(address)
        if i % 2:
            sock.close()
        else:
            _reset(sock)
    assert _wait_until(lambda: net.stats["refused"] >= 60), net.stats
    net.restore(rule)
    last = _connect(address)
    assert _roundtrip(last, b"back") == b"back"
    last.close()

    assert _wait_until(lambda: net.connections() == [] and _open_fds() <= baseline), (
        net.connections(),
        _open_fds(),
        baseline,
    )


def test_a_side_that_never_closes_does_not_keep_the_other(echo_port: int) -> None:
    """The client closes; the server ignores the end of stream and keeps its socket open:
    the proxy still closes both its sockets after the half-close grace."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            held.append(conn)  # never read, never closed

    threading.Thread(target=accept, daemon=True).start()
    net = FaultNet(half_close_s=0.3)
    try:
        address = net.add("hub-1", free_port(), ("127.0.0.1", int(server.getsockname()[1])))
        baseline = _open_fds()
        sock = _connect(address)
        sock.sendall(b"request")
        assert _wait_until(lambda: len(held) == 1 and net.connections() == [(EDGE, "hub-1")])
        sock.close()
        assert _wait_until(lambda: net.connections() == [])
        # Left: the server's own socket only (the proxy's two and the client's are gone).
        assert _wait_until(lambda: _open_fds() <= baseline + 1), (_open_fds(), baseline)
        assert held[0].recv(100) == b"request"
    finally:
        net.stop()
        for conn in held:
            conn.close()
        server.close()


class _StuckNames(ProcessNames):
    """Owner lookups that never answer, as /proc reads queued on a loaded machine."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def owner(self, peer: tuple[str, int], listener: tuple[str, int]) -> str:
        self.release.wait(30)
        return "site-KM"


def test_a_lookup_that_falls_behind_names_the_connection_edge(echo_port: int) -> None:
    names = _StuckNames()
    net = FaultNet(names, owner_timeout_s=0.2)
    try:
        address = net.add("etcd1", free_port(), ("127.0.0.1", echo_port))
        baseline = _open_fds()
        socks = [_connect(address) for _ in range(5)]
        for sock in socks:  # forwarded all the same, named as the module documents
            assert _roundtrip(sock, b"hi") == b"hi"
        assert net.connections() == [(EDGE, "etcd1")] * 5
        assert net.stats["unnamed"] == 5
        for sock in socks:
            sock.close()
        assert _wait_until(lambda: _open_fds() <= baseline), (_open_fds(), baseline)
    finally:
        names.release.set()
        net.stop()
