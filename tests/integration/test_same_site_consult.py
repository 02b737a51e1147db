"""Consultation within one site: a real site process (KM, SQLite), agents over gRPC.

The consulting agent holds the caller and opens a consult leg of the SAME call to another
agent of the site (by business, or a named agent), who is offered it with kind CONSULT:

(cancel)     the leg ends, the caller is back with the consulting agent;
(transfer)   the consulted agent takes the call over (the consulting agent wraps up);
(conference) all three, then the consulting agent leaves and the consulted agent keeps
             the caller;
(caller)     the caller hangs up during the consultation: the leg ends too;
(refusals)   a named agent not logged in is REFUSED (caller held with the consulting
             agent), an unknown agent NOT_FOUND, yourself INVALID_ARGUMENT.

Every call has one owner throughout and ends with exactly ONE CDR; no agent's legs
overlap (no agent holds two calls at once).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.site import Client, Desk, SiteProcess, until
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A, KM_B, KM_C = "KM-0131", "KM-0133", "KM-0135"
R = c.TransferResult
Phase = s.ConsultEvent


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteProcess]:
    proc = SiteProcess(tmp_path, ring_s=10).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def km(site: SiteProcess) -> AsyncIterator[Client]:
    client = Client(site.target)
    try:
        yield client
    finally:
        await client.close()


def _consult(desk: Desk, call_id: str, *, agent: str = "", business: str = "") -> s.TransferRequest:
    target = c.TransferTarget(agent_id=agent) if agent else c.TransferTarget(business_id=business)
    return s.TransferRequest(
        session_token=desk.token, call_id=call_id, target=target, note="a question"
    )


def _complete(desk: Desk, call_id: str, mode: int) -> s.ConsultCompleteRequest:
    return s.ConsultCompleteRequest(session_token=desk.token, call_id=call_id, mode=mode)


async def _true(value: bool) -> bool:
    return value


async def _idle(*desks: Desk) -> None:
    """Every desk READY (wrap-up cut short)."""
    for desk in desks:
        try:
            await desk.wrap_up(_last_call(desk))
        except grpc.aio.AioRpcError as err:  # not wrapping up
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
            try:
                await desk.ready()
            except grpc.aio.AioRpcError as err2:  # already ready
                assert err2.code() == grpc.StatusCode.FAILED_PRECONDITION, err2

        async def ready(d: Desk = desk) -> bool:
            states = [e.agent_state.state for e in d.events if e.HasField("agent_state")]
            return bool(states) and states[-1] == s.AGENT_STATE_READY

        await until(ready, f"{desk.agent_id} ready")


def _last_call(desk: Desk) -> str:
    calls = [e.offer.call_id for e in desk.events if e.HasField("offer")]
    return calls[-1] if calls else ""


async def _connected(km: Client, desks: list[Desk], n: int) -> tuple[str, Desk, Desk]:
    """A caller reaches one of the two ready agents; returns (call, owner, the other)."""
    await _idle(*desks)
    step = await km.offer(f"0871556{n:04d}", "1000", "0")
    assert step.WhichOneof("next") == "connected", step
    owner = next(d for d in desks if d.agent_id == step.connected.agent_id)
    other = next(d for d in desks if d is not owner)
    await until(lambda: _true(step.call_id in owner.offers()), "the offer")
    await owner.answer(step.call_id)
    return step.call_id, owner, other


async def _open(km: Client, owner: Desk, other: Desk, call_id: str, **target: str) -> None:
    result = await km.desk.Consult(_consult(owner, call_id, **target))
    assert result.outcome == R.OUTCOME_ACCEPTED and result.site_id == "KM", result
    assert result.agent_id == other.agent_id
    held = await km.call(call_id)
    assert held.state == c.CALL_STATE_HELD and held.agent_id == owner.agent_id
    offer = next(
        e.offer for e in other.events if e.HasField("offer") and e.offer.call_id == call_id
    )
    assert offer.kind == c.LEG_KIND_CONSULT and offer.leg_id == result.leg_id
    assert "a question" in offer.screen_pop.notes
    await other.answer(call_id)
    await until(
        lambda: _true(Phase.PHASE_CONNECTED in _phases(owner, call_id)),
        "the consulting agent hears the consulted agent answered",
    )


def _phases(desk: Desk, call_id: str) -> list[int]:
    return [
        e.consult.phase
        for e in desk.events
        if e.HasField("consult") and e.consult.call_id == call_id
    ]


def _ended_at(desk: Desk, call_id: str) -> bool:
    return any(
        e.HasField("call_state")
        and e.call_state.call_id == call_id
        and e.call_state.state == c.CALL_STATE_ENDED
        for e in desk.events
    )


async def _one_cdr(site: SiteProcess, km: Client, call_id: str) -> tuple[str, str]:
    async def ended() -> bool:
        return (await km.call(call_id)).state == c.CALL_STATE_ENDED

    await until(ended, f"the end of {call_id}")
    await until(
        lambda: _true(bool(_rows(site, "SELECT 1 FROM cdrs WHERE call_id = ?", call_id))), "the CDR"
    )
    rows = _rows(site, "SELECT outcome, agent_id FROM cdrs WHERE call_id = ?", call_id)
    assert len(rows) == 1, rows
    return rows[0]


def _rows(site: SiteProcess, sql: str, *args: object) -> list[tuple[str, ...]]:
    import sqlite3

    with sqlite3.connect(site.tmp / "site.db", timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


async def test_same_site_consultation(site: SiteProcess, km: Client) -> None:
    desks = [await km.login(KM_A), await km.login(KM_B)]

    # refusals: the caller stays held with the consulting agent
    call0, owner, other = await _connected(km, desks, 0)
    refused = await km.desk.Consult(_consult(owner, call0, agent=KM_C))
    assert refused.outcome == R.OUTCOME_REFUSED and "not logged in" in refused.reason
    assert (await km.call(call0)).state == c.CALL_STATE_HELD
    assert Phase.PHASE_REFUSED in _phases(owner, call0)
    for agent, code in (
        ("KM-9999", grpc.StatusCode.NOT_FOUND),
        (owner.agent_id, grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await km.desk.Consult(_consult(owner, call0, agent=agent))
        assert err.value.code() == code, agent
    await owner.hang_up(call0)
    assert await _one_cdr(site, km, call0) == ("answered", owner.agent_id)

    # (cancel), by business: the caller is back with the consulting agent
    call1, owner, other = await _connected(km, desks, 1)
    await _open(km, owner, other, call1, business="general")
    view = await km.desk.ConsultComplete(_complete(owner, call1, s.CONSULT_MODE_CANCEL))
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == owner.agent_id
    await until(lambda: _true(_ended_at(other, call1)), "the consult leg ends")
    await owner.hang_up(call1)
    assert await _one_cdr(site, km, call1) == ("answered", owner.agent_id)

    # (transfer), to a named agent: the consulted agent takes the call over
    call2, owner, other = await _connected(km, desks, 2)
    await _open(km, owner, other, call2, agent=other.agent_id)
    view = await km.desk.ConsultComplete(_complete(owner, call2, s.CONSULT_MODE_TRANSFER))
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == other.agent_id
    await until(
        lambda: _true(Phase.PHASE_TRANSFERRED in _phases(owner, call2)),
        "the consulting agent hears of the transfer",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # no longer the consulting agent's
        await owner.hang_up(call2)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await other.hang_up(call2)
    assert await _one_cdr(site, km, call2) == ("answered", other.agent_id)
    legs = _rows(
        site,
        "SELECT agent_id, kind, site_id, home_site FROM legs WHERE call_id = ? "
        "ORDER BY offered_at_ms",
        call2,
    )
    assert legs == [
        (owner.agent_id, "initial", "KM", "KM"),
        (other.agent_id, "consult", "KM", "KM"),
    ]

    # (conference): all three, then the consulting agent leaves
    call3, owner, other = await _connected(km, desks, 3)
    await _open(km, owner, other, call3, agent=other.agent_id)
    view = await km.desk.ConsultComplete(_complete(owner, call3, s.CONSULT_MODE_CONFERENCE))
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == owner.agent_id
    await owner.hang_up(call3)
    view = await km.call(call3)
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == other.agent_id
    await other.hang_up(call3)
    assert await _one_cdr(site, km, call3) == ("answered", other.agent_id)

    # (caller): the caller hangs up during the consultation; the leg ends with the call
    call4, owner, other = await _connected(km, desks, 4)
    await _open(km, owner, other, call4, business="general")
    await km.access.HangUp(s.CallRef(call_id=call4))
    await until(lambda: _true(_ended_at(other, call4)), "the consult leg ends with the call")
    assert await _one_cdr(site, km, call4) == ("answered", owner.agent_id)

    # no agent held two calls at once; no call row besides the five calls
    legs = _rows(
        site,
        "SELECT agent_id, offered_at_ms, ended_at_ms, call_id FROM legs "
        "WHERE agent_id != '' ORDER BY agent_id, offered_at_ms",
    )
    for (a1, _, end1, one), (a2, start2, _, two) in itertools.pairwise(legs):
        if a1 == a2:
            assert end1 and int(end1) <= int(start2), f"{a1} on {one} and {two} at once"
    assert len(_rows(site, "SELECT call_id FROM calls")) == 5
