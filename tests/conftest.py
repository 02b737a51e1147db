"""Shared fixtures: real NATS, etcd and PostgreSQL servers on free loopback ports.

Every server lives in a temporary directory of its test, runs in its own process group
with a parent-death signal, and is stopped when the fixture ends (a crashed pytest takes
its servers with it). Tests that use these fixtures, and every test under
``tests/integration``, are marked ``integration``.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._helpers import tls as tls_helpers
from vcc_ops.infra import EtcdServer, NatsServer, PostgresServer
from vcc_ops.launch_tls import LaunchTls


def _cache_bytecode_outside_the_tree() -> None:
    """Let the suite's Python processes share compiled bytecode, kept out of the tree.

    The suite starts hundreds of Python processes of this project (hubs, sites, edges,
    every ``vcc`` command). With bytecode writing off (``PYTHONDONTWRITEBYTECODE``, as on
    the machines this suite runs on) each of them compiled every module it imports again:
    about a third of a second of CPU per process. Here the bytecode goes to one directory
    of this user under the temporary directory (``PYTHONPYCACHEPREFIX``), so the source
    tree stays free of ``__pycache__`` as asked, and it is reused across processes and
    runs (Python checks each file against its source's time and size).
    """
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    prefix = Path(tempfile.gettempdir()) / f"vcc-test-pycache-{os.getuid()}"
    try:
        prefix.mkdir(mode=0o700, exist_ok=True)
        mine = prefix.lstat()
    except OSError:
        return
    if not stat.S_ISDIR(mine.st_mode) or mine.st_uid != os.getuid() or mine.st_mode & 0o022:
        return  # not a private directory of this user: leave bytecode off
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    sys.pycache_prefix = str(prefix)
    sys.dont_write_bytecode = False


_cache_bytecode_outside_the_tree()

SERVER_FIXTURES = frozenset(
    {"nats_server", "etcd_server", "postgres_server", "infra_workdir", "module_nats_etcd"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        in_integration = "integration" in Path(str(item.fspath)).parts
        uses_servers = bool(SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if in_integration or uses_servers:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def infra_workdir(tmp_path: Path) -> Path:
    """A fresh directory for server data and logs (kept by pytest for post-mortems)."""
    workdir = tmp_path / "infra"
    workdir.mkdir()
    return workdir


@pytest.fixture
def nats_server(infra_workdir: Path) -> Iterator[NatsServer]:
    """A JetStream-enabled nats-server; ``restart()`` keeps its port and store."""
    server = NatsServer(infra_workdir / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_server(infra_workdir: Path) -> Iterator[EtcdServer]:
    """A single-member etcd; ``endpoint`` is ``127.0.0.1:PORT``."""
    server = EtcdServer(infra_workdir / "etcd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_nats_etcd(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NatsServer, EtcdServer]]:
    """A NATS and an etcd shared by the tests of one module (one started province per
    module)."""
    workdir = tmp_path_factory.mktemp("infra")
    nats = NatsServer(workdir / "nats")
    nats.start()
    try:
        etcd = EtcdServer(workdir / "etcd")
        etcd.start()
        try:
            yield nats, etcd
        finally:
            etcd.stop()
    finally:
        nats.stop()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL per test module; use ``create_database`` for isolation.

    Its directory is not under pytest's base temp: run as root, PostgreSQL runs as its own
    user and must traverse every directory above its data, and any pytest session starting
    on the machine makes ``/tmp/pytest-of-<user>`` private again (0700), which broke
    initdb mid-run ("pg_control: Permission denied") when two sessions overlapped.
    """
    workdir = Path(tempfile.mkdtemp(prefix="vcc-test-postgres-"))
    server = PostgresServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def province_pki() -> LaunchTls:
    """The session's province PKI (one CA; a certificate per identity on first use): every
    hub, site and edge process tests start serves mutual TLS with its own certificate, and
    the tests call as the operator tool (see ``tests/integration/_helpers/tls.py``)."""
    return tls_helpers.authority()
