"""One root error type for the whole project, with structured fields.

Only the gRPC adapter maps these to status codes (see ``vcc_proto.status``); domain code
raises them without knowing about transports.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID = "invalid"  # malformed input, a field over its limit
    NOT_FOUND = "not_found"  # unknown site, agent, business, call
    CONFLICT = "conflict"  # state does not allow it (already logged in, not offered to you)
    UNAUTHENTICATED = "unauthenticated"  # wrong password
    LOCKED = "locked"  # too many failures, locked for a while
    FORBIDDEN = "forbidden"  # a signed-in person whose role may not do this
    UNAVAILABLE = "unavailable"  # a dependency (hub, other site) cannot be reached
    EXHAUSTED = "exhausted"  # a capacity or bound is full (trunks, IVR ports)
    NOT_LEADER = "not_leader"  # a hub follower refusing a write
    FENCED = "fenced"  # a write carrying a stale fencing token
    INTERNAL = "internal"


class VccError(Exception):
    """Root of every error the project raises on purpose."""

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(VccError):
    kind = ErrorKind.INVALID


class NotFound(VccError):
    kind = ErrorKind.NOT_FOUND


class Conflict(VccError):
    kind = ErrorKind.CONFLICT


class Unauthenticated(VccError):
    kind = ErrorKind.UNAUTHENTICATED


class Locked(VccError):
    kind = ErrorKind.LOCKED


class Forbidden(VccError):
    """The caller is known but may not do this (a person's role, another site's person)."""

    kind = ErrorKind.FORBIDDEN


class Unavailable(VccError):
    kind = ErrorKind.UNAVAILABLE


class ResourceExhausted(Unavailable):
    """A capacity is full (all trunks or IVR ports in use): try later. A kind of
    :class:`Unavailable`, so code retrying elsewhere on Unavailable still does."""

    kind = ErrorKind.EXHAUSTED


class NotLeader(VccError):
    kind = ErrorKind.NOT_LEADER


class Fenced(VccError):
    kind = ErrorKind.FENCED


class ConfigError(InvalidInput):
    """A configuration or province file that cannot be used; names the field."""
