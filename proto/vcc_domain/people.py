"""People who sign in: their roles, who may manage whom, and the life of a session.

A person is a seat of the directory (an agent, a team leader, a quality inspector, ...)
at their home site, where they sign in. The seat's role of the province file
(:class:`vcc_domain.province.Role`) gives the person's role in the authorization table
(:data:`PERSON_ROLES`): general and specialist seats are *agents*, team and shift leaders
*team leaders*, QA seats *quality inspectors*, system management seats *site
administrators*.

A session is a random bearer token given once to the person; only its SHA-256 digest is
kept (the token has 256 bits of entropy, so a fast digest is enough, unlike a password).
It ends when idle longer than :attr:`SessionPolicy.idle_s`, at the latest
:attr:`SessionPolicy.absolute_s` after sign-in, and when revoked (sign-out, password
change or reset, removal from the directory). Nothing here does I/O; times are integer
milliseconds passed in by the caller (an injected clock).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from vcc_domain.province import Role

PERSON_ROLES = (
    "agent",
    "team_leader",
    "quality_inspector",
    "data_maintenance",
    "site_admin",
    "province_manager",
    "operations",
)

ROLE_OF_SEAT: dict[Role, str] = {
    Role.GENERAL: "agent",
    Role.SPECIALIST: "agent",
    Role.TEAM_LEADER: "team_leader",
    Role.SHIFT_LEADER: "team_leader",
    Role.QA: "quality_inspector",
    Role.DATA_MAINTENANCE: "data_maintenance",
    Role.SYSTEM_ADMIN: "site_admin",
}

#: Whose password a role may reset and whose lock it may lift, where it signs in: a team
#: leader manages agents and a site administrator everybody at their site; operations
#: manage the province's people at the hub; nobody manages themselves (they change their
#: own password with the old one).
MANAGES: dict[str, frozenset[str]] = {
    "team_leader": frozenset({"agent"}),
    "site_admin": frozenset(PERSON_ROLES) - {"province_manager", "operations"},
    "operations": frozenset({"province_manager", "operations"}),
}

BEARER = "bearer "
TOKEN_BYTES = 32
MAX_SESSIONS_PER_PERSON = 8  # a further sign-in ends the person's oldest session


def person_role(seat: Role) -> str:
    """The authorization role of a seat role."""
    return ROLE_OF_SEAT[seat]


def may_manage(actor_role: str, target_role: str) -> bool:
    """True when ``actor_role`` may reset the password of, or unlock, ``target_role``."""
    return target_role in MANAGES.get(actor_role, frozenset())


def new_token() -> str:
    """A fresh session token (URL-safe text, 256 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def bearer_token(metadata: Iterable[tuple[str, Any]]) -> str | None:
    """The token of an ``authorization: Bearer <token>`` metadata entry; ``""`` when the
    entry is there but malformed (a refusal, not "no person"); None when there is none."""
    for key, value in metadata:
        if key.lower() != "authorization":
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if text[: len(BEARER)].lower() != BEARER:
            return ""
        return text[len(BEARER) :].strip()
    return None


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """A session ends ``idle_s`` after its last use and ``absolute_s`` after sign-in."""

    idle_s: int = 30 * 60
    absolute_s: int = 12 * 3600

    def __post_init__(self) -> None:
        if self.idle_s < 1 or self.absolute_s < 1:
            raise ValueError("session limits must be at least one second")


@dataclass(frozen=True, slots=True)
class PersonSession:
    """One signed-in person (the token itself is not kept)."""

    digest: str
    person_id: str
    role: str
    site_id: str
    started_ms: int
    last_used_ms: int
    must_change: bool = False

    def expires_at_ms(self, policy: SessionPolicy) -> int:
        """When the session ends if not used again."""
        return min(
            self.last_used_ms + policy.idle_s * 1000, self.started_ms + policy.absolute_s * 1000
        )

    def live(self, now_ms: int, policy: SessionPolicy) -> bool:
        return now_ms < self.expires_at_ms(policy)


class SessionTable:
    """The live sessions of one node, by token digest."""

    def __init__(self, policy: SessionPolicy | None = None) -> None:
        self.policy = policy or SessionPolicy()
        self._by_digest: dict[str, PersonSession] = {}

    def open(
        self, person_id: str, role: str, site_id: str, now_ms: int, *, must_change: bool = False
    ) -> tuple[str, PersonSession]:
        """A new session: the token (give it to the person, once) and its record. At
        most :data:`MAX_SESSIONS_PER_PERSON` per person: the oldest one ends first."""
        self.sweep(now_ms)
        mine = sorted(
            (s.started_ms, d) for d, s in self._by_digest.items() if s.person_id == person_id
        )
        for _started, digest in mine[: max(0, len(mine) - MAX_SESSIONS_PER_PERSON + 1)]:
            del self._by_digest[digest]
        token = new_token()
        session = PersonSession(
            token_digest(token), person_id, role, site_id, now_ms, now_ms, must_change
        )
        self._by_digest[session.digest] = session
        return token, session

    def use(self, token: str, now_ms: int) -> PersonSession | None:
        """The live session of ``token`` (its idle time restarts), or None: unknown,
        revoked or expired (an expired one is dropped)."""
        digest = token_digest(token)
        found = self._by_digest.get(digest)
        if found is None:
            return None
        if not found.live(now_ms, self.policy):
            del self._by_digest[digest]
            return None
        touched = replace(found, last_used_ms=max(found.last_used_ms, now_ms))
        self._by_digest[digest] = touched
        return touched

    def revoke(self, token: str) -> PersonSession | None:
        """End one session; the session it was, or None."""
        return self._by_digest.pop(token_digest(token), None)

    def revoke_person(self, person_id: str) -> int:
        """End every session of a person; how many there were."""
        gone = [d for d, s in self._by_digest.items() if s.person_id == person_id]
        for digest in gone:
            del self._by_digest[digest]
        return len(gone)

    def sweep(self, now_ms: int) -> int:
        """Drop expired sessions; how many."""
        gone = [d for d, s in self._by_digest.items() if not s.live(now_ms, self.policy)]
        for digest in gone:
            del self._by_digest[digest]
        return len(gone)

    def people(self) -> set[str]:
        """Who has a session (live or not yet swept)."""
        return {s.person_id for s in self._by_digest.values()}

    def __len__(self) -> int:
        return len(self._by_digest)


@dataclass(frozen=True, slots=True)
class PersonState:
    """A person as the node they sign in at knows them (``site_id`` "" at the hub)."""

    id: str
    name: str
    role: str
    site_id: str
    must_change: bool
    locked_until_ms: int


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the token (shown once), its record and the person."""

    token: str
    session: PersonSession
    person: PersonState
