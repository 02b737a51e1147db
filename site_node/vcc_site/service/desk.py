"""Agent desk use cases: log in, change state, answer, hold, hang up, wrap up.

Agents authenticate with their ID and password (argon2 hash, verified off the event
loop); repeated failures lock the ID for a while; a second login of a logged-in agent is
refused. Every request carries the session token issued at login.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Protocol

from vcc_domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from vcc_domain.ids import new_id
from vcc_domain.province import Agent
from vcc_proto.observability import agent_var
from vcc_proto.v1 import events_pb2 as pb
from vcc_site.domain.call import CallState
from vcc_site.domain.results import Assignment, Queued
from vcc_site.domain.secrets import (
    LockoutPolicy,
    check_locked,
    hash_secret,
    verify_secret,
)
from vcc_site.service import attempts
from vcc_site.service.core import SiteCore
from vcc_site.service.desk_consult import ConsultDesk
from vcc_site.service.desk_info import BoardSource
from vcc_site.service.desk_transfer import TransferDesk
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.moves import CallMoves
from vcc_site.service.notify import DeskEvent
from vcc_site.service.surveys import Surveys
from vcc_site.service.transfer import (
    CONFERENCE,
    TransferAnswer,
)
from vcc_site.store.api import (
    AuditRecord,
    CallRecord,
    CredentialRecord,
    Event,
    SessionRecord,
    UnitOfWork,
)

log = logging.getLogger(__name__)

NOT_READY_REASONS = frozenset({"away", "break", "training", "other"})
MAX_ID = 64
MAX_PASSWORD = 1024
MAX_DEVICE = 128
MAX_DISPOSITION = 64
MAX_NOTES = 2000
WRONG_LOGIN = "wrong agent ID or password"
CHANGE_FIRST = (
    "change your initial password first (People.SignIn, then People.ChangePassword); "
    "the seat opens with the new one"
)


@functools.cache
def dummy_hash() -> str:
    """A hash to check a password against when there is no agent to check it for."""
    return hash_secret(secrets.token_urlsafe(16))


def _limit(value: str, limit: int, field: str, *, required: bool = True) -> str:
    if required and not value.strip():
        raise InvalidInput("is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"is longer than {limit} characters", field=field)
    return value


class CallbackOutcome(Protocol):
    async def outcome(
        self, record: CallRecord, disposition: str, agent_id: str, uow: UnitOfWork
    ) -> None:
        """Record a callback call's outcome (its disposition) in ``uow``; else nothing."""
        ...


