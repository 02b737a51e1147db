"""Cross-site transfer through the hub's broker: real NATS, etcd, one hub and two sites
(KM, DL) on SQLite, all separate processes (ARCHITECTURE §3.3, invariants 2 and 3).

(a) an agent at KM transfers a connected call to DL's "general" business: DL's agent is
    offered the SAME call ID with a screen pop holding the note, the IVR path and the KM
    leg; the KM agent reaches wrap-up only after the acceptance; KM's record of the call
    ends as transferred out (CDR outcome ``transferred_out``), DL's as a transferred call
    keeping the original arrival; a repeated AcceptTransfer creates no second call;
(b) a transfer DL cannot take (whistle-blowing is handled in Kunming only) is REFUSED with
    a reason; the caller stays connected to the same KM agent, who gets a notice;
(d) bad input: an unknown site is NOT_FOUND, a call the agent does not hold is
    FAILED_PRECONDITION;
(c) with the hub stopped, Transfer answers fast with "hub unreachable" and the call stays.

Before (a), KM's desk reads who is ready where from the hub's board (DL's ready agent);
after (c), the same question answers KM's own figures.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, Desk, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A, KM_B = "KM-0131", "KM-0133"  # general agents at Kunming
DL_A = "DL-0033"  # a general agent at Dali
R = c.TransferResult


def stranger(n: int) -> str:
    return f"1370000{n:04d}"


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


def _transfer(
    desk: Desk, call_id: str, site: str, business: str, note: str = ""
) -> s.TransferRequest:
    return s.TransferRequest(
        session_token=desk.token,
        call_id=call_id,
        target=c.TransferTarget(site_id=site, business_id=business),
        note=note,
    )


async def _connected_call(km: Client, desks: dict[str, Desk], caller: str) -> tuple[str, Desk]:
    """A caller reaches a ready KM agent through the IVR (key 0) and is answered."""
    step = await km.offer(caller, "1000", "0")
    assert step.WhichOneof("next") == "connected", step
    desk = desks[step.connected.agent_id]
    await until(lambda: _has(desk.offers(), step.call_id), "the offer at the KM agent")
    await desk.answer(step.call_id)
    return step.call_id, desk


async def _has(items: list[str], item: str) -> bool:
    return item in items


async def test_cross_site_transfer(province: Province, clients: tuple[Client, Client]) -> None:
    km, dl = clients
    desks = {KM_A: await km.login(KM_A), KM_B: await km.login(KM_B)}
    dl_desk = await dl.login(DL_A)
    await dl_desk.ready()
    await desks[KM_A].ready()

    # who is ready where: DL's ready agent on the hub's board, read through KM for its desk
    async def dl_ready_on_the_board() -> bool:
        where = await km.desk.GetReadyWhere(desks[KM_A].ref())
        return where.province and any(
            f.site_id == "DL" and f.business_id == "general" and f.agents_ready >= 1
            for f in where.figures
        )

    await until(dl_ready_on_the_board, "DL's ready agent on the board KM reads from the hub")

    # (a) accepted at DL: same call ID, screen pop with note + IVR path, KM wraps up after
    call_id, desk = await _connected_call(km, desks, stranger(1))
    before = await km.call(call_id)
    note = "caller is in Dali; needs the Dali office"
    result = await km.desk.Transfer(_transfer(desk, call_id, "DL", "general", note))
    assert result.outcome == R.OUTCOME_ACCEPTED, result
    assert result.site_id == "DL" and result.call_id == call_id and result.leg_id
    await until(lambda: _has(dl_desk.offers(), call_id), "the transferred offer at DL")
    offer = next(e.offer for e in dl_desk.events if e.HasField("offer"))
    assert offer.call_id == call_id and offer.leg_id == result.leg_id
    assert offer.kind == c.LEG_KIND_TRANSFER
    pop = offer.screen_pop
    assert note in pop.notes
    assert [(st.node_id, st.digits) for st in pop.ivr_path][:1] == [("main", "0")]
    assert pop.priority == c.PRIORITY_CLASS_TRANSFERRED
    assert pop.original_arrival_at_ms == before.original_arrival_at_ms
    assert [(leg.site_id, leg.agent_id) for leg in pop.previous_legs] == [("KM", desk.agent_id)]
    view = await dl_desk.answer(call_id)
    assert view.serving_site_id == "DL" and view.priority == c.PRIORITY_CLASS_TRANSFERRED
    assert view.original_arrival_at_ms == before.original_arrival_at_ms

    km_view = await km.call(call_id)
    assert km_view.state == c.CALL_STATE_ENDED
    assert km_view.end_reason == c.END_REASON_TRANSFERRED_OUT
    # the KM agent is released only after the acceptance: "transferring", then wrap-up
    await until(lambda: _wrapping(desk), "the KM agent in wrap-up")
    kinds = _timeline(desk, call_id)
    assert kinds.index("transferring") < kinds.index("wrap_up"), kinds
    cdrs = province.km.rows(
        "SELECT outcome, transferred, agent_id FROM cdrs WHERE call_id = ?", call_id
    )
    assert cdrs == [("transferred_out", 1, desk.agent_id)]

    # a repeated AcceptTransfer (same request) does not make a second call at DL
    ctx = c.CallContext(
        call_id="call_01JD0000000000000000000001",
        new_leg_id="leg_01JD0000000000000000000001",
        caller_number=stranger(9),
        dialed_code="1000",
        business_id="general",
        from_site_id="KM",
        original_arrival_at_ms=int(time.time() * 1000) - 5000,
        priority=c.PRIORITY_CLASS_TRANSFERRED,
    )
    request = s.AcceptTransferRequest(context=ctx, request_id="req_01JD0000000000000000000001")
    hub = Client(province.dl.target, tls=test_tls.client("hub", "hub-x"))  # the real caller
    try:
        first, again = (
            await hub.remote.AcceptTransfer(request),
            await hub.remote.AcceptTransfer(request),
        )
    finally:
        await hub.close()
    assert first.outcome == R.OUTCOME_ACCEPTED and again == first
    assert province.dl.rows("SELECT count(*) FROM calls WHERE call_id = ?", ctx.call_id) == [(1,)]
    await dl.access.HangUp(s.CallRef(call_id=ctx.call_id))

    # (b) refused: whistle-blowing is handled in Kunming only
    await desks[KM_B].ready()
    call2, desk2 = await _connected_call(km, desks, stranger(2))
    refused = await km.desk.Transfer(_transfer(desk2, call2, "DL", "whistleblowing", "x"))
    assert refused.outcome == R.OUTCOME_REFUSED and "not served at site DL" in refused.reason
    still = await km.call(call2)
    assert still.state == c.CALL_STATE_CONNECTED and still.agent_id == desk2.agent_id
    await until(lambda: _notice(desk2, "transfer_refused"), "the refusal notice")

    # (d) bad input
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await km.desk.Transfer(_transfer(desk2, call2, "XX", "general"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await km.desk.Transfer(_transfer(desk2, call_id, "DL", "general"))  # not its call
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await km.call(call2)).state == c.CALL_STATE_CONNECTED

    # (c) hub stopped: a fast answer, "hub unreachable", the call stays with the agent
    province.hub.stop()
    started = time.monotonic()
    lost = await km.desk.Transfer(_transfer(desk2, call2, "DL", "general", "y"), timeout=30)
    took = time.monotonic() - started
    assert lost.outcome == R.OUTCOME_REFUSED and "hub unreachable" in lost.reason, lost
    assert took < 15, f"answered after {took:.1f} s"
    still = await km.call(call2)
    assert still.state == c.CALL_STATE_CONNECTED and still.agent_id == desk2.agent_id
    await desk2.hang_up(call2)  # the agent can carry on with the call
    # without the hub, who is ready where is KM's own figures, said so
    where = await km.desk.GetReadyWhere(desk2.ref(), timeout=30)
    assert not where.province and {f.site_id for f in where.figures} == {"KM"}, where


async def _wrapping(desk: Desk) -> bool:
    return any(state == s.AGENT_STATE_WRAP_UP for state, _ in desk.states())


async def _notice(desk: Desk, code: str) -> bool:
    return any(e.HasField("notice") and e.notice.code == code for e in desk.events)


def _timeline(desk: Desk, call_id: str) -> list[str]:
    """The desk's events as names: call states of ``call_id`` and agent states."""
    out: list[str] = []
    for e in desk.events:
        if e.HasField("call_state") and e.call_state.call_id == call_id:
            out.append(c.CallState.Name(e.call_state.state).removeprefix("CALL_STATE_").lower())
        elif e.HasField("agent_state"):
            out.append(s.AgentState.Name(e.agent_state.state).removeprefix("AGENT_STATE_").lower())
    return out
