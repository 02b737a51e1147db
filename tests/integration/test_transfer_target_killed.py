"""The target site SIGKILLed in the middle of a cross-site transfer (ARCHITECTURE §3.3,
invariants 1-3): real NATS, etcd, hub and two site processes.

DL is started with a fault that holds its answer to ``AcceptTransfer`` after it has
queued the call and offered it to its agent. DL is killed in that window: the hub gets
no answer, KM's agent gets a failed transfer and still has the caller (connected); the
call then ends at KM with its one CDR; DL, dead, wrote none and never connected it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A, DL_B = "KM-0131", "DL-0033"
R = c.TransferResult


@pytest.fixture
def province(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> Iterator[Province]:
    delay = {"VCC_FAULT_TRANSFER_ANSWER_DELAY_MS": "30000"}
    with linked_province(tmp_path, nats_server.url, etcd_server.endpoint, dl_env=delay) as p:
        yield p


async def _true(value: bool) -> bool:
    return value


async def test_target_killed_mid_transfer(province: Province) -> None:
    km, dl = Client(province.km.target), Client(province.dl.target)
    try:
        desk = await km.login(KM_A)
        dl_desk = await dl.login(DL_B)
        await dl_desk.ready()
        await desk.ready()
        step = await km.offer("13700020001", "1000", "0")
        call_id = step.call_id
        assert step.connected.agent_id == KM_A
        await until(lambda: _true(call_id in desk.offers()), "the offer at KM")
        await desk.answer(call_id)

        request = s.TransferRequest(
            session_token=desk.token,
            call_id=call_id,
            target=c.TransferTarget(site_id="DL", business_id="general"),
            note="to Dali",
        )
        transfer = asyncio.ensure_future(km.desk.Transfer(request, timeout=60))
        # DL has queued the call and offered it to its agent, but holds its answer
        await until(lambda: _true(call_id in dl_desk.offers()), "the offer at DL")
        assert not transfer.done()
        province.dl.proc.kill()  # SIGKILL

        result = await transfer
        assert result.outcome in (R.OUTCOME_REFUSED, R.OUTCOME_TIMEOUT), result
        view = await km.call(call_id)
        assert view.state == c.CALL_STATE_CONNECTED and view.agent_id == KM_A  # back at origin
        await until(
            lambda: _true(
                any(
                    e.HasField("notice") and e.notice.code.startswith("transfer_")
                    for e in desk.events
                )
            ),
            "the failed-transfer notice",
        )
        await desk.hang_up(call_id)  # the agent carries on and ends the call

        assert province.km.rows(
            "SELECT outcome, agent_id FROM cdrs WHERE call_id = ?", call_id
        ) == [("answered", KM_A)]
        assert province.dl.rows("SELECT count(*) FROM cdrs WHERE call_id = ?", call_id) == [(0,)]
        # never connected at DL: no leg of the call was answered there
        assert province.dl.rows(
            "SELECT count(*) FROM legs WHERE call_id = ? AND answered_at_ms > 0", call_id
        ) == [(0,)]
        assert province.km.rows(
            "SELECT agent_id FROM legs WHERE call_id = ? AND answered_at_ms > 0", call_id
        ) == [(KM_A,)]
    finally:
        await km.close()
        await dl.close()
