"""Free loopback TCP ports.

The kernel picks a port by binding to port 0; we release it and hand it out. Another
process may grab it before the server binds it, so servers retry their start on fresh
ports when they did not get a fixed one. Ports handed out by this process are remembered
so two servers of one test run never receive the same number.
"""

from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that was free a moment ago and not given out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free TCP port found after 100 attempts")


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
