"""Attacks on a real hub by an anonymous client: each is refused with its documented
status (INVALID_ARGUMENT naming the field, FAILED_PRECONDITION) and changes nothing --
the period stays open, the directory keeps its version, the process stays up (the tests
share one hub)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.site import until
from tests.integration.test_event_replication import HubProcess
from vcc_ops.bench.directory import directory_version
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.status import from_rpc_error
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg


@pytest.fixture(scope="module")
def hub_process(
    tmp_path_factory: pytest.TempPathFactory, module_nats_etcd: tuple[NatsServer, EtcdServer]
) -> Iterator[HubProcess]:
    """One hub for the module: every attack is refused and changes nothing."""
    nats, etcd = module_nats_etcd
    proc = HubProcess(tmp_path_factory.mktemp("hub"), nats.url, etcd.endpoint).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def hub(hub_process: HubProcess) -> AsyncIterator[grpc.aio.Channel]:
    channel = test_tls.client().channel(hub_process.target)  # the operator tool
    try:
        await until(lambda: directory_version(channel), "the hub imported its province")
        yield channel
    finally:
        await channel.close()


async def _error(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the request was accepted")


async def test_closing_a_period_that_has_not_ended_is_refused(hub: grpc.aio.Channel) -> None:
    stub = hg.ReportsStub(hub)
    this_month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))  # Beijing
    for period in ("2099-01", this_month):
        err = await _error(stub.CloseSettlement(h.SettlementPeriod(period_id=period), timeout=30))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        assert from_rpc_error(err).field == "period_id"
        statement = await stub.GetStatement(h.SettlementPeriod(period_id=period), timeout=30)
        assert not statement.closed, "the period is still open"


async def test_report_ranges_are_bounded(hub: grpc.aio.Channel) -> None:
    stub = hg.ReportsStub(hub)
    now = int(time.time() * 1000)
    err = await _error(
        stub.GetReport(
            h.GetReportRequest(view=h.REPORT_VIEW_INTERVAL, from_at_ms=1, to_at_ms=now), timeout=30
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(err).field == "from_at_ms"
    err = await _error(
        stub.GetReport(
            h.GetReportRequest(view=h.REPORT_VIEW_PROVINCE, from_at_ms=now, to_at_ms=10**15),
            timeout=30,
        )
    )
    assert from_rpc_error(err).field == "to_at_ms"
    await stub.GetReport(h.GetReportRequest(view=h.REPORT_VIEW_PROVINCE), timeout=30)


async def test_deeply_nested_directory_input_is_invalid_not_internal(hub: grpc.aio.Channel) -> None:
    stub = hg.DirectoryStub(hub)
    before = await directory_version(hub)
    nested = b'{"id": "KM-X", "skills": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    change = h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=h.ENTITY_KIND_AGENT,
        entity_id="KM-X",
        entity_json=nested,
    )
    err = await _error(stub.ApplyChange(h.ApplyChangeRequest(changes=[change]), timeout=30))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert from_rpc_error(err).field == "changes[0].entity_json"
    err = await _error(
        stub.ImportProvince(
            h.ImportProvinceRequest(toml="x = " + "[" * 50_000 + "]" * 50_000), timeout=30
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert len(err.details() or "") < 2_000, "a short message, no traceback"
    assert await directory_version(hub) == before


async def test_agent_groups_cannot_expand_to_millions(hub: grpc.aio.Channel) -> None:
    stub = hg.DirectoryStub(hub)
    before = await directory_version(hub)
    group = {
        "site": "KM",
        "count": 100_000,
        "id_prefix": "KMZ",
        "role": "general",
        "general_levels": [3],
    }
    change = h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=h.ENTITY_KIND_AGENT_GROUP,
        entity_json=json.dumps(group).encode(),
    )
    err = await _error(stub.ApplyChange(h.ApplyChangeRequest(changes=[change]), timeout=30))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "count" in (from_rpc_error(err).field or ""), err.details()
    assert await directory_version(hub) == before
