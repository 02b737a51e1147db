"""NATS, etcd and (on request) PostgreSQL together, stopped together whatever happens."""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol

from vcc_ops.infra.etcd import EtcdServer
from vcc_ops.infra.nats import NatsServer
from vcc_ops.infra.postgres import PostgresServer

log = logging.getLogger(__name__)


class _Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


class Infrastructure:
    """Context manager over the servers a province needs.

    ``with Infrastructure(tmp) as infra: ...`` starts NATS and etcd (and PostgreSQL with
    ``postgres=True``), each healthy before the block runs, and stops them on the way out,
    exceptions included. ``stop()`` is idempotent and safe from ``atexit`` or a signal
    handler; :meth:`stop_on_exit` installs both.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        postgres: bool = False,
        nats_sync_interval: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.nats = NatsServer(self.workdir / "nats", sync_interval=nats_sync_interval)
        self.etcd = EtcdServer(self.workdir / "etcd")
        self.postgres = PostgresServer(self.workdir / "pg") if postgres else None
        self._started: list[_Stoppable] = []
        self._lock = threading.Lock()

    @property
    def nats_url(self) -> str:
        return self.nats.url

    @property
    def etcd_endpoints(self) -> list[str]:
        return [self.etcd.endpoint]

    @property
    def postgres_url(self) -> str | None:
        return self.postgres.url if self.postgres is not None else None

    def start(self) -> Infrastructure:
        servers: list[NatsServer | EtcdServer | PostgresServer] = [self.nats, self.etcd]
        if self.postgres is not None:
            servers.append(self.postgres)
        try:
            for server in servers:
                with self._lock:
                    self._started.append(server)
                server.start()
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
