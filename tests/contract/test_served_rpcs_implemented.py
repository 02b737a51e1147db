"""Every RPC of every service that a hub or site process serves is implemented."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_hub.app import load_hub
from vcc_ops.cli import example_province_path
from vcc_proto.nodeconfig import NodeConfig
from vcc_proto.server import ServedService
from vcc_proto.servicing import unimplemented_methods
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
    return load_hub(_config(tmp_path)).build_services()


def _site_services(tmp_path: Path) -> list[ServedService]:
    return load_site(_config(tmp_path), "KM", MemorySiteStore("KM")).build_services()


@pytest.mark.parametrize("build", [_hub_services, _site_services], ids=["hub", "site"])
def test_every_served_rpc_is_implemented(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = build(tmp_path)
    assert services, "a process serves at least the Node service"
    missing = {s.name: unimplemented_methods(s.servicer, s.name) for s in services}
    assert all(not m for m in missing.values()), f"unimplemented RPCs: {missing}"
    assert "vcc_proto.v1.Node" in {s.name for s in services}


def test_site_serves_access_desk_and_remote(tmp_path: Path) -> None:
    names = {s.name for s in _site_services(tmp_path)}
    assert {"vcc_proto.v1.Access", "vcc_proto.v1.AgentDesk", "vcc_proto.v1.Remote"} <= names