class DeskService:
    def __init__(self, core: SiteCore, moves: CallMoves | None = None) -> None:
        self.core = core
        self.lockout = LockoutPolicy.for_agents(core.province.routing)
        # calls sent to other sites (transfers and consultations) go through it
        self.moves = moves or CallMoves(core)
        self.transfers = TransferDesk(self)
        self.consults = ConsultDesk(self, self.transfers)
        # records a callback's outcome at its wrap-up (None: callbacks are not agents' work)
        self.callbacks: CallbackOutcome | None = None
        # the hub's board of every site (who is ready where); set once the hub client runs
        self.board: BoardSource | None = None
        self.surveys: Surveys | None = None  # the caller's rating after the agent hangs up

    # -- sessions ---------------------------------------------------------------------------

    def session(self, token: str) -> LiveAgent:
        agent = self.core.sessions.get(token) if token else None
        if agent is None:
            raise Unauthenticated("no such session; log in again", field="session_token")
        agent_var.set(agent.agent_id)  # this request's log lines name the agent
        return agent

    async def login(
        self, agent_id: str, password: str, device: str = "", *, first_change: bool = False
    ) -> LiveAgent:
        """Sign in. An unknown ID, an agent of another site, one without a password and
        a wrong password all answer the same UNAUTHENTICATED (after a hash check of the
        same cost), so the answer does not tell which IDs exist. Each attempt is counted
        in the database before the hash check (:mod:`.attempts`); a lock answers
        PERMISSION_DENIED with its end. With ``first_change`` (a checked port), an initial
        or reset password that is right still opens no seat: FAILED_PRECONDITION
        :data:`CHANGE_FIRST` (told only to who knows the password), audited."""
        core = self.core
        _limit(agent_id, MAX_ID, "agent_id")
        _limit(password, MAX_PASSWORD, "password")
        _limit(device, MAX_DEVICE, "device", required=False)
        now = core.now_ms()
        profile = self._profile(agent_id)
        cred = await core.store.credential(agent_id) if profile is not None else None
        if profile is None or cred is None:
            await asyncio.to_thread(verify_secret, dummy_hash(), password)
            core.metrics.login_failed()
            log.info(
                "login refused: %s is not an agent with a password at site %s",
                agent_id,
                core.site_id,
            )
            raise Unauthenticated(WRONG_LOGIN, field="password")

        async def read() -> tuple[int, int] | None:
            found = await core.store.credential(agent_id)
            return (found.failures, found.locked_until_ms) if found else None

        charged = await attempts.charge(core.store, "agent", agent_id, read, now, self.lockout)
        if charged is None:  # the credential went away meanwhile (directory change)
            raise Unauthenticated(WRONG_LOGIN, field="password")
        if charged.locked:
            core.metrics.login_failed()
            await self._audit(agent_id, "login_locked_refused", device, now)
            check_locked(charged.failures, max(charged.locked_until_ms, now + 1), now)
        if not await asyncio.to_thread(verify_secret, cred.password_hash, password):
            core.metrics.login_failed()
            locked = charged.locked_until_ms > now
            await self._audit(agent_id, "login_locked" if locked else "login_failed", device, now)
            check_locked(charged.failures, charged.locked_until_ms, now)
            raise Unauthenticated(WRONG_LOGIN, field="password")
        await attempts.clear(core.store, "agent", agent_id, read)
        if first_change and cred.must_change:
            await self._audit(agent_id, "login_refused_must_change", device, now)
            raise Conflict(CHANGE_FIRST, field="password")
        return await self._open_session(agent_id, profile.name, device, cred, now)

    def _profile(self, agent_id: str) -> Agent | None:
        """The agent when it takes calls at this site, else None."""
        try:
            profile = self.core.province.agent(agent_id)
        except NotFound:
            return None
        if profile.home_site != self.core.site_id or not profile.takes_calls:
            return None
        return profile

    async def _audit(self, agent_id: str, action: str, device: str, now: int) -> None:
        await self.core.submit(
            UnitOfWork().add(
                AuditRecord(new_id("req"), now, agent_id, action, agent_id, f"device {device}")
            )
        )

    async def _open_session(
        self, agent_id: str, name: str, device: str, cred: CredentialRecord, now: int
    ) -> LiveAgent:
        core = self.core
        current = core.agents.get(agent_id)
        if current is not None:  # checked after the password so it reveals nothing
            raise Conflict(
                f"agent {agent_id!r} is already logged in on device "
                f"{current.device or '?'}; log out there first",
                field="agent_id",
            )
        profile = core.province.agent(agent_id)
        agent = LiveAgent(
            agent_id, name, new_id("sess"), secrets.token_urlsafe(32), device, now, since_ms=now
        )
        core.log_in(agent, dict(profile.skills), profile.general_level or 0)
        uow = (
            UnitOfWork()
            .add(
                SessionRecord(agent.session_id, agent_id, device, now),
                AuditRecord(new_id("req"), now, agent_id, "login", agent_id, f"device {device}"),
            )
            .emit(agent.event(now))
        )
        await core.submit(uow)
        return agent

    async def logout(self, token: str) -> LiveAgent:
        core = self.core
        agent = self.session(token)
        uow = UnitOfWork()
        now = core.log_out(agent, uow)  # Conflict while on a call
        uow.add(
            SessionRecord(agent.session_id, agent.agent_id, agent.device, agent.login_at_ms, now)
        )
        await core.submit(uow)
        return agent

    # -- states -----------------------------------------------------------------------------

    async def set_ready(self, token: str) -> LiveAgent:
        agent = self.session(token)
        uow = UnitOfWork()
        self.core.agent_ready(agent.agent_id, uow)
        await self.core.submit(uow)
        return agent

    async def set_not_ready(self, token: str, reason: str) -> LiveAgent:
        agent = self.session(token)
        if reason not in NOT_READY_REASONS:
            raise InvalidInput(f"must be one of {sorted(NOT_READY_REASONS)}", field="reason")
        uow = UnitOfWork()
        self.core.agent_not_ready(agent.agent_id, reason, uow)
        await self.core.submit(uow)
        return agent

    # -- calls ------------------------------------------------------------------------------

    def _my_call(self, agent: LiveAgent, call_id: str) -> LiveCall:
        call = self.core.calls.get(call_id)
        if call is not None and call.agent_id != agent.agent_id:  # a same-site consult leg?
            call = self.moves.local_entry(call)
        if call is None or call.agent_id != agent.agent_id:
            raise Conflict(f"call {call_id!r} is not offered to or held by you", field="call_id")
        if call.transferring:
            raise Conflict(
                f"call {call_id!r} is being transferred to another site; wait for the outcome",
                field="call_id",
            )
        if call.consult is not None and call.consult.state == "pending":
            raise Conflict(
                f"a consultation about call {call_id!r} is being set up; wait for the outcome",
                field="call_id",
            )
        return call

    async def answer(self, token: str, call_id: str) -> CallRecord:
        core = self.core
        agent = self.session(token)
        call = self._my_call(agent, call_id)
        uow = UnitOfWork()
        now = core.answer(agent.agent_id, call, uow)
        await core.submit(uow)
        if call.consult_for:  # a consult leg served here: tell the call's owner
            self.moves.report_consult_leg(call, CallState.CONNECTED.stored)
        return call.record(now)

    async def hold(self, token: str, call_id: str, *, on: bool) -> CallRecord:
        core = self.core
        call = self._my_call(self.session(token), call_id)
        have = CallState.CONNECTED if on else CallState.HELD
        if not (call.life.state is have if on else call.life.on_hold):
            raise Conflict(f"call {call_id!r} is {call.state}, not {have.stored}", field="call_id")
        now = core.now_ms()
        if on:
            call.life.hold(now)
        else:
            call.life.resume(now)
        await core.submit(
            UnitOfWork()
            .add(*call.rows(now))
            .emit(call.event("call.held" if on else "call.resumed", now))
        )
        return call.record(now)

    async def hang_up(self, token: str, call_id: str) -> CallRecord:
        core = self.core
        agent = self.session(token)
        call = self._my_call(agent, call_id)
        if not call.life.talking:
            raise Conflict(f"call {call_id!r} is {call.state}; answer it first", field="call_id")
        if call.consult is not None and call.consult.state == CONFERENCE:
            # the consulting agent leaves a conference: the consulted agent keeps the call
            left = await self.consults.leave_conference(agent, call)
            if left is not None:
                return left
        uow = UnitOfWork()
        core.agent_hang_up(agent.agent_id, uow)
        record = call.record(core.now_ms())
        self.moves.cancel_consult(call, agent.agent_id)
        await core.submit(uow)
        if call.consult_for:  # the consulted agent left the consult leg: tell the owner
            self.moves.report_consult_leg(call, CallState.ENDED.stored, "agent_hangup")
        elif self.surveys is not None and record.state == CallState.ENDED.stored:
            self.surveys.offer_after_agent(call_id, agent.agent_id, call.business_id)
        return record

    async def wrap_up(self, token: str, call_id: str, disposition: str, notes: str) -> LiveAgent:
        core = self.core
        agent = self.session(token)
        _limit(disposition, MAX_DISPOSITION, "disposition", required=False)
        _limit(notes, MAX_NOTES, "notes", required=False)
        if agent.state != "wrap_up" or agent.wrap_call_id != call_id:
            raise Conflict(f"you are not wrapping up call {call_id!r}", field="call_id")
        record = agent.wrap_record
        if record is None or record.call_id != call_id:
            record = await core.store.call(call_id)
        uow = UnitOfWork()
        if record is not None:
            now = core.now_ms()
            if record.attached.get("consult_for") != core.site_id:  # not a same-site leg
                uow.add(replace(record, disposition=disposition, notes=notes, updated_at_ms=now))
            if self.callbacks is not None:
                await self.callbacks.outcome(record, disposition, agent.agent_id, uow)
            info = pb.CallInfo(
                call_id=call_id,
                site_id=core.site_id,  # state: unchanged
                agent_id=agent.agent_id,
            )
            uow.emit(
                Event(
                    new_id("evt"),
                    "call.wrapped_up",
                    call_id,
                    pb.CallWrappedUp(call=info, disposition=disposition),
                    now,
                )
            )
        core.wrap_up_done(agent.agent_id, uow)
        await core.submit(uow)
        return agent

    # -- transfer and consultation (desk_transfer, desk_consult) ---------------------

    async def transfer(
        self,
        token: str,
        call_id: str,
        *,
        site_id: str = "",
        business_id: str = "",
        skill_id: str = "",
        agent_id: str = "",
        note: str = "",
    ) -> Queued | Assignment | TransferAnswer | None:
        """Transfer a call this agent holds to a business, a skill or a named agent, here
        or at another site (see :mod:`vcc_site.service.desk_transfer`)."""
        agent = self.session(token)
        _limit(note, MAX_NOTES, "note", required=False)
        call = self._my_call(agent, call_id)
        return await self.transfers.transfer(
            agent,
            call,
            site_id=site_id,
            business_id=business_id,
            skill_id=skill_id,
            agent_id=agent_id,
            note=note,
        )

    async def consult(
        self,
        token: str,
        call_id: str,
        *,
        site_id: str = "",
        business_id: str = "",
        skill_id: str = "",
        agent_id: str = "",
        note: str = "",
    ) -> TransferAnswer:
        """Hold the caller and open a consult leg to another agent, here or at another
        site (see :mod:`vcc_site.service.desk_consult`)."""
        agent = self.session(token)
        _limit(note, MAX_NOTES, "note", required=False)
        call = self._my_call(agent, call_id)
        return await self.consults.consult(
            agent,
            call,
            site_id=site_id,
            business_id=business_id,
            skill_id=skill_id,
            agent_id=agent_id,
            note=note,
        )

    async def consult_complete(self, token: str, call_id: str, mode: str) -> CallRecord:
        """End this agent's consultation: ``cancel``, ``transfer`` or ``conference``."""
        agent = self.session(token)
        return await self.consults.complete(agent, self._my_call(agent, call_id), mode)

    def events(self, token: str) -> AsyncIterator[DeskEvent]:
        agent = self.session(token)
        return self.core.desk.stream(agent.session_id)
