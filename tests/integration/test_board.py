"""The real-time board (``Routing.GetBoard`` and ``vcc board``): hub + KM + DL as real
processes; the board shows a caller waiting at KM and the agents there within a few
seconds, every row is young, the day's figures count the call, and an unknown site is
refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import grpc.aio
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.linked import Province, linked_province
from tests.integration._helpers.site import Client, until
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.channels import open_channel
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

KM_AGENT = "KM-0131"


@pytest.fixture(scope="module")
def province(
    tmp_path_factory: pytest.TempPathFactory, module_nats_etcd: tuple[NatsServer, EtcdServer]
) -> Iterator[Province]:
    """One hub + KM + DL for both tests (the CLI test only reads the board)."""
    nats, etcd = module_nats_etcd
    with linked_province(tmp_path_factory.mktemp("board"), nats.url, etcd.endpoint) as found:
        yield found


async def test_board_shows_waiting_calls_and_agents(province: Province) -> None:
    km = Client(province.km.target)
    async with open_channel(province.hub.target) as channel:
        routing = hg.RoutingStub(channel)
        try:
            desk = await km.login(KM_AGENT)  # logged in, not ready: "away"
            await km.offer("13700001111", "1000", "0")  # a caller waits for an agent

            async def km_general() -> h.BoardRow | None:
                board = await routing.GetBoard(h.GetBoardRequest(site_ids=["KM"]))
                rows = [r for r in board.rows if r.figures.business_id == "general"]
                return rows[0] if rows and rows[0].figures.waiting == 1 else None

            row = await until(km_general, "KM's board row shows the waiting caller", 30)
            assert row.figures.site_id == "KM" and row.age_ms < 5_000
            assert row.figures.agents_not_ready >= 1 and row.figures.agents_ready == 0

            await desk.ready()  # the agent takes the call: nobody waits any more

            async def drained() -> bool:
                board = await routing.GetBoard(h.GetBoardRequest(site_ids=["KM"]))
                rows = [r for r in board.rows if r.figures.business_id == "general"]
                return bool(rows) and rows[0].figures.waiting == 0

            await until(drained, "the board shows the queue empty", 30)

            everything = await routing.GetBoard(h.GetBoardRequest())
            assert {r.figures.site_id for r in everything.rows} == {"KM", "DL"}
            assert "YX" in everything.stale_site_ids  # not running: never reported
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await routing.GetBoard(h.GetBoardRequest(site_ids=["ZZ"]))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            await desk.close()
        finally:
            await km.close()


def test_vcc_board_cli(province: Province) -> None:
    """The command line reads the same board from the hub; an unknown site exits 2."""
    deadline = time.monotonic() + 60
    while True:  # KM reports its figures every second once it runs
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "vcc_ops.cli",
                "board",
                "--hub",
                province.hub.target,
                "--site",
                "KM",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=test_tls.ops_env(),
        )
        assert cli.returncode == 0, cli.stderr
        data = json.loads(cli.stdout)
        if data["live"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {row["site"] for row in data["live"]} == {"KM"}
    assert all(row["age_ms"] < 10_000 for row in data["live"])
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "board",
            "--hub",
            province.hub.target,
            "--site",
            "ZZ",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=test_tls.ops_env(),
    )
    assert bad.returncode == 2 and "ZZ" in bad.stderr
