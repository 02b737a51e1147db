"""A call whose business only a dead site accepts: the caller's step is answered before the
access edge gives up, and the call ends with one final record at both ends.

The entry site (DL) asks the hub's broker (a fake here) to have Kunming take a
whistle-blowing report; Kunming is down with its lease not yet lapsed, so the broker never
answers. Through the real gRPC servicer and the real access edge (its routing stubbed to
the one site): the site bounds the asking by the edge's deadline and ends the call as
``not_accepted`` with the caller told; a site that stalls past the deadline anyway gets
the edge's hang-up, so its copy ends too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest

from tests.unit.site.test_site_timers import PROVINCE
from vcc_domain.clock import ManualClock
from vcc_proto.ports import free_port
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.adapters.grpc_site import AccessServicer
from vcc_site.edge.service import AccessEdge
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.deadline import answer_within
from vcc_site.service.moves import CallMoves
from vcc_site.service.moves.assigned import NOT_SERVED_PROMPT
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.service.transfer import Handoff, TransferAnswer
from vcc_site.store.memory import MemorySiteStore

CALLER = "08725550001"  # a Dali caller
EDGE_DEADLINE_S = 1.5  # the edge's deadline for each step (its default is 2 s)


class DeadBroker:
    """The hub asking a site that is down and still registered: no answer, ever."""

    def __init__(self) -> None:
        self.sent: list[Handoff] = []

    async def __call__(self, handoff: Handoff) -> TransferAnswer:
        self.sent.append(handoff)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _dali(broker: DeadBroker) -> tuple[SiteCore, AccessService]:
    core = SiteCore(PROVINCE, "DL", MemorySiteStore("DL"), ManualClock())
    await seed_site(core, 8)
    return core, AccessService(
        core, SelfService(core), moves=CallMoves(core, remote_transfer=broker)
    )


async def test_the_asking_ends_before_the_callers_deadline_and_the_caller_is_told() -> None:
    broker = DeadBroker()
    core, access = await _dali(broker)
    first = await access.offer_call(CALLER, "180")
    with answer_within(EDGE_DEADLINE_S):
        step = await asyncio.wait_for(access.send_digits(first.call_id, "2"), 30)
    assert (step.kind, step.end_reason) == ("ended", "not_accepted")
    assert step.prompts[-1] == NOT_SERVED_PROMPT
    (sent,) = broker.sent
    assert sent.target_site == "KM"
    assert sent.answer_within_s is not None and sent.answer_within_s < EDGE_DEADLINE_S
    cdr = await core.store.cdr(first.call_id)
    assert cdr is not None and cdr.outcome == "not_accepted"
    assert first.call_id not in core.calls


class StalledAccess(AccessServicer):
    """A site that stalls a caller's step (before touching the call) until released."""

    def __init__(self, access: AccessService) -> None:
        super().__init__(access)
        self.release = asyncio.Event()
        self.stalled = True

    async def SendDigits(
        self, request: s.SendDigitsRequest, context: grpc.aio.ServicerContext
    ) -> s.CallStep:
        if self.stalled:
            await self.release.wait()
        return await super().SendDigits(request, context)


@dataclass
class Pair:
    core: SiteCore
    servicer: StalledAccess
    edge: AccessEdge


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    core, access = await _dali(DeadBroker())
    servicer = StalledAccess(access)
    server = grpc.aio.server()
    sg.add_AccessServicer_to_server(servicer, server)
    endpoint = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(endpoint)
    await server.start()
    edge = AccessEdge(
        [],
        PROVINCE,
        static_endpoints={"DL": endpoint},
        rpc_timeout_s=EDGE_DEADLINE_S,
        route_refresh_s=0,
    )

    async def route(area_code: str) -> list[str]:
        return ["DL"]

    edge.route = route  # type: ignore[method-assign]
    try:
        yield Pair(core, servicer, edge)
    finally:
        servicer.release.set()
        await edge.close()
        await server.stop(None)


async def _until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return await condition()


async def test_through_the_edge_the_call_ends_with_one_final_record(pair: Pair) -> None:
    pair.servicer.stalled = False
    call, step = await pair.edge.place(CALLER, "180")
    assert step is not None and step.WhichOneof("next") == "collect"
    call, step = await pair.edge.send_digits(call.call_id, "2")
    assert step is not None and step.WhichOneof("next") == "ended"
    assert (call.state, call.reason) == ("ended", "not_accepted")
    cdr = await pair.core.store.cdr(call.call_id)
    assert cdr is not None and cdr.outcome == "not_accepted"
    assert call.call_id not in pair.core.calls


async def test_a_step_the_edge_gave_up_on_is_hung_up_at_the_site(pair: Pair) -> None:
    call, step = await pair.edge.place(CALLER, "180")
    assert step is not None
    call, step = await pair.edge.send_digits(call.call_id, "2")  # the site stalls
    assert step is None and call.state == "lost"

    async def ended_at_site() -> bool:
        return await pair.core.store.cdr(call.call_id) is not None

    assert await _until(ended_at_site)
    assert call.call_id not in pair.core.calls
    assert await _until(lambda: _true(not pair.edge.orphans.calls))
    pair.servicer.release.set()  # the stalled step finds the call ended
    cdr = await pair.core.store.cdr(call.call_id)
    assert cdr is not None and cdr.outcome != "assigned_out"  # final, at the site


async def _true(value: bool) -> bool:
    return value
