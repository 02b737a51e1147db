"""rtpengine as a site's media relay and recorder, in userspace (no kernel module).

It listens for NG control (bencode over UDP) on a free loopback port and relays RTP on
a small port range of its own. Calls told to ``start recording`` are written by the
daemon itself as one pcap file per call (``--recording-method=pcap``), under
``<recording_dir>/pcaps``, with the call's metadata under ``<recording_dir>/metadata``:
no separate recording daemon is needed.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from vcc_ops.infra.ports import HOST
from vcc_ops.infra.process import ManagedProcess, ServerProcess, StartupError
from vcc_site.sip.ng import NgClient

INSTALL_HINT = "apt-get install -y rtpengine-daemon (rtpengine, userspace only)"


def rtpengine_binary() -> str:
    found = shutil.which("rtpengine") or (
        "/usr/bin/rtpengine" if Path("/usr/bin/rtpengine").exists() else None
    )
    if found is None:
        raise StartupError(f"rtpengine not found: {INSTALL_HINT}")
    return found


def free_udp_port() -> int:
    """A loopback UDP port free now (the NG port is UDP; TCP checks say nothing of it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_udp_range(size: int) -> int:
    """The first of ``size`` consecutive loopback UDP ports, all free now."""
    for _ in range(50):
        first = free_udp_port() & ~1
        if first + size > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((HOST, port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise StartupError(f"no {size} consecutive free UDP ports on {HOST}")


class RtpEngine(ServerProcess):
    """One rtpengine in the foreground: NG control on ``ng_port``, RTP on its own range."""

    def __init__(
        self, workdir: Path | str, rtp_ports: int = 40, recording_dir: Path | None = None
    ) -> None:
        self.workdir = Path(workdir)
        # a site's recordings folder (VCC_RECORDINGS_DIR), where the site files them
        self.recording_dir = recording_dir or self.workdir / "recordings"
        self.rtp_ports = rtp_ports
        self._pick_ports()
        self._proc: ManagedProcess | None = None

    def _pick_ports(self) -> None:
        self.ng_port = free_udp_port()
        self.port_min = free_udp_range(self.rtp_ports)

    @property
    def client(self) -> NgClient:
        return NgClient(HOST, self.ng_port)

    @property
    def pcap_dir(self) -> Path:
        return self.recording_dir / "pcaps"

    def launch(self) -> None:
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            rtpengine_binary(),
            "--foreground",
            "--log-stderr",
            "--table=-1",  # userspace forwarding: no kernel module, no capabilities
            f"--interface={HOST}",
            f"--listen-ng={HOST}:{self.ng_port}",
            f"--port-min={self.port_min}",
            f"--port-max={self.port_min + self.rtp_ports - 1}",
            f"--recording-dir={self.recording_dir}",
            "--recording-method=pcap",
            "--recording-format=eth",
            f"--pidfile={self.workdir / 'rtpengine.pid'}",
            "--delete-delay=0",
            "--log-level=6",
        ]
        self._proc = ManagedProcess("rtpengine", argv, self.workdir / "rtpengine.log")
        self._proc.start()

    def healthy(self) -> bool:
        return self.client.ping()

    def describe(self) -> str:
        return f"rtpengine NG on {HOST}:{self.ng_port} (RTP {self.port_min}+{self.rtp_ports})"

    def _move_ports(self) -> bool:
        self._pick_ports()
        return True
