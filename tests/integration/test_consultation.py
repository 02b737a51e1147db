"""Cross-site consultation through the hub: real NATS, etcd, one hub and two sites (KM,
DL) on SQLite, separate processes (ARCHITECTURE §3.3, invariants 1-3).

An agent at KM holds a caller and consults a DL agent (a consult leg of the SAME call ID,
offered at DL with kind CONSULT and the screen pop), then:

(cancel)     the leg ends, the caller is back with the KM agent: one CDR, at KM;
(transfer)   the call moves to DL exactly like an accepted transfer: KM writes its
             ``transferred_out`` part, DL the one final CDR;
(conference) all three talk; the call stays owned by KM until the KM agent hangs up,
             then it moves to DL as for (transfer).

Errors: consult about a call you are not on, complete without a consultation
(FAILED_PRECONDITION); a consultation DL refuses leaves the caller held with the KM agent.
Each end: exactly one CDR per call whose outcome is not ``transferred_out`` over both
site databases, and no agent's legs overlap (no agent holds two calls).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, Desk, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A = "KM-0131"
DL_B = "DL-0033"
R = c.TransferResult
Phase = s.ConsultEvent


@pytest.fixture
def province(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> Iterator[Province]:
    with linked_province(tmp_path, nats_server.url, etcd_server.endpoint) as found:
        yield found


@pytest.fixture
async def clients(province: Province) -> AsyncIterator[tuple[Client, Client]]:
    km, dl = Client(province.km.target), Client(province.dl.target)
    try:
        yield km, dl
    finally:
        await km.close()
        await dl.close()


def _consult(
    desk: Desk, call_id: str, business: str = "general", note: str = ""
) -> s.TransferRequest:
    return s.TransferRequest(
        session_token=desk.token,
        call_id=call_id,
        target=c.TransferTarget(site_id="DL", business_id=business),
        note=note,
    )


def _complete(desk: Desk, call_id: str, mode: int) -> s.ConsultCompleteRequest:
    return s.ConsultCompleteRequest(session_token=desk.token, call_id=call_id, mode=mode)


async def _connected(km: Client, desk: Desk, n: int) -> str:
    step = await km.offer(f"1370001{n:04d}", "1000", "0")
    assert step.WhichOneof("next") == "connected", step
    assert step.connected.agent_id == desk.agent_id
    call_id = step.call_id
    await until(lambda: _true(call_id in desk.offers()), "the offer at the KM agent")
    await desk.answer(call_id)
    return call_id


async def _true(value: bool) -> bool:
    return value


def _phases(desk: Desk, call_id: str) -> list[int]:
    return [
        e.consult.phase
        for e in desk.events
        if e.HasField("consult") and e.consult.call_id == call_id
    ]


async def _consult_offer(dl_desk: Desk, call_id: str) -> s.Offer:
    async def offer() -> s.Offer | None:
        for e in dl_desk.events:
            if e.HasField("offer") and e.offer.call_id == call_id:
                return e.offer
        return None

    found: s.Offer = await until(offer, "the consult offer at DL")
    return found


async def _open_consult(km: Client, desk: Desk, dl_desk: Desk, call_id: str, note: str) -> None:
    result = await km.desk.Consult(_consult(desk, call_id, note=note))
    assert result.outcome == R.OUTCOME_ACCEPTED, result
    held = await km.call(call_id)
    assert held.state == c.CALL_STATE_HELD and held.agent_id == desk.agent_id
    offer = await _consult_offer(dl_desk, call_id)
    assert offer.kind == c.LEG_KIND_CONSULT and offer.leg_id == result.leg_id
    assert note in offer.screen_pop.notes
    await dl_desk.answer(call_id)
    await until(
        lambda: _true(Phase.PHASE_CONNECTED in _phases(desk, call_id)),
        "the consulting agent hears the consulted agent answered",
    )


async def _ready_again(desk: Desk, call_id: str) -> None:
    """Wrap up (if still wrapping) and go ready."""
    try:
        await desk.wrap_up(call_id)  # ready again at once
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
        await desk.ready()


def _final_cdrs(province: Province, call_id: str) -> list[tuple[str, str]]:
    out = []
    for site in (province.km, province.dl):
        out += [
            (site.site, str(outcome))
            for (outcome,) in site.rows(
                "SELECT outcome FROM cdrs WHERE call_id = ? AND outcome != 'transferred_out'",
                call_id,
            )
        ]
    return out


def _no_agent_overlap(province: Province) -> None:
    for site in (province.km, province.dl):
        legs = site.rows(
            "SELECT agent_id, offered_at_ms, ended_at_ms, call_id FROM legs "
            "WHERE agent_id != '' ORDER BY agent_id, offered_at_ms"
        )
        for (a1, _, end1, call1), (a2, start2, _, call2) in itertools.pairwise(legs):
            if a1 == a2:
                assert end1 and end1 <= start2, f"{a1} on {call1} and {call2} at once"


async def test_consultation(province: Province, clients: tuple[Client, Client]) -> None:
    km, dl = clients
    desk = await km.login(KM_A)
    dl_desk = await dl.login(DL_B)
    await dl_desk.ready()
    await desk.ready()

    # errors: complete without a consultation, consult about a call not held
    call1 = await _connected(km, desk, 1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await km.desk.ConsultComplete(_complete(desk, call1, s.CONSULT_MODE_CANCEL))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await km.desk.Consult(_consult(desk, "call_01JD0000000000000000000009"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # refused (whistle-blowing is handled in Kunming only): the caller stays held with A
    refused = await km.desk.Consult(_consult(desk, call1, "whistleblowing"))
    assert refused.outcome == R.OUTCOME_REFUSED and refused.reason, refused
    assert (await km.call(call1)).state == c.CALL_STATE_HELD
    assert Phase.PHASE_REFUSED in _phases(desk, call1)
    resumed = await km.desk.Resume(desk.act(call1))
    assert resumed.state == c.CALL_STATE_CONNECTED

    # (cancel): the leg ends at DL, the caller is back with A; one CDR, at KM
    await _open_consult(km, desk, dl_desk, call1, "cancel me")
    view = await km.desk.ConsultComplete(_complete(desk, call1, s.CONSULT_MODE_CANCEL))
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == KM_A
    await until(
        lambda: _true(
            any(
                e.HasField("call_state")
                and e.call_state.call_id == call1
                and e.call_state.state == c.CALL_STATE_ENDED
                for e in dl_desk.events
            )
        ),
        "the consult leg ends at DL",
    )
    await desk.hang_up(call1)
    await _ready_again(dl_desk, call1)
    await _ready_again(desk, call1)
    assert _final_cdrs(province, call1) == [("KM", "answered")]

    # (transfer): the call moves to DL; KM writes transferred_out, DL the final CDR
    call2 = await _connected(km, desk, 2)
    await _open_consult(km, desk, dl_desk, call2, "take it over")
    view = await km.desk.ConsultComplete(_complete(desk, call2, s.CONSULT_MODE_TRANSFER))
    assert view.state == c.CALL_STATE_ENDED
    assert (await km.call(call2)).end_reason == c.END_REASON_TRANSFERRED_OUT
    at_dl = await dl.call(call2)
    assert at_dl.state == c.CALL_STATE_CONNECTED and at_dl.agent_id == DL_B
    assert Phase.PHASE_TRANSFERRED in _phases(desk, call2)
    await dl_desk.hang_up(call2)
    await _ready_again(dl_desk, call2)
    await _ready_again(desk, call2)
    assert _final_cdrs(province, call2) == [("DL", "answered")]
    assert province.km.rows("SELECT outcome FROM cdrs WHERE call_id = ?", call2) == [
        ("transferred_out",)
    ]

    # (conference): all three; owned by KM until A hangs up, then by DL
    call3 = await _connected(km, desk, 3)
    await _open_consult(km, desk, dl_desk, call3, "join us")
    view = await km.desk.ConsultComplete(_complete(desk, call3, s.CONSULT_MODE_CONFERENCE))
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == KM_A
    assert (await dl.call(call3)).agent_id == DL_B
    assert province.km.rows("SELECT count(*) FROM cdrs WHERE call_id = ?", call3) == [(0,)]
    await desk.hang_up(call3)  # A leaves: B keeps the caller
    assert (await km.call(call3)).end_reason == c.END_REASON_TRANSFERRED_OUT
    at_dl = await dl.call(call3)
    assert at_dl.state == c.CALL_STATE_CONNECTED and at_dl.agent_id == DL_B
    await dl_desk.hang_up(call3)
    assert _final_cdrs(province, call3) == [("DL", "answered")]

    _no_agent_overlap(province)
