"""One real province for every module of this package, started once: NATS, etcd and
PostgreSQL; the hub on PostgreSQL; Kunming on SQLite and Dali on PostgreSQL, each a
separate process. Quality inspection, assessment, satisfaction, callbacks, outages,
scheduling, which city serves what and the shift handover are all tested through the
public gRPC API of these processes (the site-side ones on both databases where they hold
data of their own).

The province file is a test-only variation of the example: suggestions are accepted in
Qujing and Dali only (Qujing, the nearer to Kunming, is not running), whistle-blowing
reports in Qujing only. Nothing else the tests use depends on those two businesses.

The tests share the processes, so each uses its own agents and callers, and an agent a
test signed in is signed out after it (see :func:`km`, :func:`dl`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client
from vcc_ops.infra import EtcdServer, NatsServer, PostgresServer, free_port

SUGGESTION = 'kind = "suggestion"\nskill = "general"\n'
WHISTLE = 'accepting_sites = ["KM"]'


def varied(text: str) -> str:
    """Suggestions in Qujing and Dali only; whistle-blowing in Qujing only."""
    assert SUGGESTION in text and WHISTLE in text
    text = text.replace(SUGGESTION, SUGGESTION + 'accepting_sites = ["QJ", "DL"]\n', 1)
    return text.replace(WHISTLE, 'accepting_sites = ["QJ"]', 1)


@pytest.fixture(scope="package")
def metrics_port() -> int:
    """Kunming's Prometheus port."""
    return free_port()


@pytest.fixture(scope="package")
def province(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[Province]:
    tmp = tmp_path_factory.mktemp("province-work")
    # PostgreSQL's directory is outside pytest's base temp (see tests/conftest.py)
    pg_dir = Path(tempfile.mkdtemp(prefix="vcc-test-postgres-"))
    servers = (NatsServer(tmp / "nats"), EtcdServer(tmp / "etcd"), PostgresServer(pg_dir))
    nats_server, etcd_server, pg = servers
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, pg_dir, ignore_errors=True)
        with ThreadPoolExecutor(len(servers)) as pool:  # independent: start them at once
            starts = [pool.submit(srv.start) for srv in servers]
        for srv in servers:
            stack.callback(srv.stop)
        for started in starts:
            started.result()
        yield stack.enter_context(
            linked_province(
                tmp,
                nats_server.url,
                etcd_server.endpoint,
                edit=varied,
                km_env={"VCC_METRICS_PORT": str(metrics_port)},
                hub_db=pg.create_database("hub"),
                dl_db=pg.create_database("site_dl"),
            )
        )


async def _closed(client: Client) -> None:
    """Sign out the agents the test signed in (the next test's calls must not reach
    them), then close the channels."""
    for desk in client.desks:
        try:
            await desk.stub.Logout(desk.ref(), timeout=10)
        except grpc.aio.AioRpcError:
            pass  # already signed out, or the session is gone
    await client.close()


@pytest.fixture
async def km(province: Province) -> AsyncIterator[Client]:
    client = Client(province.km.target)
    try:
        yield client
    finally:
        await _closed(client)


@pytest.fixture
async def dl(province: Province) -> AsyncIterator[Client]:
    client = Client(province.dl.target)
    try:
        yield client
    finally:
        await _closed(client)
