"""A real site process driven over gRPC on a real database (SQLite and PostgreSQL):
routing by the rules of DOMAIN.md §3, the IVR, PIN lockout, wrap-up, and bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration._helpers.hook import Hook, set_pin
from tests.integration._helpers.site import ENDED, QUEUED, Client, SiteProcess, until
from vcc_ops.infra import PostgresServer
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.store.customers import phone_for

KM_AREA = "0871"
VIP, BLACKLIST, HIGH, MIDDLE = (phone_for(KM_AREA, i) for i in range(4))
GENERAL_A, GENERAL_B, GENERAL_TOP = "KM-0131", "KM-0133", "KM-0134"  # general levels 3, 3, 5
BILLING_L2, BILLING_L4, BILLING_L5 = "KM-0001", "KM-0009", "KM-0025"


def stranger(n: int) -> str:
    """A caller who is not a customer of the site: an ordinary caller."""
    return f"1370000{n:04d}"


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    """Where the sites send one-time PIN codes (their notifier's webhook)."""
    h = Hook()
    yield h
    h.close()


@pytest.fixture(params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path: Path, hook: Hook) -> Iterator[SiteProcess]:
    db_url = None
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        db_url = pg.create_database(f"site_{abs(hash(request.node.name)) % 10**8}")
    env = {"VCC_NOTIFY_WEBHOOK": hook.url}
    proc = SiteProcess(tmp_path, db_url=db_url, env=env).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(site: SiteProcess) -> AsyncIterator[Client]:
    cl = Client(site.target)
    try:
        yield cl
    finally:
        await cl.close()


async def serve(desk: Any, call_id: str) -> s.AgentStatus:
    """Answer, talk, hang up and wrap up one call; returns the agent's status after."""
    await desk.answer(call_id)
    await desk.hang_up(call_id)
    return await desk.wrap_up(call_id)


async def test_vip_first_then_by_tier_and_blacklist_last(client: Client) -> None:
    agent = await client.login(GENERAL_A)
    callers = [BLACKLIST, stranger(1), VIP, stranger(2), MIDDLE]
    calls = {}
    for caller in callers:
        step = await client.offer(caller, "1000", "0")
        assert step.WhichOneof("next") == "queued"
        calls[caller] = step.call_id
    expected = [VIP, MIDDLE, stranger(1), stranger(2), BLACKLIST]
    status = await agent.ready()
    served = []
    for _ in expected:
        assert status.state == s.AGENT_STATE_RINGING
        served.append(status.call_id)
        status = await serve(agent, status.call_id)
    assert served == [calls[c] for c in expected]
    assert status.state == s.AGENT_STATE_READY


async def test_transferred_call_goes_ahead_of_vip(client: Client) -> None:
    first, second = await client.login(GENERAL_A), await client.login(GENERAL_B)
    status = await first.ready()
    assert status.state == s.AGENT_STATE_READY
    ordinary = (await client.offer(stranger(3), "1000", "0")).call_id
    await until(lambda: _rings(first, ordinary), "the call to ring at the first agent")
    await first.answer(ordinary)
    vip = (await client.offer(VIP, "1000", "0")).call_id
    assert await client.state_of(vip) == QUEUED
    result = await client.desk.Transfer(
        s.TransferRequest(
            session_token=first.token,
            call_id=ordinary,
            target=c.TransferTarget(business_id="general"),
            note="caller asked for billing",
        )
    )
    assert result.outcome == c.TransferResult.OUTCOME_ACCEPTED
    status = await second.ready()
    assert status.call_id == ordinary, "the transferred call is served before the VIP"
    view = await second.answer(ordinary)
    assert view.priority == c.PRIORITY_CLASS_TRANSFERRED
    await until(lambda: _has_offer(second, ordinary), "the transferred offer event")
    offer = next(e.offer for e in second.events if e.HasField("offer"))
    assert (
        offer.kind == c.LEG_KIND_TRANSFER and "caller asked for billing" in offer.screen_pop.notes
    )


async def _rings(desk: Any, call_id: str) -> bool:
    return call_id in desk.offers()


async def _has_offer(desk: Any, call_id: str) -> bool:
    return call_id in desk.offers()


async def test_specialist_preferred_then_general_agent(client: Client) -> None:
    specialist, general = await client.login(BILLING_L4), await client.login(GENERAL_TOP)
    await general.ready()
    await specialist.ready()
    one = await client.offer(stranger(4), "1000", "1")  # 1 = bills -> billing skill
    assert one.WhichOneof("next") == "connected" and one.connected.agent_id == BILLING_L4
    two = await client.offer(stranger(5), "1000", "1")
    assert two.WhichOneof("next") == "connected" and two.connected.agent_id == GENERAL_TOP


async def test_vip_gets_the_highest_level_agent(client: Client) -> None:
    low, high = await client.login(BILLING_L2), await client.login(BILLING_L5)
    await low.ready()  # idle longest: an ordinary caller would get it
    await high.ready()
    vip = await client.offer(VIP, "1000", "1")
    assert vip.connected.agent_id == BILLING_L5
    ordinary = await client.offer(stranger(6), "1000", "1")
    assert ordinary.connected.agent_id == BILLING_L2


async def test_ring_no_answer_requeues_at_head_and_agent_goes_not_ready(client: Client) -> None:
    sleepy = await client.login(GENERAL_A)
    await sleepy.ready()
    first = (await client.offer(stranger(7), "1000", "0")).call_id
    assert first in sleepy.offers() or await until(lambda: _rings(sleepy, first), "an offer")
    second = (await client.offer(stranger(8), "1000", "0")).call_id  # waits behind
    assert await client.state_of(second) == QUEUED
    await until(lambda: _state_is(client, first, QUEUED), "the ring limit to requeue the call")
    no_answer = (s.AGENT_STATE_NOT_READY, s.NOT_READY_REASON_RING_NO_ANSWER)
    await until(lambda: _true(no_answer in sleepy.states()), "the agent to be made not-ready")
    other = await client.login(GENERAL_B)
    status = await other.ready()
    assert status.call_id == first, "the requeued call is at the head of its class"


async def _state_is(client: Client, call_id: str, state: int) -> bool:
    return await client.state_of(call_id) == state


async def _true(value: bool) -> bool:
    return value


async def test_invalid_keys_reprompt_then_agent(client: Client) -> None:
    step = await client.offer(stranger(9), "1000")
    assert step.WhichOneof("next") == "collect"
    step = await client.digits(step.call_id, "9")
    assert step.WhichOneof("next") == "collect"
    assert any("按键无效" in p.text for p in step.prompts)
    assert any("Invalid key" in p.text for p in step.prompts)
    step = await client.digits(step.call_id, "8")
    assert step.WhichOneof("next") == "collect"
    step = await client.digits(step.call_id, "7")
    assert step.WhichOneof("next") == "queued", "after 3 invalid keys the caller goes to an agent"
    view = await client.call(step.call_id)
    assert [p.node_id for p in view.ivr_path][:3] == ["main", "main", "main"]


async def test_pin_set_from_own_line_then_lockout(client: Client, hook: Hook) -> None:
    caller = phone_for(KM_AREA, 5)
    texts = await set_pin(client, hook, caller, "246813")  # the code sent to the own line
    assert "PIN is set" in texts, texts
    for attempt in range(5):
        step = await client.offer(caller, "170", "1", "111111")
        texts = " ".join(p.text for p in step.prompts)
        assert "Wrong PIN" in texts, (attempt, texts)
        if step.WhichOneof("next") != "queued":
            await client.access.HangUp(s.CallRef(call_id=step.call_id))
    assert step.WhichOneof("next") == "queued", "the fifth wrong PIN locks and hands to an agent"
    step = await client.offer(caller, "170", "1", "246813")  # right PIN, but locked
    texts = " ".join(p.text for p in step.prompts)
    assert "locked" in texts and "balance" not in texts


async def test_right_pin_reads_the_bill(client: Client, hook: Hook) -> None:
    caller = phone_for(KM_AREA, 6)
    assert "PIN is set" in await set_pin(client, hook, caller, "975318")
    step = await client.offer(caller, "170", "1", "975318")
    texts = " ".join(p.text for p in step.prompts)
    assert "latest bill" in texts and "yuan" in texts


async def test_wrap_up_then_automatic_ready(client: Client) -> None:
    agent = await client.login(GENERAL_A)
    await agent.ready()
    call_id = (await client.offer(stranger(10), "1000", "0")).call_id
    await until(lambda: _rings(agent, call_id), "the offer")
    await agent.answer(call_id)
    view = await client.access.HangUp(s.CallRef(call_id=call_id))  # the caller hangs up
    assert view.state == ENDED
    await until(lambda: _true((s.AGENT_STATE_WRAP_UP, 0) in agent.states()), "wrap-up")
    await until(
        lambda: _true(agent.states()[-1] == (s.AGENT_STATE_READY, 0)),
        "automatic ready after the wrap-up time",
    )


async def _code(coro: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro
    return err.value.code()


async def test_bad_input_gets_a_precise_status_and_changes_nothing(client: Client) -> None:
    acc = client.access
    assert (
        await _code(acc.SendDigits(s.SendDigitsRequest(call_id="call_nope", digits="1")))
        == grpc.StatusCode.NOT_FOUND
    )
    step = await client.offer(stranger(11), "1000")
    assert await _code(client.digits(step.call_id, "abc")) == grpc.StatusCode.INVALID_ARGUMENT
    assert await client.state_of(step.call_id) == c.CALL_STATE_IVR
    assert await _code(client.offer("1" * 40, "1000")) == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await _code(
            acc.OfferCall(
                s.OfferCallRequest(
                    caller_number=stranger(12), dialed_code="1000", entry_site_id="XX"
                )
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    assert await _code(client.login("NOBODY-1")) == grpc.StatusCode.UNAUTHENTICATED
    agent = await client.login(GENERAL_A)
    assert await _code(client.login(GENERAL_A)) == grpc.StatusCode.FAILED_PRECONDITION
    assert await _code(agent.answer(step.call_id)) == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await _code(client.desk.SetReady(s.SessionRef(session_token="forged")))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert (
        await _code(
            client.desk.WrapUp(
                s.WrapUpRequest(session_token=agent.token, call_id=step.call_id, notes="x" * 5000)
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    for _ in range(2):
        assert (
            await _code(client.login(GENERAL_B, "wrong-password"))
            == grpc.StatusCode.UNAUTHENTICATED
        )
    with pytest.raises(grpc.aio.AioRpcError) as locked:
        await client.login(GENERAL_B, "wrong-password")
    assert locked.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "locked until" in (locked.value.details() or "")
    assert await _code(client.login(GENERAL_B)) == grpc.StatusCode.PERMISSION_DENIED
    assert await client.state_of(step.call_id) == c.CALL_STATE_IVR


async def test_hang_up_racing_an_answer_ends_the_call_once(client: Client) -> None:
    agent = await client.login(GENERAL_A)
    await agent.ready()
    for n in range(5):
        call_id = (await client.offer(stranger(20 + n), "1000", "0")).call_id
        await until(lambda cid=call_id: _rings(agent, cid), "the offer")
        answer, hang = await asyncio.gather(
            agent.answer(call_id),
            client.access.HangUp(s.CallRef(call_id=call_id)),
            return_exceptions=True,
        )
        assert not isinstance(hang, BaseException), hang
        assert hang.state == ENDED
        if isinstance(answer, BaseException):  # the hang-up won: nothing to answer
            assert isinstance(answer, grpc.aio.AioRpcError)
            assert answer.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert hang.answered_at_ms == 0
        else:  # the answer won: the call was talked, then ended; the agent wraps up
            assert hang.answered_at_ms > 0
            await agent.wrap_up(call_id)
        assert await client.state_of(call_id) == ENDED
    await until(lambda: _true(agent.states()[-1][0] == s.AGENT_STATE_READY), "agent ready")
