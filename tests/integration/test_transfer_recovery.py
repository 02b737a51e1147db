"""A target site that took a call over and was SIGKILLed asks the origin, on restart, who
owns the call before it writes anything: real NATS, etcd, hub and two site processes
(ARCHITECTURE §3.3, invariants 1 and 3: one owner, one final CDR).

(kept)     DL accepts a transfer (queued, offered to its agent) but holds its answer
           (fault injection) and is killed: KM never hears "accepted" and keeps the
           caller. DL restarts: KM says it kept the call, so DL closes its record with NO
           CDR; the call's one final CDR is KM's.
(released) DL accepts a transfer and answers; KM lets the call go (``transferred_out``).
           DL is killed with the call ringing there and restarts: KM says it released the
           call to DL, so DL, the owner, writes the final CDR (``lost``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.integration._helpers.linked import LinkedSite, Province, linked_province
from tests.integration._helpers.site import Client, Desk, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.server import check_health
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s

KM_A, DL_B = "KM-0131", "DL-0033"
DELAY = "VCC_FAULT_TRANSFER_ANSWER_DELAY_MS"
R = c.TransferResult


@pytest.fixture
def province(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> Iterator[Province]:
    with linked_province(
        tmp_path, nats_server.url, etcd_server.endpoint, dl_env={DELAY: "30000"}
    ) as p:
        yield p


async def _true(value: bool) -> bool:
    return value


def _transfer(desk: Desk, call_id: str) -> s.TransferRequest:
    return s.TransferRequest(
        session_token=desk.token,
        call_id=call_id,
        target=c.TransferTarget(site_id="DL", business_id="general"),
    )


async def _answered_at_km(km: Client, desk: Desk, caller: str) -> str:
    step = await km.offer(caller, "1000", "0")
    assert step.connected.agent_id == KM_A, step
    await until(lambda: _true(step.call_id in desk.offers()), "the offer at KM")
    await desk.answer(step.call_id)
    return step.call_id


async def _restart(dl: LinkedSite) -> None:
    """Start DL again on its database, without the answer delay."""
    dl.proc.env = {k: v for k, v in os.environ.items() if k != DELAY}
    dl.proc.start()

    async def healthy() -> bool:
        assert dl.proc.alive, dl.proc.log_tail()
        return await check_health(dl.target, timeout_s=1.0, pid=dl.proc.pid)

    await until(healthy, "DL serving again", timeout_s=90)


def _has_rows(
    site: LinkedSite, sql: str, call_id: str, want: list[tuple[object, ...]] | None = None
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = site.rows(sql, call_id)
        return rows == want if want is not None else bool(rows)

    return check


async def test_restart_after_accept_asks_the_origin(province: Province) -> None:
    km, dl = Client(province.km.target), Client(province.dl.target)
    try:
        desk = await km.login(KM_A)
        dl_desk = await dl.login(DL_B)
        await dl_desk.ready()
        await desk.ready()

        # (kept): DL queued the call and offered it, but its answer never left
        call1 = await _answered_at_km(km, desk, "08715551001")
        transfer = asyncio.ensure_future(km.desk.Transfer(_transfer(desk, call1), timeout=60))
        await until(lambda: _true(call1 in dl_desk.offers()), "the offer at DL")
        province.dl.proc.kill()  # SIGKILL
        result = await transfer
        assert result.outcome in (R.OUTCOME_REFUSED, R.OUTCOME_TIMEOUT), result
        assert (await km.call(call1)).agent_id == KM_A  # the origin kept the caller
        await dl_desk.close()
        await dl.close()

        await _restart(province.dl)
        record = "SELECT state, end_reason FROM calls WHERE call_id = ?"
        await until(
            _has_rows(province.dl, record, call1, [("ended", "origin_kept")]),
            "DL closes the call it did not own",
        )
        await desk.hang_up(call1)
        cdrs = "SELECT outcome FROM cdrs WHERE call_id = ?"
        await until(_has_rows(province.km, cdrs, call1), "KM's CDR")
        assert province.km.rows(cdrs, call1) == [("answered",)]
        assert province.dl.rows(cdrs, call1) == []

        # (released): DL took the call over, then died with it
        dl = Client(province.dl.target)
        dl_desk = await dl.login(DL_B)
        await dl_desk.ready()
        await desk.wrap_up(call1)
        call2 = await _answered_at_km(km, desk, "08715551002")
        result = await km.desk.Transfer(_transfer(desk, call2))
        assert result.outcome == R.OUTCOME_ACCEPTED, result
        await until(lambda: _true(call2 in dl_desk.offers()), "the offer at DL")
        province.dl.proc.kill()
        await dl_desk.close()
        await dl.close()
        await _restart(province.dl)
        await until(_has_rows(province.dl, cdrs, call2), "DL's CDR")
        assert province.dl.rows(cdrs, call2) == [("lost",)]
        assert province.km.rows(cdrs, call2) == [("transferred_out",)]
        assert province.dl.rows(record, call2) == [("ended", "lost")]
    finally:
        await km.close()
        await dl.close()
