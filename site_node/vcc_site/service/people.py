"""People of this site sign in, out, change and reset passwords, and unlock each other.

Everyone with a seat at this site in the directory (agents, team leaders, quality
inspectors, data maintenance, site administrators, :mod:`vcc_domain.people`) signs in
here: the site holds their password hashes and works on when the hub is away. A sign-in
gives a random session token; the site keeps only its digest, in memory (a restart signs
everybody out), with idle and absolute limits on the injected clock.

* Sign-in counts every attempt in the database before the hash check (:mod:`.attempts`,
  shared with the agent desk) and answers every failure, a lock included, with the one
  :data:`WRONG_SIGN_IN`, so the answer tells nobody which IDs exist or are locked.
* A credential from the directory (or a reset) must be changed first: until then the
  session may only change the password (enforced by the authorization interceptor).
* Sessions end on sign-out, on a password change or reset, and when the person is no
  longer in the directory at this site (checked at every use).
* Reset and unlock are for a team leader (agents) or a site administrator (everybody at
  the site but themselves); both are audited with the signed-in actor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace

from vcc_domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from vcc_domain.ids import new_id
from vcc_domain.people import (
    PersonSession,
    PersonState,
    SessionPolicy,
    SessionTable,
    SignedIn,
    bearer_token,
    may_manage,
    person_role,
)
from vcc_domain.province import Agent
from vcc_proto.authz_interceptor import Metadata, Person
from vcc_site.domain.secrets import (
    LockoutPolicy,
    hash_generated_secret,
    hash_secret,
    validate_password,
    verify_secret,
)
from vcc_site.service import attempts
from vcc_site.service.core import SiteCore
from vcc_site.service.desk import dummy_hash
from vcc_site.store.api import AuditRecord, CredentialRecord, UnitOfWork

log = logging.getLogger(__name__)

WRONG_SIGN_IN = "wrong ID or password, or locked after repeated failures"
MAX_ID = 64
ONE_TIME_BYTES = 9  # 12 URL-safe characters


class PeopleService:
    def __init__(self, core: SiteCore, policy: SessionPolicy | None = None) -> None:
        self.core = core
        self.sessions = SessionTable(policy)
        self.lockout = LockoutPolicy.for_agents(core.province.routing)
        # asked before a team leader signs out, with (leader, signed in since): raises
        # Conflict while their handover is not acknowledged by a signed-in successor
        self.leader_sign_out: Callable[[str, int], Awaitable[object]] | None = None

    def signed_in(self) -> set[str]:
        """The people with a live session at this site now."""
        self.sessions.sweep(self.core.now_ms())
        return self.sessions.people()

    # -- who -------------------------------------------------------------------------------

    def profile(self, person_id: str) -> Agent | None:
        """The person's seat when it is at this site, else None."""
        try:
            found = self.core.province.agent(person_id)
        except NotFound:
            return None
        return found if found.home_site == self.core.site_id else None

    def person_of(self, metadata: Metadata) -> Person | None:
        """The person of the request's bearer token (the interceptor's hook), or None."""
        token = bearer_token(metadata)
        return self.person_for(token) if token else None

    def person_for(self, token: str) -> Person | None:
        """The person of a live session token; their role is the directory's of now."""
        session = self.sessions.use(token, self.core.now_ms())
        if session is None:
            return None
        profile = self.profile(session.person_id)
        if profile is None:  # removed from the directory, or moved to another site
            self.sessions.revoke_person(session.person_id)
            return None
        return Person(
            session.person_id, person_role(profile.role), self.core.site_id, session.must_change
        )

    async def state(self, person_id: str) -> PersonState:
        profile = self.profile(person_id)
        cred = await self.core.store.credential(person_id) if profile else None
        if profile is None or cred is None:
            raise NotFound(
                f"no person {person_id!r} at site {self.core.site_id}", field="person_id"
            )
        return self._state(profile, cred)

    def _state(self, profile: Agent, cred: CredentialRecord) -> PersonState:
        now = self.core.now_ms()
        return PersonState(
            profile.id,
            profile.name,
            person_role(profile.role),
            self.core.site_id,
            cred.must_change,
            cred.locked_until_ms if cred.locked_until_ms > now else 0,
        )

    # -- sign-in ---------------------------------------------------------------------------

    async def sign_in(self, person_id: str, password: str) -> SignedIn:
        """A new session, or :data:`WRONG_SIGN_IN` (UNAUTHENTICATED) for any failure."""
        profile, cred = await self._check_password(person_id, password, "sign_in")
        now = self.core.now_ms()
        role = person_role(profile.role)
        token, session = self.sessions.open(
            person_id, role, self.core.site_id, now, must_change=cred.must_change
        )
        await self._audit(_who(person_id), "sign_in", person_id, now)
        return SignedIn(token, session, self._state(profile, cred))

    async def _check_password(
        self, person_id: str, password: str, action: str
    ) -> tuple[Agent, CredentialRecord]:
        core = self.core
        store = core.store
        if len(person_id) > MAX_ID:
            raise InvalidInput(f"is longer than {MAX_ID} characters", field="person_id")
        profile = self.profile(person_id) if person_id else None
        cred = await store.credential(person_id) if profile is not None else None
        if profile is None or cred is None:
            await asyncio.to_thread(verify_secret, dummy_hash(), password)
            core.metrics.login_failed()
            raise Unauthenticated(WRONG_SIGN_IN, field="password")

        async def read() -> tuple[int, int] | None:
            found = await store.credential(person_id)
            return (found.failures, found.locked_until_ms) if found else None

        now = core.now_ms()
        charged = await attempts.charge(store, "agent", person_id, read, now, self.lockout)
        if charged is None or charged.locked:
            core.metrics.login_failed()
            await self._audit(_who(person_id), f"{action}_locked_refused", person_id, now)
            raise Unauthenticated(WRONG_SIGN_IN, field="password")
        if not await asyncio.to_thread(verify_secret, cred.password_hash, password):
            core.metrics.login_failed()
            outcome = "locked" if charged.locked_until_ms > now else "failed"
            await self._audit(_who(person_id), f"{action}_{outcome}", person_id, now)
            raise Unauthenticated(WRONG_SIGN_IN, field="password")
        await attempts.clear(store, "agent", person_id, read)
        return profile, replace(cred, failures=0, locked_until_ms=0)

    async def sign_out(self, token: str) -> PersonSession:
        now = self.core.now_ms()
        held = self.sessions.use(token, now)
        if held is None:
            raise Unauthenticated("no such session; sign in again", field="authorization")
        if held.role == "team_leader" and self.leader_sign_out is not None:
            await self.leader_sign_out(held.person_id, held.started_ms)
        session = self.sessions.revoke(token)
        if session is None:
            raise Unauthenticated("no such session; sign in again", field="authorization")
        await self._audit(_who(session.person_id), "sign_out", session.person_id, now)
        return session

    # -- passwords -------------------------------------------------------------------------

    async def change_password(self, token: str, old: str, new: str) -> SignedIn:
        """Change the bearer's password (the old one is checked and counted like a sign-in);
        every session of the person ends and a new one is returned."""
        me = self.person_for(token)
        if me is None:
            raise Unauthenticated("no such session; sign in again", field="authorization")
        validate_password(new)
        if new == old:
            raise InvalidInput(
                "the new password must differ from the old one", field="new_password"
            )
        _profile, cred = await self._check_password(me.id, old, "password_change")
        hashed = await asyncio.to_thread(hash_secret, new)
        now = self.core.now_ms()
        await self.core.submit(
            UnitOfWork().add(
                replace(cred, password_hash=hashed, must_change=False),
                self._audit_row(_who(me.id), "password_changed", me.id, now),
            )
        )
        self.sessions.revoke_person(me.id)
        return await self.sign_in(me.id, new)

    async def reset_password(self, actor: Person | None, person_id: str) -> tuple[PersonState, str]:
        """A new one-time password for ``person_id`` (to change at the next sign-in); also
        how a person new in the directory without an initial password gets one."""
        profile, _old = await self._managed(actor, person_id)
        secret = secrets.token_urlsafe(ONE_TIME_BYTES)
        hashed = hash_generated_secret(secret)  # random: the minimum cost will do
        now = self.core.now_ms()
        new = CredentialRecord(person_id, hashed, 0, 0, must_change=True)
        await self.core.submit(
            UnitOfWork().add(new, self._audit_row(_actor(actor), "password_reset", person_id, now))
        )
        self.sessions.revoke_person(person_id)
        log.info("password of %s reset by %s", person_id, _actor(actor))
        return self._state(profile, new), secret

    async def unlock(self, actor: Person | None, person_id: str) -> PersonState:
        """Lift the lock (and the failure count) of ``person_id``."""
        profile, cred = await self._managed(actor, person_id)
        if cred is None:
            raise NotFound(f"{person_id!r} has no password yet; reset it", field="person_id")

        async def read() -> tuple[int, int] | None:
            found = await self.core.store.credential(person_id)
            return (found.failures, found.locked_until_ms) if found else None

        await attempts.clear(self.core.store, "agent", person_id, read)
        await self._audit(_actor(actor), "unlocked", person_id, self.core.now_ms())
        return self._state(profile, replace(cred, failures=0, locked_until_ms=0))

    async def _managed(
        self, actor: Person | None, person_id: str
    ) -> tuple[Agent, CredentialRecord | None]:
        """The person ``actor`` may reset or unlock and their credential (None: none yet);
        Forbidden (PERMISSION_DENIED) when ``actor`` may not."""
        if actor is None:
            raise Unauthenticated("sign in first: this needs a person", field="authorization")
        target = self.profile(person_id)
        if target is None:
            raise NotFound(
                f"no person {person_id!r} at site {self.core.site_id}", field="person_id"
            )
        role = person_role(target.role)
        mine = actor.site_id == self.core.site_id and actor.id != person_id
        if not (mine and may_manage(actor.role, role)):
            await self._audit(_actor(actor), "manage_refused", person_id, self.core.now_ms())
            raise Forbidden(f"a {actor.role} may not manage a {role} here", field="person_id")
        return target, await self.core.store.credential(person_id)

    # -- audit -----------------------------------------------------------------------------

    def _audit_row(self, actor: str, action: str, subject: str, now: int) -> AuditRecord:
        return AuditRecord(new_id("req"), now, actor, action, subject)

    async def _audit(self, actor: str, action: str, subject: str, now: int) -> None:
        await self.core.submit(UnitOfWork().add(self._audit_row(actor, action, subject, now)))


def _who(person_id: str) -> str:
    """The actor of an audit row about a person's own doing."""
    return f"person:{person_id}"


def _actor(person: Person | None) -> str:
    return _who(person.id) if person is not None else ""
