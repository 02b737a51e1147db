"""Free loopback TCP ports, reserved across every vcc process on this machine.

The kernel picks a free port when a socket binds to port 0; the port is released again
so that a server (often another process, seconds later) can bind it. In that window a
second test run, benchmark or ``vcc up`` on the same machine could be handed the same
number, and one of the two servers would answer the other's clients. So each port handed
out is also written down, for ``RESERVATION_S`` seconds, as a file named after it in a
directory shared by all processes; a port written down by anyone else is skipped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
# Long enough for a process to start and bind the port it was given (a cold Python
# start on a loaded machine takes seconds); after that the bound port is not free.
RESERVATION_S = 300.0
ATTEMPTS = 200

_lock = threading.Lock()
_handed_out: set[int] = set()


def reservation_dir() -> Path:
    """Where reservations live (``VCC_PORT_RESERVATIONS`` overrides; shared by default)."""
    given = os.environ.get("VCC_PORT_RESERVATIONS", "")
    return Path(given) if given else Path(tempfile.gettempdir()) / "vcc-port-reservations"


def _reserve(directory: Path, port: int, now: float) -> bool:
    """Write the reservation of ``port`` unless somebody else holds a recent one."""
    path = directory / str(port)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            return False  # released in between; another candidate will do
        if age < RESERVATION_S:
            return False
        # An old reservation: its server has bound the port long ago or never will.
        with contextlib.suppress(OSError):
            os.utime(path, (now, now))
            return True
        return False
    with os.fdopen(fd, "w") as out:
        out.write(f"{os.getpid()}\n")
    return True


def _kernel_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that was free a moment ago and that no other vcc process on
    this machine was handed in the last ``RESERVATION_S`` seconds."""
    directory = reservation_dir()
    try:
        directory.mkdir(mode=0o1777, parents=True, exist_ok=True)
        shared = True
    except OSError:
        shared = False  # an unwritable temp dir: fall back to this process's own memory
    for _ in range(ATTEMPTS):
        port = _kernel_port(host)
        with _lock:
            if port in _handed_out:
                continue
            if shared and not _reserve(directory, port, time.time()):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port found after {ATTEMPTS} attempts")
