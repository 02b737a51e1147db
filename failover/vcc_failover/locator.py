"""Finding the hub leader through etcd.

The leader hub holds the key :data:`LEADER_KEY` (under its election lease) whose value is
JSON ``{"node": ..., "grpc": "host:port", "token": N}``. Sites and the CLI read it to
know where to send writes and lookups, and read it again after a NOT_LEADER answer.
"""

from __future__ import annotations

import json

from vcc_domain.errors import Unavailable
from vcc_failover.lease import get_prefix

LEADER_KEY = "/vcc/hub/leader"


class EtcdHubLocator:
    def __init__(self, endpoints: list[str]) -> None:
        self._endpoints = endpoints

    async def leader_endpoint(self) -> str:
        if not self._endpoints:
            raise Unavailable("no etcd endpoints configured to find the hub leader")
        found = await get_prefix(self._endpoints, LEADER_KEY, retry_for_s=2)
        raw = found.get(LEADER_KEY)
        if not raw:
            raise Unavailable("no hub leader is elected right now")
        try:
            endpoint = str(json.loads(raw)["grpc"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"malformed hub leader record in etcd: {raw[:80]!r}") from exc
        return endpoint
