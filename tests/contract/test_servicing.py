"""Every RPC of a served service is implemented: the check itself, and the registry."""

from __future__ import annotations

from typing import Any

import grpc.aio
import pytest

from vcc_proto import servicing
from vcc_proto.v1 import (
    edge_pb2,
    hub_pb2,
    node_pb2,
    node_pb2_grpc,
    people_pb2,
    quality_pb2,
    site_pb2,
    site_pb2_grpc,
)


def make_complete_servicer(service_name: str) -> object:
    """A subclass of the generated base overriding every RPC of the service."""
    info = servicing.service_info(service_name)

    async def rpc(self: object, request: Any, context: Any) -> None:
        return None

    methods = dict.fromkeys(info.methods, rpc)
    return type(f"Complete{info.name}", (info.servicer_base,), methods)()


@pytest.mark.parametrize("service_name", sorted(servicing.SERVICES))
def test_complete_servicer_reports_nothing_missing(service_name: str) -> None:
    servicer = make_complete_servicer(service_name)
    assert servicing.unimplemented_methods(servicer, service_name) == []


class PartialNode(node_pb2_grpc.NodeServicer):
    pass


class AccessWithoutHangUp(site_pb2_grpc.AccessServicer):
    async def OfferCall(self, request: Any, context: Any) -> Any: ...

    async def SendDigits(self, request: Any, context: Any) -> Any: ...

    async def GetCall(self, request: Any, context: Any) -> Any: ...


class NotASubclass:
    """Duck-typed servicer: implements only GetInfo of Node."""

    async def GetInfo(self, request: Any, context: Any) -> Any: ...


class InheritsImplementation(AccessWithoutHangUp):
    async def HangUp(self, request: Any, context: Any) -> Any: ...


def test_missing_method_is_reported_exactly() -> None:
    # The generated stubs mark every RPC abstract; instantiating partial servicers is the point.
    partial_access = AccessWithoutHangUp()  # type: ignore[abstract]
    partial_node = PartialNode()  # type: ignore[abstract]
    assert servicing.unimplemented_methods(partial_access, "Access") == ["HangUp"]
    assert servicing.unimplemented_methods(partial_node, "vcc_proto.v1.Node") == ["GetInfo"]


def test_duck_typed_and_inherited_implementations_count() -> None:
    assert servicing.unimplemented_methods(NotASubclass(), "Node") == []
    assert servicing.unimplemented_methods(InheritsImplementation(), "Access") == []
    remote_missing = servicing.unimplemented_methods(object(), "Remote")
    assert remote_missing == list(servicing.service_info("Remote").methods)


def test_registry_matches_the_contracts() -> None:
    declared = {
        *site_pb2.DESCRIPTOR.services_by_name,
        *hub_pb2.DESCRIPTOR.services_by_name,
        *node_pb2.DESCRIPTOR.services_by_name,
        *edge_pb2.DESCRIPTOR.services_by_name,
        *people_pb2.DESCRIPTOR.services_by_name,
        *quality_pb2.DESCRIPTOR.services_by_name,
    }
    assert set(servicing.SERVICES) == declared
    served = {*servicing.SITE_SERVICES, *servicing.HUB_SERVICES, *servicing.EDGE_SERVICES}
    assert served == declared
    for name in declared:
        info = servicing.service_info(name)
        assert info.full_name == f"vcc_proto.v1.{name}"
        assert servicing.service_full_name(info.full_name) == info.full_name
        assert info.methods


def test_names_and_paths() -> None:
    assert servicing.service_full_name("Access") == "vcc_proto.v1.Access"
    assert servicing.method_path("Access", "OfferCall") == "/vcc_proto.v1.Access/OfferCall"
    with pytest.raises(KeyError):
        servicing.method_path("Access", "NoSuchRpc")
    with pytest.raises(KeyError):
        servicing.service_info("vcc_proto.v1.Nope")


async def test_add_servicer_refuses_incomplete_and_registers_complete() -> None:
    server = grpc.aio.server()
    with pytest.raises(TypeError, match="HangUp"):
        servicing.add_servicer(server, "Access", AccessWithoutHangUp())  # type: ignore[abstract]
    name = servicing.add_servicer(server, "Node", make_complete_servicer("Node"))
    assert name == "vcc_proto.v1.Node"
    await server.stop(grace=None)
