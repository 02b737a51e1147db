"""Real hub and site processes wired to real NATS and etcd (multi-site tests)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.site import fast_province
from vcc_ops.infra import ManagedProcess, free_port
from vcc_proto.server import check_health

START_TIMEOUT_S = 90.0


class Node:
    """A ``vcc hub`` or ``vcc site`` process with its own SQLite database, serving mutual
    TLS with the certificate ``tls_args`` give it (None: plaintext, ``--insecure``)."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        argv_tail: list[str],
        db: Path,
        env: dict[str, str] | None = None,
        tls_args: list[str] | None = None,
    ) -> None:
        self.tmp, self.name, self.db_path = tmp, name, db
        self.secure = tls_args is not None
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            *argv_tail,
            "--province",
            str(fast_province(tmp)),
            "--data-dir",
            str(tmp / f"{name}-data"),
            "--db",
            f"sqlite:///{db}",
            "--grpc-port",
            str(self.port),
            "--log-file",
            str(tmp / f"{name}.log"),
            *(["--insecure"] if tls_args is None else tls_args),
        ]
        self.proc = ManagedProcess(
            name, argv, tmp / f"{name}.out", env={**os.environ, **(env or {})}
        )

    def launch(self) -> Node:
        self.proc.start()
        return self

    async def healthy(self) -> Node:
        deadline = time.monotonic() + START_TIMEOUT_S
        tls = test_tls.client() if self.secure else None  # None: the process's (plaintext)
        while not await check_health(self.target, timeout_s=1.0, tls=tls, pid=self.proc.pid):
            if not self.proc.alive:
                raise AssertionError(f"{self.name} exited: {self.proc.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not healthy in time")
            await asyncio.sleep(0.1)
        return self

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql, args).fetchall()

    def stop(self) -> None:
        self.proc.stop(timeout=20)


def hub_node(tmp: Path, nats: str, etcd: str, name: str = "hub", insecure: bool = False) -> Node:
    """A hub (``insecure``: in plaintext, for what cannot present a certificate yet)."""
    tail = ["hub", "--nats", nats, "--etcd", etcd, "--node-id", name]
    tls_args = None if insecure else test_tls.node_args("hub", name)
    return Node(tmp, name, tail, tmp / f"{name}.db", tls_args=tls_args)


def site_node(
    tmp: Path,
    site: str,
    nats: str,
    etcd: str,
    hub: str = "",
    customers: int = 40,
    env: dict[str, str] | None = None,
    insecure: bool = False,
) -> Node:
    """A site (``insecure``: in plaintext, for what cannot present a certificate yet)."""
    tail = [
        "site",
        "--site",
        site,
        "--nats",
        nats,
        "--etcd",
        etcd,
        "--seed-customers",
        str(customers),
    ]
    if hub:
        tail += ["--hub", hub]
    tls_args = None if insecure else test_tls.node_args("site", f"site-{site}", site)
    return Node(tmp, f"site-{site}", tail, tmp / f"site-{site}.db", env, tls_args)
