"""Every RPC of every service that a hub or site process serves is implemented."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from vcc_domain.clock import SystemClock
from vcc_hub.app import load_hub, start_parts
from vcc_hub.components import HubContext
from vcc_hub.settings import HubNodeSettings
from vcc_ops.cli import example_province_path
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.server import ServedService
from vcc_proto.servicing import unimplemented_methods
from vcc_replication import fencing
from vcc_replication.background import BackgroundNats
from vcc_replication.db import make_engine
from vcc_site.app import load_site
from vcc_site.store.memory import MemorySiteStore


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(
        province_file=example_province_path(),
        data_dir=tmp_path,
        nats_urls=("nats://127.0.0.1:1",),
        etcd_endpoints=("127.0.0.1:1",),
    )


def _hub_services(tmp_path: Path) -> list[ServedService]:
    """Node plus every service the hub's components serve (built over a real SQLite)."""

    async def build() -> list[ServedService]:
        config = replace(_config(tmp_path), etcd_endpoints=())  # a lone hub: it leads
        hub = load_hub(config)
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        await fencing.migrate(engine)
        ctx = HubContext(
            config=config,
            province=hub.province,
            engine=engine,
            nats=BackgroundNats(["nats://127.0.0.1:1"], name="test"),
            state=hub.state,
            clock=SystemClock(),
        )
        parts = await start_parts(ctx, HubNodeSettings())
        try:
            return hub.build_services() + parts.services()
        finally:
            await parts.stop()
            await engine.dispose()

    return asyncio.run(build())


def _site_services(tmp_path: Path) -> list[ServedService]:
    return load_site(_config(tmp_path), "KM", MemorySiteStore("KM")).build_services()


@pytest.mark.parametrize("build", [_hub_services, _site_services], ids=["hub", "site"])
def test_every_served_rpc_is_implemented(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = build(tmp_path)
    assert services, "a process serves at least the Node service"
    missing = {s.name: unimplemented_methods(s.servicer, s.name) for s in services}
    assert all(not m for m in missing.values()), f"unimplemented RPCs: {missing}"
    assert "vcc_proto.v1.Node" in {s.name for s in services}


def test_hub_serves_directory_and_replication(tmp_path: Path) -> None:
    names = {s.name for s in _hub_services(tmp_path)}
    assert {"vcc_proto.v1.Directory", "vcc_proto.v1.Replication"} <= names


def test_site_serves_access_desk_and_remote(tmp_path: Path) -> None:
    names = {s.name for s in _site_services(tmp_path)}
    assert {"vcc_proto.v1.Access", "vcc_proto.v1.AgentDesk", "vcc_proto.v1.Remote"} <= names
