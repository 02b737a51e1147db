"""A real site process serves the metrics an operator's board is built from.

Two calls queue at KM's general business (a VIP customer, an ordinary caller); the
ordinary caller hangs up in the queue, the VIP is answered. The site's ``/metrics`` then
shows one answer wait for the VIP tier, one abandon for the ordinary tier, and the
gRPC calls by method and status code.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration._helpers.site import Client, SiteProcess, until
from vcc_ops.infra import free_port
from vcc_proto.v1 import site_pb2 as s
from vcc_site.store.customers import phone_for

VIP = phone_for("0871", 0)
STRANGER = "13700009999"
GENERAL_A = "KM-0131"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[SiteProcess, str]]:
    """The site process and its metrics endpoint."""
    proc, port = SiteProcess(tmp_path), free_port()
    proc.proc.argv += ["--metrics-port", str(port)]
    proc.start()
    try:
        yield proc, f"127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture
async def client(site: tuple[SiteProcess, str]) -> AsyncIterator[Client]:
    cl = Client(site[0].target)
    try:
        yield cl
    finally:
        await cl.close()


def _samples(endpoint: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        (x.name, frozenset(x.labels.items())): x.value
        for family in text_string_to_metric_families(text)
        for x in family.samples
    }


def _get(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def _true(value: bool) -> bool:
    return value


async def test_answer_wait_abandons_and_grpc_metrics(
    site: tuple[SiteProcess, str], client: Client
) -> None:
    agent = await client.login(GENERAL_A)
    vip = await client.offer(VIP, "1000", "0")
    other = await client.offer(STRANGER, "1000", "0")
    assert vip.WhichOneof("next") == other.WhichOneof("next") == "queued"
    await client.access.HangUp(s.CallRef(call_id=other.call_id))  # abandons in the queue
    await agent.ready()
    await until(lambda: _true(vip.call_id in agent.offers()), "the VIP's offer")
    await agent.answer(vip.call_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agent.answer(vip.call_id)  # answered already: refused
    await agent.hang_up(vip.call_id)

    got = _samples(site[1])
    general = {"site": "KM", "business": "general"}
    assert _get(got, "vcc_site_answer_wait_seconds_count", **general, tier="vip") == 1
    assert _get(got, "vcc_site_answer_wait_seconds_count", **general, tier="ordinary") == 0
    assert _get(got, "vcc_site_answer_wait_seconds_bucket", **general, tier="vip", le="+Inf") == 1
    assert _get(got, "vcc_site_calls_abandoned_total", **general, tier="ordinary") == 1
    assert _get(got, "vcc_site_calls_abandoned_total", **general, tier="vip") == 0
    assert _get(got, "vcc_site_service_level_target", **general, tier="vip", within_s="20.0") == 0.9
    answer = {
        "grpc_type": "unary",
        "grpc_service": "vcc_proto.v1.AgentDesk",
        "grpc_method": "Answer",
    }
    assert _get(got, "grpc_server_handled_total", **answer, grpc_code="OK") == 1
    assert (
        _get(got, "grpc_server_handled_total", **answer, grpc_code=refused.value.code().name) == 1
    )
    assert _get(got, "grpc_server_handling_seconds_count", **answer) == 2
    events = {
        "grpc_type": "server_stream",
        "grpc_service": "vcc_proto.v1.AgentDesk",
        "grpc_method": "Events",
    }
    assert (_get(got, "grpc_server_msg_sent_total", **events) or 0) >= 1
