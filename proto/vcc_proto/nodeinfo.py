"""The ``Node`` service every vcc process serves: who it is and what it serves."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import grpc

from vcc_proto.server import ServedService
from vcc_proto.v1 import node_pb2, node_pb2_grpc

KINDS = {
    "hub": node_pb2.PROCESS_KIND_HUB,
    "site": node_pb2.PROCESS_KIND_SITE,
    "edge": node_pb2.PROCESS_KIND_EDGE,
}


def software_version() -> str:
    try:
        return version("vcc")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


@dataclass
class NodeState:
    """Mutable facts about this process, filled in as it starts and runs."""

    kind: str  # "hub" | "site" | "edge"
    site_id: str
    node_id: str
    started_at: float = field(default_factory=time.time)
    grpc_endpoint: str = ""
    metrics_endpoint: str = ""
    directory_version: int = 0
    is_leader: bool = False
    leader_endpoint: str = ""


class NodeInfoServicer(node_pb2_grpc.NodeServicer):
    def __init__(self, state: NodeState) -> None:
        self._state = state

    async def GetInfo(
        self, request: node_pb2.GetInfoRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.NodeInfo:
        s = self._state
        kind = KINDS.get(s.kind, node_pb2.PROCESS_KIND_UNSPECIFIED)
        return node_pb2.NodeInfo(
            kind=kind,
            site_id=s.site_id,
            node_id=s.node_id,
            version=software_version(),
            started_at_ms=int(s.started_at * 1000),
            directory_version=s.directory_version,
            grpc_endpoint=s.grpc_endpoint,
            metrics_endpoint=f"http://{s.metrics_endpoint}/metrics" if s.metrics_endpoint else "",
            is_leader=s.is_leader,
            leader_endpoint=s.leader_endpoint,
            pid=os.getpid(),
        )


def node_service(servicer: NodeInfoServicer) -> ServedService:
    name = node_pb2.DESCRIPTOR.services_by_name["Node"].full_name
    return ServedService(name, servicer, node_pb2_grpc.add_NodeServicer_to_server)
