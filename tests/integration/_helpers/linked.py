"""A hub and two linked sites (KM, DL) as real processes on real NATS and etcd, for the
cross-site transfer and consultation tests."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.site import SiteProcess, fast_province
from vcc_ops.infra import ManagedProcess, free_port
from vcc_proto.server import check_health

START_TIMEOUT_S = 90.0


class HubProc:
    def __init__(
        self, tmp: Path, nats_url: str, etcd: str, site_endpoints: str, db: str = ""
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "hub",
            "--province",
            str(fast_province(tmp)),
            "--data-dir",
            str(tmp / "data"),
            "--nats",
            nats_url,
            "--etcd",
            etcd,
            "--db",
            db or f"sqlite:///{tmp / 'hub.db'}",
            "--grpc-port",
            str(self.port),
            "--node-id",
            "hub-x",
            "--log-file",
            str(tmp / "hub.log"),
            *test_tls.node_args("hub", "hub-x"),
        ]
        env = {**os.environ, "VCC_SITE_ENDPOINTS": site_endpoints}
        self.db_url = db or f"sqlite:///{tmp / 'hub.db'}"
        self.proc = ManagedProcess("hub", argv, tmp / "hub.out", env=env)

    def start(self) -> HubProc:
        self.proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not asyncio.run(
            check_health(self.target, timeout_s=1.0, tls=test_tls.client(), pid=self.proc.pid)
        ):
            if not self.proc.alive:
                raise AssertionError(f"hub exited: {self.proc.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError("hub not healthy in time")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """The hub database's rows (``?`` placeholders, SQLite or PostgreSQL)."""
        return db_rows(self.db_url, sql, *args)


def db_rows(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` (``?`` placeholders) in the database of SQLAlchemy ``url``, SQLite
    or PostgreSQL; none while the table is not created yet."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return []
        with sqlite3.connect(path, timeout=30) as conn:
            try:
                return conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        try:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), args).fetchall()]
        except psycopg.errors.UndefinedTable:
            return []


class LinkedSite(SiteProcess):
    """A site process on real NATS and etcd that uses a fixed hub endpoint."""

    def __init__(
        self,
        tmp: Path,
        site: str,
        nats_url: str,
        etcd: str,
        env: dict[str, str] | None = None,
        db_url: str | None = None,
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        super().__init__(tmp, site=site, ring_s=10, db_url=db_url)
        self.db_path = tmp / "site.db"
        self.nats_url, self.etcd, self.env = nats_url, etcd, env or {}

    def link(self, hub: str) -> LinkedSite:
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "site",
            "--site",
            self.site,
            "--province",
            str(self.province),
            "--data-dir",
            str(self.tmp / "data"),
            "--nats",
            self.nats_url,
            "--etcd",
            self.etcd,
            "--hub",
            hub,
            "--db",
            self.db_url,
            "--grpc-port",
            str(self.port),
            "--seed-customers",
            "40",
            "--log-file",
            str(self.tmp / "site.log"),
            *test_tls.node_args("site", f"site-{self.site}", self.site),
        ]
        self.proc = ManagedProcess(
            f"site-{self.site}", argv, self.tmp / "site.out", env={**os.environ, **self.env}
        )
        return self

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """The site database's rows (``?`` placeholders, SQLite or PostgreSQL)."""
        return db_rows(self.db_url, sql, *args)


@dataclass
class Province:
    hub: HubProc
    km: LinkedSite
    dl: LinkedSite


@contextmanager
def linked_province(
    tmp_path: Path,
    nats_url: str,
    etcd: str,
    dl_env: dict[str, str] | None = None,
    edit: Callable[[str], str] | None = None,
    km_env: dict[str, str] | None = None,
    hub_db: str = "",
    dl_db: str | None = None,
) -> Iterator[Province]:
    """Hub + KM + DL (``dl_env``, ``km_env``: extra environment of DL, KM; ``edit``: a
    change of the province file every node loads; ``hub_db``, ``dl_db``: the hub's and
    DL's database URLs, default SQLite; both sites start at once, once the hub is up),
    stopped at the end."""
    km = LinkedSite(tmp_path / "km", "KM", nats_url, etcd, km_env)
    dl = LinkedSite(tmp_path / "dl", "DL", nats_url, etcd, dl_env, dl_db)
    hub = HubProc(tmp_path / "hub", nats_url, etcd, f"KM={km.target},DL={dl.target}", hub_db)
    if edit is not None:
        for path in (km.province, dl.province, tmp_path / "hub" / "province.toml"):
            path.write_text(edit(path.read_text()))
    hub.start()
    started: list[LinkedSite] = []
    try:
        for site in (km, dl):  # both start at once
            site.link(hub.target).launch()
            started.append(site)
        for site in started:
            site.wait_healthy()
        yield Province(hub, km, dl)
    finally:
        for site in started:
            site.stop()
        hub.stop()
