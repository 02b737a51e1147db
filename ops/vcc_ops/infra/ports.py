"""Free loopback TCP ports (reserved across processes, see ``vcc_proto.ports``)."""

from __future__ import annotations

import socket

from vcc_proto.ports import HOST, free_port

__all__ = ["HOST", "free_port", "port_is_open"]


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
