"""Generic knowledge of our gRPC services, read from the generated code.

:data:`SERVICES` names every service of ``vcc_proto.v1`` with its generated module and
``add_<Service>Servicer_to_server`` function, so a process registers servicers by name;
:func:`unimplemented_methods` is what the contract test uses to prove that every RPC of
every service a process serves is implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from vcc_proto.v1 import (
    edge_pb2,
    edge_pb2_grpc,
    hub_pb2,
    hub_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    people_pb2,
    people_pb2_grpc,
    quality_pb2,
    quality_pb2_grpc,
    site_pb2,
    site_pb2_grpc,
)

PACKAGE = "vcc_proto.v1"

# short service name -> (generated *_pb2_grpc module, name of its add_*_to_server function)
SERVICES: dict[str, tuple[ModuleType, str]] = {
    "Access": (site_pb2_grpc, "add_AccessServicer_to_server"),
    "AgentDesk": (site_pb2_grpc, "add_AgentDeskServicer_to_server"),
    "Remote": (site_pb2_grpc, "add_RemoteServicer_to_server"),
    "WorkOrders": (site_pb2_grpc, "add_WorkOrdersServicer_to_server"),
    "Quality": (quality_pb2_grpc, "add_QualityServicer_to_server"),
    "People": (people_pb2_grpc, "add_PeopleServicer_to_server"),
    "Directory": (hub_pb2_grpc, "add_DirectoryServicer_to_server"),
    "Routing": (hub_pb2_grpc, "add_RoutingServicer_to_server"),
    "Reports": (hub_pb2_grpc, "add_ReportsServicer_to_server"),
    "Replication": (hub_pb2_grpc, "add_ReplicationServicer_to_server"),
    "Customers": (hub_pb2_grpc, "add_CustomersServicer_to_server"),
    "ProvinceWorkOrders": (hub_pb2_grpc, "add_ProvinceWorkOrdersServicer_to_server"),
    "Node": (node_pb2_grpc, "add_NodeServicer_to_server"),
    "Edge": (edge_pb2_grpc, "add_EdgeServicer_to_server"),
}

# The message module (holding DESCRIPTOR) of each *_pb2_grpc module.
_PB2_OF: dict[str, ModuleType] = {
    site_pb2_grpc.__name__: site_pb2,
    hub_pb2_grpc.__name__: hub_pb2,
    node_pb2_grpc.__name__: node_pb2,
    edge_pb2_grpc.__name__: edge_pb2,
    people_pb2_grpc.__name__: people_pb2,
    quality_pb2_grpc.__name__: quality_pb2,
}

# Services each kind of process serves (besides grpc.health.v1.Health and reflection).
SITE_SERVICES = ("Node", "Access", "AgentDesk", "Remote", "WorkOrders", "People", "Quality")
HUB_SERVICES = (
    "Node",
    "Directory",
    "Routing",
    "Reports",
    "Replication",
    "Customers",
    "ProvinceWorkOrders",
    "People",
)
EDGE_SERVICES = ("Node", "Edge")


@dataclass(frozen=True)
class ServiceInfo:
    """One of our services as described by the generated code."""

    name: str  # short name, e.g. "Access"
    full_name: str  # e.g. "vcc_proto.v1.Access"
    methods: tuple[str, ...]  # RPC names in declaration order
    servicer_base: type  # the generated <Name>Servicer class
    add_to_server: Callable[[Any, Any], None]  # add_<Name>Servicer_to_server


def _short(service_name: str) -> str:
    """``"vcc_proto.v1.Access"`` or ``"Access"`` -> ``"Access"``; KeyError if unknown."""
    short = service_name.removeprefix(PACKAGE + ".")
    if short not in SERVICES:
        raise KeyError(f"unknown service {service_name!r}; known: {sorted(SERVICES)}")
    return short


def service_info(service_name: str) -> ServiceInfo:
    """Everything the generated code says about a service (short or full name)."""
    short = _short(service_name)
    grpc_module, add_name = SERVICES[short]
    descriptor = _PB2_OF[grpc_module.__name__].DESCRIPTOR.services_by_name[short]
    return ServiceInfo(
        name=short,
        full_name=descriptor.full_name,
        methods=tuple(m.name for m in descriptor.methods),
        servicer_base=getattr(grpc_module, f"{short}Servicer"),
        add_to_server=getattr(grpc_module, add_name),
    )


def service_full_name(service_name: str) -> str:
    """The fully qualified name, e.g. ``"vcc_proto.v1.Access"`` (for health and reflection)."""
    return service_info(service_name).full_name


def method_path(service_name: str, method: str) -> str:
    """The HTTP/2 path of an RPC, e.g. ``"/vcc_proto.v1.Access/OfferCall"``."""
    info = service_info(service_name)
    if method not in info.methods:
        raise KeyError(f"{info.full_name} has no RPC {method!r}; it has {list(info.methods)}")
    return f"/{info.full_name}/{method}"


def request_descriptor(service_name: str, method: str) -> Any:
    """The message descriptor of an RPC's request type."""
    short = _short(service_name)
    services = _PB2_OF[SERVICES[short][0].__name__].DESCRIPTOR.services_by_name
    found = services[short].methods_by_name.get(method)
    if found is None:
        raise KeyError(f"{short} has no RPC {method!r}")
    return found.input_type


def unimplemented_methods(servicer: object, service_name: str) -> list[str]:
    """RPCs of the service that the servicer's class does not implement, in proto order.

    A method counts as implemented when the servicer's class resolves it to something
    other than the generated base class's placeholder (which answers UNIMPLEMENTED).
    """
    info = service_info(service_name)
    cls = type(servicer)
    missing = []
    for name in info.methods:
        placeholder = getattr(info.servicer_base, name, None)
        impl = getattr(cls, name, None)
        if impl is None or not callable(impl) or impl is placeholder:
            missing.append(name)
    return missing


def add_servicer(server: Any, service_name: str, servicer: object) -> str:
    """Register ``servicer`` on a ``grpc.aio`` server; returns the service's full name.

    Refuses a servicer that leaves any RPC unimplemented, so a process never serves a
    half-implemented contract.
    """
    missing = unimplemented_methods(servicer, service_name)
    info = service_info(service_name)
    if missing:
        raise TypeError(f"{type(servicer).__name__} does not implement {info.full_name}: {missing}")
    info.add_to_server(servicer, server)
    return info.full_name
