"""The province's people (``[[people]]``: province managers, operations) sign in at the hub.

The same rules as a site's people (:mod:`vcc_site.service.people`): a random session
token kept only as a digest in this hub's memory, idle and absolute limits on the
injected clock; every failed sign-in answers the one :data:`WRONG_SIGN_IN`, each attempt
counted in the database (compare-and-set) before the hash check; an initial or reset
password is changed first; sessions end on sign-out, password change or reset and when
the person leaves the directory. Operations reset and unlock the province's people (not
themselves); audited in ``people_audit`` with the signed-in actor. The credentials are in
the hub's database, never in the directory document the sites receive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace

from vcc_domain.clock import Clock
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
)
from vcc_domain.province import Province, ProvincePerson, RoutingPolicy
from vcc_domain.secrets import (
    LockoutPolicy,
    charge_attempt,
    hash_generated_secret,
    hash_secret,
    validate_password,
    verify_secret,
)
from vcc_hub.store.people import AuditRow, Credential, PeopleStore
from vcc_proto.authz_interceptor import Metadata, Person

log = logging.getLogger(__name__)

WRONG_SIGN_IN = "wrong ID or password, or locked after repeated failures"
MAX_ID = 64
SWAP_TRIES = 16
ONE_TIME_BYTES = 9
_DUMMY = hash_generated_secret(secrets.token_urlsafe(16))  # for unknown IDs: same work


class HubPeopleService:
    def __init__(
        self,
        store: PeopleStore,
        province: Callable[[], Awaitable[Province]],
        clock: Clock,
        policy: SessionPolicy | None = None,
    ) -> None:
        self.store = store
        self._province = province
        self.clock = clock
        self.sessions = SessionTable(policy)
        self.lockout = LockoutPolicy.for_agents(RoutingPolicy())
        self._people: dict[str, ProvincePerson] = {}

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def refresh(self) -> None:
        """Take the directory's current people (a person gone loses their sessions)."""
        province = await self._province()
        self._people = {p.id: p for p in province.people}
        self.lockout = LockoutPolicy.for_agents(province.routing)
        for gone in self.sessions.people() - set(self._people):
            self.sessions.revoke_person(gone)

    # -- who -------------------------------------------------------------------------------

    def person_of(self, metadata: Metadata) -> Person | None:
        """The person of the request's bearer token (the interceptor's hook), or None."""
        token = bearer_token(metadata)
        return self.person_for(token) if token else None

    def person_for(self, token: str) -> Person | None:
        session = self.sessions.use(token, self.now_ms())
        if session is None:
            return None
        profile = self._people.get(session.person_id)
        if profile is None:
            self.sessions.revoke_person(session.person_id)
            return None
        return Person(session.person_id, profile.role, "", session.must_change)

    async def state(self, person_id: str) -> PersonState:
        profile = self._people.get(person_id)
        cred = await self.store.credential(person_id) if profile else None
        if profile is None or cred is None:
            raise NotFound(f"no person {person_id!r} of the province", field="person_id")
        return self._state(profile, cred)

    def _state(self, profile: ProvincePerson, cred: Credential) -> PersonState:
        locked = cred.locked_until_ms if cred.locked_until_ms > self.now_ms() else 0
        return PersonState(profile.id, profile.name, profile.role, "", cred.must_change, locked)

    # -- sign-in ---------------------------------------------------------------------------

    async def sign_in(self, person_id: str, password: str) -> SignedIn:
        await self.refresh()
        profile, cred = await self._check_password(person_id, password, "sign_in")
        token, session = self.sessions.open(
            person_id, profile.role, "", self.now_ms(), must_change=cred.must_change
        )
        await self._audit(_who(person_id), "sign_in", person_id)
        return SignedIn(token, session, self._state(profile, cred))

    async def _check_password(
        self, person_id: str, password: str, action: str
    ) -> tuple[ProvincePerson, Credential]:
        if len(person_id) > MAX_ID:
            raise InvalidInput(f"is longer than {MAX_ID} characters", field="person_id")
        profile = self._people.get(person_id)
        cred = await self.store.credential(person_id) if profile is not None else None
        if profile is None or cred is None:
            await asyncio.to_thread(verify_secret, _DUMMY, password)
            raise Unauthenticated(WRONG_SIGN_IN, field="password")
        now = self.now_ms()
        counted = await self._charge(person_id, now)
        if counted is None:
            await self._audit(_who(person_id), f"{action}_locked_refused", person_id)
            raise Unauthenticated(WRONG_SIGN_IN, field="password")
        if not await asyncio.to_thread(verify_secret, cred.password_hash, password):
            outcome = "locked" if counted[1] > now else "failed"
            await self._audit(_who(person_id), f"{action}_{outcome}", person_id)
            raise Unauthenticated(WRONG_SIGN_IN, field="password")
        await self._clear(person_id)
        return profile, replace(cred, failures=0, locked_until_ms=0)

    async def _charge(self, person_id: str, now: int) -> tuple[int, int] | None:
        """Count one attempt before the check; None while locked (or the row is gone)."""
        for _ in range(SWAP_TRIES):
            cred = await self.store.credential(person_id)
            if cred is None:
                return None
            old = (cred.failures, cred.locked_until_ms)
            new = charge_attempt(*old, now, self.lockout)
            if new is None:
                return None
            if await self.store.swap_failures(person_id, old, new):
                return new
        return None  # contended this hard: refused rather than checked uncounted

    async def _clear(self, person_id: str) -> None:
        for _ in range(SWAP_TRIES):
            cred = await self.store.credential(person_id)
            if cred is None or (cred.failures, cred.locked_until_ms) == (0, 0):
                return
            if await self.store.swap_failures(
                person_id, (cred.failures, cred.locked_until_ms), (0, 0)
            ):
                return

    async def sign_out(self, token: str) -> PersonSession:
        session = self.sessions.revoke(token)
        if session is None:
            raise Unauthenticated("no such session; sign in again", field="authorization")
        await self._audit(_who(session.person_id), "sign_out", session.person_id)
        return session

    # -- passwords -------------------------------------------------------------------------

    async def change_password(self, token: str, old: str, new: str) -> SignedIn:
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
        changed = replace(cred, password_hash=hashed, must_change=False)
        await self.store.put(changed, self._row(_who(me.id), "password_changed", me.id))
        self.sessions.revoke_person(me.id)
        return await self.sign_in(me.id, new)

    async def reset_password(self, actor: Person | None, person_id: str) -> tuple[PersonState, str]:
        profile, _old = await self._managed(actor, person_id)
        secret = secrets.token_urlsafe(ONE_TIME_BYTES)
        cred = Credential(person_id, hash_generated_secret(secret), must_change=True)
        await self.store.put(cred, self._row(_actor(actor), "password_reset", person_id))
        self.sessions.revoke_person(person_id)
        return self._state(profile, cred), secret

    async def unlock(self, actor: Person | None, person_id: str) -> PersonState:
        profile, cred = await self._managed(actor, person_id)
        if cred is None:
            raise NotFound(f"{person_id!r} has no password yet; reset it", field="person_id")
        await self._clear(person_id)
        await self._audit(_actor(actor), "unlocked", person_id)
        return self._state(profile, replace(cred, failures=0, locked_until_ms=0))

    async def _managed(
        self, actor: Person | None, person_id: str
    ) -> tuple[ProvincePerson, Credential | None]:
        if actor is None:
            raise Unauthenticated("sign in first: this needs a person", field="authorization")
        await self.refresh()
        target = self._people.get(person_id)
        if target is None:
            raise NotFound(f"no person {person_id!r} of the province", field="person_id")
        if actor.site_id or actor.id == person_id or not may_manage(actor.role, target.role):
            await self._audit(_actor(actor), "manage_refused", person_id)
            raise Forbidden(f"a {actor.role} may not manage a {target.role}", field="person_id")
        return target, await self.store.credential(person_id)

    # -- audit -----------------------------------------------------------------------------

    def _row(self, actor: str, action: str, subject: str) -> AuditRow:
        return AuditRow(new_id("req"), self.now_ms(), actor, action, subject)

    async def _audit(self, actor: str, action: str, subject: str) -> None:
        await self.store.audit(self._row(actor, action, subject))


def _who(person_id: str) -> str:
    return f"person:{person_id}"


def _actor(person: Person | None) -> str:
    return _who(person.id) if person is not None else ""
