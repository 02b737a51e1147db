"""Who may write at the hub, with the fencing token that proves it.

Only the leader hub writes. A write asks the process's :class:`Leadership` for its
current token (``require()``) and carries it into the database transaction, where
:func:`vcc_replication.fencing.advance_fence` refuses it if a newer leader has written since.
A follower's ``require()`` raises :class:`NotLeader` naming the leader, which the gRPC
edge turns into FAILED_PRECONDITION with the leader's endpoint for clients to follow.
"""

from __future__ import annotations

from typing import Protocol

from vcc_domain.errors import NotLeader


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    @property
    def leader_endpoint(self) -> str:
        """gRPC endpoint of the current leader ("" if unknown)."""

    def require(self) -> int:
        """The fencing token of this leader; raises NotLeader on a follower."""


class StaticLeadership:
    """A single hub that always leads (the embedded province, unit tests)."""

    def __init__(self, endpoint: str = "", token: int = 1) -> None:
        self._endpoint = endpoint
        self._token = token

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def leader_endpoint(self) -> str:
        return self._endpoint

    def require(self) -> int:
        return self._token


class Follower:
    """A hub that is not the leader (tests of NotLeader handling)."""

    def __init__(self, leader_endpoint: str) -> None:
        self._leader = leader_endpoint

    @property
    def is_leader(self) -> bool:
        return False

    @property
    def leader_endpoint(self) -> str:
        return self._leader

    def require(self) -> int:
        raise NotLeader(
            f"this hub is not the leader; the leader is at {self._leader or '?'}",
            leader=self._leader,
        )


class HubLocator(Protocol):
    """How a site or a CLI finds the hub leader's gRPC endpoint."""

    async def leader_endpoint(self) -> str:
        """The leader's ``host:port``; raises Unavailable when no leader is known."""


class StaticHubLocator:
    """A fixed hub endpoint (single hub, tests)."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    async def leader_endpoint(self) -> str:
        if not self._endpoint:
            from vcc_domain.errors import Unavailable

            raise Unavailable("no hub endpoint is configured")
        return self._endpoint
