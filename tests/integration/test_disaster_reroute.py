"""Disaster rerouting with real processes: etcd, NATS, the hub (leader, routing-map
writer) and sites KM, QJ and DL, driven through the access edge.

Calls for DL's area go to DL; DL is killed with SIGKILL; once its lease lapses the routing
map sends area 0872 to the next-nearest live site, where the edge offers new calls; the
calls that were waiting at DL are counted lost (``site_lost``) by the edge. The reroute
time is measured and printed; it is asserted only against a generous bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.integration._helpers.province import Node, hub_node, site_node
from tests.integration._helpers.site import fast_province, until
from vcc_domain.province import load_province_file
from vcc_failover.routing_map import read_routing_map
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_site.edge.service import AccessEdge
from vcc_site.store.customers import phone_for

REROUTE_BOUND_S = 20.0  # generous: the target is the lease TTL (2 s) + 1 s
SITES = ("KM", "QJ", "DL")


@pytest.fixture
async def province(
    tmp_path,
    etcd_server: EtcdServer,  # type: ignore[no-untyped-def]
    nats_server: NatsServer,
) -> AsyncIterator[dict[str, Node]]:
    etcd, nats = etcd_server.endpoint, nats_server.url
    nodes = {"hub": hub_node(tmp_path, nats, etcd).launch()}
    try:
        for site in SITES:
            nodes[site] = site_node(tmp_path, site, nats, etcd).launch()
        await asyncio.gather(*(n.healthy() for n in nodes.values()))
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


async def test_site_killed_its_area_goes_to_the_next_nearest(
    province: dict[str, Node], etcd_server: EtcdServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    etcd = [etcd_server.endpoint]
    prov = load_province_file(fast_province(tmp_path))
    edge = AccessEdge(etcd, prov, ledger_path=tmp_path / "edge-ledger.jsonl")
    survivors = [s.id for s in prov.nearest_sites("0872") if s.id in {"KM", "QJ"}]
    try:

        async def dl_first() -> bool:
            try:
                return (await edge.route("0872"))[:1] == ["DL"]
            except Exception:
                return False

        await until(dl_first, "the routing map to send 0872 to DL", 60)
        waiting = []
        for i in range(10, 13):  # DL callers, no agent at DL: they wait in its queue
            call = await edge.offer(phone_for("0872", i), "1000", "0")
            assert call.site_id == "DL" and call.state == "queued", call
            waiting.append(call.call_id)

        province["DL"].proc.kill()
        killed = time.monotonic()

        async def map_moved() -> bool:
            entry = (await read_routing_map(etcd)).get("0872", [])
            return bool(entry) and "DL" not in entry

        await until(map_moved, "the hub to drop DL from the routing map", REROUTE_BOUND_S)
        reroute_s = time.monotonic() - killed
        assert (await read_routing_map(etcd))["0872"] == survivors
        assert (await edge.route("0872"))[0] == survivors[0]

        new_calls = [await edge.offer(phone_for("0872", i), "1000", "0") for i in (20, 21)]
        for call in new_calls:
            assert call.site_id == survivors[0] and call.state == "queued", call
            assert call.tried == []  # chosen by the map, not by a failed attempt

        lost = await edge.sweep()
        assert sorted(c.call_id for c in lost) == sorted(waiting)
        assert all(c.reason == "site_lost" and c.site_id == "DL" for c in lost)
        counts = edge.counts()
        assert counts.get("lost") == 3 and counts.get("queued") == 2, counts
        ledger = (tmp_path / "edge-ledger.jsonl").read_text().splitlines()
        assert len(ledger) == 3 and all('"site_lost"' in line for line in ledger)
        print(
            f"\nreroute after SIGKILL of DL: routing map moved 0872 to {survivors[0]} "
            f"in {reroute_s:.2f} s; calls lost with DL: {len(lost)}"
        )
    finally:
        await edge.close()
