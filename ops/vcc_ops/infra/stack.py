"""NATS, etcd and (on request) PostgreSQL together, stopped together whatever happens."""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol

from vcc_ops.infra.access import ProvinceAccess
from vcc_ops.infra.etcd import EtcdCluster, EtcdServer
from vcc_ops.infra.nats import NatsCluster, NatsServer
from vcc_ops.infra.postgres import PostgresServer
from vcc_proto.tls import ClientTls

log = logging.getLogger(__name__)


class _Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


@dataclass(frozen=True, slots=True)
class InfraTls:
    """The certificate directories (``vcc pki``, kind ``infra``) NATS and etcd serve TLS
    with; their clients are then given ``tls://`` and ``https://`` addresses."""

    nats: Path
    etcd: Path


class Infrastructure:
    """Context manager over the servers a province needs.

    ``with Infrastructure(tmp) as infra: ...`` starts NATS and etcd (and PostgreSQL with
    ``postgres=True``), each healthy before the block runs, and stops them on the way out,
    exceptions included. With ``access``, NATS and etcd let in only its users, each with
    its node's rights (:mod:`vcc_ops.infra.access`); with ``tls`` they serve only TLS. ``cluster=True`` starts 3 routed NATS servers (JetStream) and a
    3-member etcd cluster instead of one of each (``nats_servers``, ``etcd_members``;
    ``nats`` and ``etcd`` are then the first of each). ``stop()`` is idempotent and safe from ``atexit`` or a signal
    handler; :meth:`stop_on_exit` installs both.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        postgres: bool = False,
        nats_sync_interval: str | None = None,
        cluster: bool = False,
        access: ProvinceAccess | None = None,
        tls: InfraTls | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.cluster = cluster
        self.access = access  # one user per node on NATS and etcd; None: open servers
        self.tls = tls  # the servers' certificates; None: plaintext
        authorization = access.nats_authorization() if access is not None else ""
        etcd_dir = self.workdir / "etcd"
        auth_token = access.etcd_token_option(etcd_dir) if access is not None else ""
        if cluster:
            nats_cluster = NatsCluster(
                self.workdir / "nats",
                sync_interval=nats_sync_interval,
                authorization=authorization,
                tls_dir=tls.nats if tls else None,
            )
            self.nats_servers = nats_cluster.servers
            self.etcd_members = EtcdCluster(
                etcd_dir, auth_token=auth_token, tls_dir=tls.etcd if tls else None
            ).members
        else:
            self.nats_servers = [
                NatsServer(
                    self.workdir / "nats",
                    sync_interval=nats_sync_interval,
                    authorization=authorization,
                    tls_dir=tls.nats if tls else None,
                )
            ]
            self.etcd_members = [
                EtcdServer(etcd_dir, auth_token=auth_token, tls_dir=tls.etcd if tls else None)
            ]
        self.nats = self.nats_servers[0]
        self.etcd = self.etcd_members[0]
        self.postgres = PostgresServer(self.workdir / "pg") if postgres else None
        self._started: list[_Stoppable] = []
        self._lock = threading.Lock()

    @property
    def nats_url(self) -> str:
        """Every NATS server, comma separated (as clients take it)."""
        return ",".join(server.url for server in self.nats_servers)

    @property
    def etcd_endpoints(self) -> list[str]:
        return [member.endpoint for member in self.etcd_members]

    @property
    def postgres_url(self) -> str | None:
        return self.postgres.url if self.postgres is not None else None

    def start(self) -> Infrastructure:
        groups: list[list[NatsServer] | list[EtcdServer] | list[PostgresServer]] = [
            self.nats_servers,
            self.etcd_members,
        ]
        if self.postgres is not None:
            groups.append([self.postgres])
        try:
            for group in groups:
                if len(group) == 1:
                    with self._lock:
                        self._started.append(group[0])
                    group[0].start()
                    continue
                for server in group:  # a cluster: all members up before any is healthy
                    with self._lock:
                        self._started.append(server)
                    server.launch()
                for server in group:
                    server.wait_healthy()
            if self.access is not None:  # set up with the etcd server's own certificate
                client = ClientTls(self.tls.etcd) if self.tls is not None else None
                asyncio.run(self.access.secure_etcd(self.etcd_endpoints, client))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server started so far, last started first. Idempotent."""
        with self._lock:
            started, self._started = self._started, []
        for server in reversed(started):
            try:
                server.stop()
            except Exception:
                log.exception("stopping %r failed", server)

    def stop_on_exit(self) -> None:
        """Stop on interpreter exit and turn SIGTERM/SIGHUP into SystemExit (main thread)."""
        atexit.register(self.stop)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def __enter__(self) -> Infrastructure:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
