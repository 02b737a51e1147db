"""One call followed across processes by its ID in their logs (real NATS, etcd, a hub, two
sites and the access edge, all separate processes).

A caller from Kunming's area dials in through the ``vcc edge`` process (gRPC), is answered
by a KM agent and transferred to Dali, where a DL agent answers; the edge's sweep follows
the call to DL and the caller hangs up there through the edge. Every process's log then
has lines whose ``call`` field (not merely the message text) is that call's ID: the edge
(JSON lines, ``call_id``), KM and DL (text, ``call=``) and the hub (``call=``).

And a transferred call whose new site goes away before the edge followed it there is
counted lost (the site it left says ``TRANSFERRED_OUT``; no live site has it).

Both tests share one started province (each its own agents and caller); the second, which
stops DL, comes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, Desk, fast_province, until
from vcc_ops.infra import EtcdServer, ManagedProcess, NatsServer, free_port
from vcc_proto.server import check_health
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.edge.client import EdgeClient

pytestmark = pytest.mark.integration

KM_A, DL_A = "KM-0131", "DL-0033"  # general agents at Kunming and Dali
KM_B, DL_B = "KM-0132", "DL-0034"  # ... for the second test
CALLER, CALLER_B = "13700005678", "13700005679"
START_TIMEOUT_S = 90.0


class EdgeProc:
    """``vcc edge`` as its own process, JSON log lines at DEBUG."""

    def __init__(self, tmp: Path, etcd: str, site_endpoints: str) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.port, self.log = free_port(), tmp / "edge.log"
        self.target = f"127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "edge",
            "--province",
            str(fast_province(tmp)),
            "--data-dir",
            str(tmp / "data"),
            "--etcd",
            etcd,
            "--grpc-port",
            str(self.port),
            "--node-id",
            "edge-x",
            "--log-file",
            str(self.log),
            "--log-format",
            "json",
            "--log-level",
            "DEBUG",
            "--sweep-every-s",
            "0",
            *test_tls.node_args("edge", "edge-x"),
        ]
        env = {**os.environ, "VCC_SITE_ENDPOINTS": site_endpoints}
        self.proc = ManagedProcess("edge", argv, tmp / "edge.out", env=env)

    def start(self) -> EdgeProc:
        self.proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not asyncio.run(check_health(self.target, timeout_s=1.0, pid=self.proc.pid)):
            if not self.proc.alive:
                raise AssertionError(f"edge exited: {self.proc.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError("edge not healthy in time")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        self.proc.stop(timeout=20)


@pytest.fixture(scope="module")
def province(
    tmp_path_factory: pytest.TempPathFactory, module_nats_etcd: tuple[NatsServer, EtcdServer]
) -> Iterator[tuple[Province, EdgeProc]]:
    tmp = tmp_path_factory.mktemp("trail")
    nats, etcd = module_nats_etcd
    with ExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("VCC_LOG_LEVEL", "DEBUG")  # hub and sites: text lines at DEBUG
        env.delenv("VCC_LOG_FORMAT", raising=False)
        found = stack.enter_context(linked_province(tmp, nats.url, etcd.endpoint))
        sites = f"KM={found.km.target},DL={found.dl.target}"
        edge = EdgeProc(tmp / "edge", etcd.endpoint, sites).start()
        stack.callback(edge.stop)
        yield found, edge


@pytest.fixture
async def clients(
    province: tuple[Province, EdgeProc],
) -> AsyncIterator[tuple[EdgeClient, Client, Client]]:
    found, edge = province
    edge_client, km, dl = EdgeClient(edge.target), Client(found.km.target), Client(found.dl.target)
    try:
        yield edge_client, km, dl
    finally:
        for client in (km, dl):  # the next test's calls go to its own agents
            for desk in client.desks:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await client.desk.Logout(desk.ref(), timeout=5)
        await edge_client.close()
        await km.close()
        await dl.close()


def text_lines_of(path: Path, call_id: str) -> list[str]:
    """Text log lines whose ``call=`` field is ``call_id``."""
    field = re.compile(r"\[site=\S* call=(\S+) agent=\S*\]")
    found = []
    for line in path.read_text(errors="replace").splitlines():
        match = field.search(line)
        if match and match.group(1) == call_id:
            found.append(line)
    return found


def json_lines_of(path: Path, call_id: str) -> list[dict[str, str]]:
    """JSON log lines whose ``call_id`` field is ``call_id``."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("call_id") == call_id:
            found.append(record)
    return found


