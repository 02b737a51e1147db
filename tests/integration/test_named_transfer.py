"""Transfer to a named agent, at another site (through the hub) and at the same site: real
NATS, etcd, one hub and two sites (KM, DL) as separate processes (ARCHITECTURE §3.3).

(a) KM -> a named DL agent who is ready: the offer goes to THAT agent (not to the one the
    ACD rules would pick: DL-0035 has the higher general level); the leg records its
    serving site (DL) and the caller's home site (KM, from the caller's area code), and
    the call view shows both;
(b) a consultation with a named DL agent is offered to that agent (kind CONSULT), and
    refused while the named agent is busy; refusals leave the caller with the KM agent:
    the named agent busy, not logged in (REFUSED with the reason); unknown or not taking
    calls (NOT_FOUND); working at another site than the one named (INVALID_ARGUMENT);
(c) KM -> a named KM agent: refused while not logged in, then offered to them once they
    are; the call keeps one owner and ends with ONE CDR, answered by that agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, Desk, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A, KM_B, KM_C = "KM-0131", "KM-0133", "KM-0135"  # general agents at Kunming
DL_LOW, DL_HIGH = "DL-0034", "DL-0035"  # general levels 2 and 4 at Dali
R = c.TransferResult


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


def _to_agent(
    desk: Desk, call_id: str, agent_id: str, site: str = "", note: str = ""
) -> s.TransferRequest:
    return s.TransferRequest(
        session_token=desk.token,
        call_id=call_id,
        note=note,
        target=c.TransferTarget(site_id=site, agent_id=agent_id),
    )


async def _true(value: bool) -> bool:
    return value


async def _offer(desk: Desk, call_id: str) -> s.Offer:
    async def found() -> s.Offer | None:
        return next(
            (e.offer for e in desk.events if e.HasField("offer") and e.offer.call_id == call_id),
            None,
        )

    offer: s.Offer = await until(found, f"the offer of {call_id} at {desk.agent_id}")
    return offer


async def _connected(km: Client, desks: dict[str, Desk], caller: str) -> tuple[str, Desk]:
    step = await km.offer(caller, "1000", "0")
    assert step.WhichOneof("next") == "connected", step
    desk = desks[step.connected.agent_id]
    await _offer(desk, step.call_id)
    await desk.answer(step.call_id)
    return step.call_id, desk


async def _ready(desk: Desk) -> None:
    async def ready() -> bool:
        return any(
            e.HasField("agent_state") and e.agent_state.state == s.AGENT_STATE_READY
            for e in desk.events[-3:]
        )

    await until(ready, f"{desk.agent_id} ready after wrap-up")


async def test_named_transfer(province: Province, clients: tuple[Client, Client]) -> None:
    km, dl = clients
    desks = {a: await km.login(a) for a in (KM_A, KM_B)}
    low, high = await dl.login(DL_LOW), await dl.login(DL_HIGH)
    for desk in (*desks.values(), low, high):
        await desk.ready()

    # (a) across sites to a named agent who is ready
    call1, first = await _connected(km, desks, "08715550001")
    result = await km.desk.Transfer(_to_agent(first, call1, DL_LOW, note="for you"))
    assert result.outcome == R.OUTCOME_ACCEPTED and result.site_id == "DL", result
    assert result.agent_id == DL_LOW
    offer = await _offer(low, call1)
    assert offer.kind == c.LEG_KIND_TRANSFER and "for you" in offer.screen_pop.notes
    assert call1 not in high.offers()
    await low.answer(call1)
    view = await dl.call(call1)
    assert view.serving_site_id == "DL" and view.agent_id == DL_LOW
    assert [(g.site_id, g.home_site_id, g.agent_id) for g in view.legs] == [
        ("KM", "KM", first.agent_id),
        ("DL", "KM", DL_LOW),
    ]

    # (b) refusals: the caller stays with the KM agent
    other = desks[KM_B if first.agent_id == KM_A else KM_A]
    call2, second = await _connected(km, {other.agent_id: other}, "08715550002")
    # a consultation with a named agent at DL: offered to that agent, then cancelled
    consult = await km.desk.Consult(_to_agent(second, call2, DL_HIGH, note="a question"))
    assert consult.outcome == R.OUTCOME_ACCEPTED and consult.agent_id == DL_HIGH, consult
    assert (await _offer(high, call2)).kind == c.LEG_KIND_CONSULT
    view = await km.desk.ConsultComplete(
        s.ConsultCompleteRequest(
            session_token=second.token, call_id=call2, mode=s.CONSULT_MODE_CANCEL
        )
    )
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == second.agent_id
    await until(
        lambda: _true(
            any(
                e.HasField("call_state")
                and e.call_state.call_id == call2
                and e.call_state.state == c.CALL_STATE_ENDED
                for e in high.events
            )
        ),
        "the consult leg ends at DL",
    )
    refused = await km.desk.Consult(_to_agent(second, call2, DL_LOW))
    assert refused.outcome == R.OUTCOME_REFUSED and "busy" in refused.reason, refused
    await km.desk.Resume(second.act(call2))
    busy = await km.desk.Transfer(_to_agent(second, call2, DL_LOW))
    assert busy.outcome == R.OUTCOME_REFUSED and "busy" in busy.reason, busy
    absent = await km.desk.Transfer(_to_agent(second, call2, "DL-0040"))
    assert absent.outcome == R.OUTCOME_REFUSED and "not logged in" in absent.reason, absent
    for agent, code in (
        ("DL-9999", grpc.StatusCode.NOT_FOUND),
        ("KM-QA-0001", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await km.desk.Transfer(_to_agent(second, call2, agent))
        assert err.value.code() == code, agent
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await km.desk.Transfer(_to_agent(second, call2, DL_LOW, site="QJ"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    view = await km.call(call2)
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == second.agent_id

    # (c) at the same site: refused while the named agent is not logged in, then taken
    same = await km.desk.Transfer(_to_agent(second, call2, KM_C))
    assert same.outcome == R.OUTCOME_REFUSED and "not logged in" in same.reason, same
    third = await km.login(KM_C)
    await third.ready()
    same = await km.desk.Transfer(_to_agent(second, call2, KM_C, site="KM"))
    assert same.outcome == R.OUTCOME_ACCEPTED and same.agent_id == KM_C, same
    await _offer(third, call2)
    await third.answer(call2)
    view = await km.call(call2)
    assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == KM_C
    await third.hang_up(call2)
    await low.hang_up(call1)

    async def cdrs_written() -> bool:
        return bool(province.km.rows("SELECT 1 FROM cdrs WHERE call_id = ?", call2)) and bool(
            province.dl.rows("SELECT 1 FROM cdrs WHERE call_id = ?", call1)
        )

    await until(cdrs_written, "the final CDRs")
    assert province.km.rows("SELECT outcome, agent_id FROM cdrs WHERE call_id = ?", call2) == [
        ("answered", KM_C)
    ]
    assert province.km.rows("SELECT outcome FROM cdrs WHERE call_id = ?", call1) == [
        ("transferred_out",)
    ]
    assert province.dl.rows("SELECT outcome, agent_id FROM cdrs WHERE call_id = ?", call1) == [
        ("answered", DL_LOW)
    ]
    legs = province.km.rows(
        "SELECT agent_id, kind, site_id, home_site FROM legs WHERE "
        "call_id = ? ORDER BY offered_at_ms",
        call2,
    )
    assert legs == [(second.agent_id, "initial", "KM", "KM"), (KM_C, "transfer", "KM", "KM")]
