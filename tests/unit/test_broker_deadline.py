"""The hub's transfer broker answers before its sender's deadline: a target that does not
answer (down, lease not lapsed) is given up on in time, and the target is told a deadline
inside it, so a late ACCEPTED cannot leave the call owned at both ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest

from tests.unit.site.test_site_timers import PROVINCE
from vcc_domain.clock import ManualClock
from vcc_domain.ids import new_id
from vcc_domain.province import Province
from vcc_failover.sites import SiteEndpoints
from vcc_hub.adapters.transfer_broker import TransferBroker
from vcc_proto.ports import free_port
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

SENDER_WAITS_S = 1.5


class SilentSite(sg.RemoteServicer):
    """Kunming's Remote service that never answers a transfer."""

    def __init__(self) -> None:
        self.asked: list[s.AcceptTransferRequest] = []

    async def AcceptTransfer(
        self, request: s.AcceptTransferRequest, context: grpc.aio.ServicerContext
    ) -> c.TransferResult:
        self.asked.append(request)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _province() -> Province:
    return PROVINCE


def _overflow() -> c.CallContext:
    """A Dali caller's whistle-blowing report, sent on to Kunming (it alone accepts it)."""
    return c.CallContext(
        call_id=new_id("call"),
        new_leg_id=new_id("leg"),
        from_site_id="DL",
        business_id="whistleblowing",
        leg_kind=c.LEG_KIND_OVERFLOW,
        priority=c.PRIORITY_CLASS_ORDINARY,
    )


@pytest.fixture
async def kunming() -> AsyncIterator[tuple[SilentSite, str]]:
    site = SilentSite()
    server = grpc.aio.server()
    sg.add_RemoteServicer_to_server(site, server)
    endpoint = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(endpoint)
    await server.start()
    try:
        yield site, endpoint
    finally:
        await server.stop(None)


async def test_the_broker_gives_up_before_the_senders_deadline(
    kunming: tuple[SilentSite, str],
) -> None:
    site, endpoint = kunming
    clock = ManualClock()

    broker = TransferBroker(_province, SiteEndpoints([], {"KM": endpoint}), clock)
    context = _overflow()
    try:
        result = await asyncio.wait_for(
            broker.broker(
                new_id("req"),
                context,
                "DL",
                c.TransferTarget(site_id="KM"),
                within_s=SENDER_WAITS_S,
            ),
            30,
        )
    finally:
        await broker.close()
    assert result.outcome == c.TransferResult.OUTCOME_TIMEOUT
    (asked,) = site.asked
    assert asked.deadline_ms < int(clock.now() * 1000) + int(SENDER_WAITS_S * 1000)


async def test_no_time_left_is_a_refusal_without_asking(kunming: tuple[SilentSite, str]) -> None:
    site, endpoint = kunming

    broker = TransferBroker(_province, SiteEndpoints([], {"KM": endpoint}), ManualClock())
    context = _overflow()
    try:
        result = await broker.broker(
            new_id("req"), context, "DL", c.TransferTarget(site_id="KM"), within_s=0.3
        )
    finally:
        await broker.close()
    assert result.outcome == c.TransferResult.OUTCOME_REFUSED
    assert "no time left" in result.reason and site.asked == []