async def _offered(desk: Desk, call_id: str) -> bool:
    return call_id in desk.offers()


async def _transferred_to_dl(
    edge: EdgeClient,
    km: Client,
    dl: Client,
    agents: tuple[str, str] = (KM_A, DL_A),
    caller: str = CALLER,
) -> str:
    """A call of ``caller`` placed through the edge at KM, answered there by the first of
    ``agents``, transferred to DL and answered at DL by the second; returns its ID."""
    km_desk, dl_desk = await km.login(agents[0]), await dl.login(agents[1])
    await km_desk.ready()
    await dl_desk.ready()

    async def placed_at_km() -> str:  # the hub writes the routing map once sites register
        call, step = await edge.place(caller, "1000", area_code="0871")
        if call.site_id != "KM" or step is None:
            return ""
        return call.call_id

    call_id: str = await until(placed_at_km, "the edge to place a call at KM", 60)
    _, step = await edge.send_digits(call_id, "0")  # the IVR's first choice
    assert step is not None and step.WhichOneof("next") == "connected", step
    await until(lambda: _offered(km_desk, call_id), "the offer at the KM agent")
    await km_desk.answer(call_id)
    result = await km.desk.Transfer(
        s.TransferRequest(
            session_token=km_desk.token,
            call_id=call_id,
            target=c.TransferTarget(site_id="DL", business_id="general"),
            note="to Dali",
        )
    )
    assert result.outcome == c.TransferResult.OUTCOME_ACCEPTED, result
    await until(lambda: _offered(dl_desk, call_id), "the transferred offer at DL")
    await dl_desk.answer(call_id)
    return call_id


async def test_one_call_is_found_by_its_id_in_every_process_log(
    province: tuple[Province, EdgeProc], clients: tuple[EdgeClient, Client, Client]
) -> None:
    found, edge_proc = province
    edge, km, dl = clients
    call_id = await _transferred_to_dl(edge, km, dl)

    await edge.sweep(probe_live=True)  # the edge follows the call to the site that has it
    moved = await edge.get(call_id)
    assert (moved.site_id, moved.at_site, moved.state) == ("KM", "DL", "connected"), moved
    ended = await edge.hang_up(call_id)  # the caller hangs up, at DL
    assert ended.state == "ended" and ended.reason == "END_REASON_CALLER_HANGUP", ended

    logs = {
        "edge": edge_proc.log,
        "KM": found.km.tmp / "site.log",
        "DL": found.dl.tmp / "site.log",
        "hub": found.km.tmp.parent / "hub" / "hub.log",
    }

    async def traced() -> dict[str, int]:
        counts = {
            "edge": len(json_lines_of(logs["edge"], call_id)),
            **{name: len(text_lines_of(logs[name], call_id)) for name in ("KM", "DL", "hub")},
            "hub events": sum(
                "events: applied" in line  # the event boundary too
                for line in text_lines_of(logs["hub"], call_id)
            ),
        }
        return counts if all(counts.values()) else {}

    counts = await until(traced, "the call's ID on log lines of the edge, KM, DL and the hub", 60)
    assert all(n > 0 for n in counts.values()), counts
    edge_line = json_lines_of(logs["edge"], call_id)[0]
    assert {"ts", "level", "logger", "site", "call_id", "agent", "msg"} <= set(edge_line)
    assert CALLER not in logs["edge"].read_text()  # the caller's number stays masked


async def test_a_call_lost_at_the_site_it_moved_to_is_lost_in_the_ledger(
    province: tuple[Province, EdgeProc], clients: tuple[EdgeClient, Client, Client]
) -> None:
    found, _ = province
    edge, km, dl = clients
    call_id = await _transferred_to_dl(edge, km, dl, (KM_B, DL_B), CALLER_B)
    assert (await edge.get(call_id)).at_site == "KM"  # the edge has not looked since
    found.dl.stop()  # DL goes away with the call before the edge followed it there

    async def lost() -> bool:
        await edge.sweep(probe_live=True)
        return (await edge.get(call_id)).state == "lost"

    await until(lost, "the edge to count the call lost with DL", 30)
    call = await edge.get(call_id)
    assert call.reason == "site_lost" and call.site_id == "KM", call
