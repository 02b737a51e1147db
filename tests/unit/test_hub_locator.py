"""EtcdHubLocator: concurrent lookups share one etcd read; an unreachable etcd is not
asked again for FAIL_HOLD_S; "no leader elected" is never held."""

from __future__ import annotations

import asyncio
import json

import pytest

from vcc_domain.errors import Unavailable
from vcc_failover import locator as loc


class FakeEtcd:
    """Stands in for ``get_prefix`` (the etcd read itself is covered by test_hub_ha)."""

    def __init__(self) -> None:
        self.reads = 0
        self.answer: dict[str, str] | Exception = {}
        self.gate = asyncio.Event()
        self.gate.set()

    async def get_prefix(
        self, endpoints: list[str], prefix: str, *, retry_for_s: float
    ) -> dict[str, str]:
        self.reads += 1
        await self.gate.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def etcd(monkeypatch: pytest.MonkeyPatch) -> FakeEtcd:
    fake = FakeEtcd()
    monkeypatch.setattr(loc, "get_prefix", fake.get_prefix)
    return fake


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_lookups_share_one_read(etcd: FakeEtcd) -> None:
    etcd.answer = {loc.LEADER_KEY: json.dumps({"grpc": "127.0.0.1:5000"})}
    etcd.gate.clear()
    locator = loc.EtcdHubLocator(["127.0.0.1:2379"])
    waiters = [asyncio.create_task(locator.leader_endpoint()) for _ in range(5)]
    await asyncio.sleep(0)
    etcd.gate.set()
    assert await asyncio.gather(*waiters) == ["127.0.0.1:5000"] * 5
    assert etcd.reads == 1
    assert await locator.leader_endpoint() == "127.0.0.1:5000"
    assert etcd.reads == 2  # a success is not cached: the next lookup reads again


async def test_unreachable_etcd_is_held_then_asked_again(etcd: FakeEtcd) -> None:
    clock = Clock()
    etcd.answer = Unavailable("etcd at 127.0.0.1:1 unreachable: refused")
    locator = loc.EtcdHubLocator(["127.0.0.1:1"], monotonic=clock)
    for _ in range(3):
        with pytest.raises(Unavailable, match="unreachable"):
            await locator.leader_endpoint()
    assert etcd.reads == 1
    clock.now += loc.FAIL_HOLD_S + 0.01
    etcd.answer = {loc.LEADER_KEY: json.dumps({"grpc": "127.0.0.1:5001"})}
    assert await locator.leader_endpoint() == "127.0.0.1:5001"
    assert etcd.reads == 2


async def test_no_leader_is_not_held(etcd: FakeEtcd) -> None:
    locator = loc.EtcdHubLocator(["127.0.0.1:2379"], monotonic=Clock())
    with pytest.raises(Unavailable, match="no hub leader"):
        await locator.leader_endpoint()
    etcd.answer = {loc.LEADER_KEY: json.dumps({"grpc": "127.0.0.1:5002"})}
    assert await locator.leader_endpoint() == "127.0.0.1:5002"
    etcd.answer = {loc.LEADER_KEY: "{not json"}
    with pytest.raises(Unavailable, match="malformed"):
        await locator.leader_endpoint()
    assert etcd.reads == 3
