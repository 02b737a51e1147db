"""Agent desk use cases: log in, change state, answer, hold, hang up, wrap up.

Agents authenticate with their ID and password (argon2 hash, verified off the event
loop); repeated failures lock the ID for a while; a second login of a logged-in agent is
refused. Every request carries the session token issued at login.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace

from vcc_domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
    VccError,
)
from vcc_domain.ids import new_id
from vcc_domain.province import Business
from vcc_site.domain.results import Assignment, Connected, Queued
from vcc_site.domain.secrets import (
    LockoutPolicy,
    after_failure,
    check_locked,
    verify_secret,
)
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveAgent, LiveCall
from vcc_site.service.notify import DeskEvent
from vcc_site.service.transfer import REFUSED, TIMEOUT, Handoff, RemoteTransfer, TransferAnswer
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


def _limit(value: str, limit: int, field: str, *, required: bool = True) -> str:
    if required and not value.strip():
        raise InvalidInput("is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"is longer than {limit} characters", field=field)
    return value


class DeskService:
    def __init__(self, core: SiteCore, remote_transfer: RemoteTransfer | None = None) -> None:
        self.core = core
        self.lockout = LockoutPolicy.for_agents(core.province.routing)
        # the hub's transfer broker (set by the site's ``transfer`` component); None: this
        # site cannot transfer to other sites
        self.remote_transfer = remote_transfer

    # -- sessions ---------------------------------------------------------------------------

    def session(self, token: str) -> LiveAgent:
        agent = self.core.sessions.get(token) if token else None
        if agent is None:
            raise Unauthenticated("no such session; log in again", field="session_token")
        return agent

    async def login(self, agent_id: str, password: str, device: str = "") -> LiveAgent:
        core = self.core
        _limit(agent_id, MAX_ID, "agent_id")
        _limit(password, MAX_PASSWORD, "password")
        _limit(device, MAX_DEVICE, "device", required=False)
        try:
            profile = core.province.agent(agent_id)
        except NotFound:
            raise NotFound(f"unknown agent {agent_id!r}", field="agent_id") from None
        if profile.home_site != core.site_id or not profile.takes_calls:
            raise Conflict(f"agent {agent_id!r} does not take calls at site {core.site_id}",
                           field="agent_id")
        cred = await core.store.credential(agent_id)
        if cred is None:
            raise Unauthenticated(f"agent {agent_id!r} has no password set", field="password")
        now = core.now_ms()
        check_locked(cred.failures, cred.locked_until_ms, now)
        if not await asyncio.to_thread(verify_secret, cred.password_hash, password):
            failures, until = after_failure(cred.failures, now, self.lockout,
                                            locked_until_ms=cred.locked_until_ms)
            core.metrics.login_failed()
            action = "login_locked" if until else "login_failed"
            await core.submit(UnitOfWork().add(
                replace(cred, failures=failures, locked_until_ms=until),
                AuditRecord(new_id("req"), now, agent_id, action, agent_id, f"device {device}")))
            if until:
                check_locked(failures, until, now)
            left = self.lockout.max_failures - failures
            raise Unauthenticated(f"wrong agent ID or password; {left} attempt(s) left "
                                  "before the ID is locked", field="password")
        return await self._open_session(agent_id, profile.name, device, cred, now)

    async def _open_session(self, agent_id: str, name: str, device: str,
                            cred: CredentialRecord, now: int) -> LiveAgent:
        core = self.core
        current = core.agents.get(agent_id)
        if current is not None:  # checked after the password so it reveals nothing
            raise Conflict(f"agent {agent_id!r} is already logged in on device "
                           f"{current.device or '?'}; log out there first", field="agent_id")
        profile = core.province.agent(agent_id)
        core.acd.login(agent_id, dict(profile.skills), profile.general_level or 0)
        agent = LiveAgent(agent_id, name, new_id("sess"), secrets.token_urlsafe(32), device,
                          now, since_ms=now)
        core.agents[agent_id] = agent
        core.sessions[agent.token] = agent
        core.desk.open(agent.session_id)
        uow = UnitOfWork().add(
            SessionRecord(agent.session_id, agent_id, device, now),
            replace(cred, failures=0, locked_until_ms=0),
            AuditRecord(new_id("req"), now, agent_id, "login", agent_id, f"device {device}"),
        ).emit(agent.event(now))
        await core.submit(uow)
        return agent

    async def logout(self, token: str) -> LiveAgent:
        core = self.core
        agent = self.session(token)
        update = core.acd.logout(agent.agent_id)  # Conflict while on a call
        now = core.now_ms()
        uow = UnitOfWork()
        core.apply(update, uow)
        uow.add(SessionRecord(agent.session_id, agent.agent_id, agent.device, agent.login_at_ms,
                              now))
        del core.agents[agent.agent_id]
        del core.sessions[token]
        core.desk.close(agent.session_id, now)
        await core.submit(uow)
        return agent

    # -- states -----------------------------------------------------------------------------

    async def set_ready(self, token: str) -> LiveAgent:
        agent = self.session(token)
        uow = UnitOfWork()
        self.core.apply(self.core.acd.agent_ready(agent.agent_id), uow)
        self.core.sync_agent(agent.agent_id, uow, self.core.now_ms())
        await self.core.submit(uow)
        return agent

    async def set_not_ready(self, token: str, reason: str) -> LiveAgent:
        agent = self.session(token)
        if reason not in NOT_READY_REASONS:
            raise InvalidInput(f"must be one of {sorted(NOT_READY_REASONS)}", field="reason")
        uow = UnitOfWork()
        self.core.apply(self.core.acd.not_ready(agent.agent_id, reason), uow)
        await self.core.submit(uow)
        return agent

    # -- calls ------------------------------------------------------------------------------

    def _my_call(self, agent: LiveAgent, call_id: str) -> LiveCall:
        call = self.core.calls.get(call_id)
        if call is None or call.agent_id != agent.agent_id:
            raise Conflict(f"call {call_id!r} is not offered to or held by you", field="call_id")
        if call.transferring:
            raise Conflict(f"call {call_id!r} is being transferred to another site; wait for "
                           "the outcome", field="call_id")
        return call

    async def answer(self, token: str, call_id: str) -> CallRecord:
        core = self.core
        agent = self.session(token)
        call = self._my_call(agent, call_id)
        result: Connected = core.acd.answer(agent.agent_id, call.acd_key)
        now = core.now_ms()
        core._cancel_ring(call_id)
        call.state = "connected"
        call.answered(now)
        if call.leg is not None:
            call.ring_ms += max(0, now - call.leg.offered_at_ms)
            call.leg = replace(call.leg, answered_at_ms=now)
        uow = UnitOfWork().add(call.record(now))
        if call.leg is not None:
            uow.add(call.leg)
        uow.emit(call.event("call.answered", now, answered_at_ms=result.at))
        core.sync_agent(agent.agent_id, uow, now)
        await core.submit(uow)
        return call.record(now)

    async def hold(self, token: str, call_id: str, *, on: bool) -> CallRecord:
        core = self.core
        call = self._my_call(self.session(token), call_id)
        want, have = ("held", "connected") if on else ("connected", "held")
        if call.state != have:
            raise Conflict(f"call {call_id!r} is {call.state}, not {have}", field="call_id")
        now = core.now_ms()
        if on:
            call.hold_started_ms = now
        else:
            call.hold_ms += now - call.hold_started_ms
            call.hold_started_ms = 0
        call.state = want
        await core.submit(UnitOfWork().add(call.record(now)).emit(
            call.event("call.held" if on else "call.resumed", now)))
        return call.record(now)

    async def hang_up(self, token: str, call_id: str) -> CallRecord:
        core = self.core
        agent = self.session(token)
        call = self._my_call(agent, call_id)
        if call.state not in ("connected", "held"):
            raise Conflict(f"call {call_id!r} is {call.state}; answer it first", field="call_id")
        uow = UnitOfWork()
        core.apply(core.acd.agent_hang_up(agent.agent_id), uow)
        record = call.record(core.now_ms())
        await core.submit(uow)
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
            uow.add(replace(record, disposition=disposition, notes=notes, updated_at_ms=now))
            uow.emit(Event(new_id("evt"), "call.wrapped_up", call_id,
                           {"call_id": call_id, "agent_id": agent.agent_id,
                            "disposition": disposition}, now))
        agent.wrap_call_id, agent.wrap_record = "", None
        core.apply(core.acd.wrap_up_done(agent.agent_id), uow)
        core.sync_agent(agent.agent_id, uow, core.now_ms())
        await core.submit(uow)
        return agent

    async def transfer(self, token: str, call_id: str, *, site_id: str = "",
                       business_id: str = "", skill_id: str = "", agent_id: str = "",
                       note: str = "") -> Queued | Assignment | TransferAnswer | None:
        """Transfer a call this agent holds to a business or skill, here or at another site.

        Here: the call re-enters the queue at the transferred priority (ahead of VIPs)
        with its original arrival time, IVR path and notes; the agent goes to wrap-up.
        Another site: see :meth:`_transfer_remote` (answers a :class:`TransferAnswer`).
        """
        core = self.core
        agent = self.session(token)
        _limit(note, MAX_NOTES, "note", required=False)
        call = self._my_call(agent, call_id)
        if call.state not in ("connected", "held"):
            raise Conflict(f"call {call_id!r} is {call.state}; only a call you are on can be "
                           "transferred", field="call_id")
        if site_id and site_id != core.site_id:
            try:
                core.province.site(site_id)
            except NotFound:
                raise NotFound(f"unknown site {site_id!r}", field="target.site_id") from None
            if agent_id:
                raise Unavailable("transfer to a named agent is not available yet",
                                  field="target.agent_id")
            return await self._transfer_remote(agent, call, site_id, business_id, skill_id,
                                               note)
        if agent_id:
            raise Unavailable("transfer to a named agent is not available yet",
                              field="target.agent_id")
        business, skill = self._target(call, business_id, skill_id)
        uow = UnitOfWork()
        decision = core.transfer_local(call, business, skill, note, uow)
        await core.submit(uow)
        return decision  # type: ignore[return-value]

    async def _transfer_remote(self, agent: LiveAgent, call: LiveCall, site_id: str,
                               business_id: str, skill_id: str, note: str) -> TransferAnswer:
        """Hand the call to another site through the hub's broker (ARCHITECTURE §3.3).

        The call stays with this agent, connected, while the hub asks the target site;
        only after it ACCEPTED does the call end here (outcome ``transferred_out``) and
        the agent go to wrap-up. A refusal, a timeout or an unreachable hub leave the
        call with the agent, who gets a desk notice with the reason; the answer is
        returned either way (not raised).
        """
        core = self.core
        province = core.province
        business = province.business(business_id or call.business_id)  # NotFound if unknown
        if skill_id and skill_id not in {s.id for s in province.skills}:
            raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
        request_id = new_id("req")
        handoff = Handoff(
            call_id=call.call_id, new_leg_id=new_id("leg"), from_site=core.site_id,
            from_agent=agent.agent_id, caller_number=call.caller_number,
            dialed_code=call.dialed_code, business_id=business.id, customer=call.customer,
            customer_source=call.customer_source or core.site_id,
            customer_as_of_ms=call.customer_as_of_ms or (
                call.customer.updated_at_ms if call.customer else 0),
            tier=call.tier, ivr_path=tuple(call.ivr_path),
            notes=tuple([*call.notes, note] if note else call.notes),
            attached=dict(call.attached),
            legs=(*call.prior_legs, *call.legs, *([call.leg] if call.leg else [])),
            original_arrival_ms=call.arrival_at_ms, target_site=site_id,
            target_skill=skill_id, request_id=request_id)
        settled = asyncio.Event()
        call.transferring, call.transfer_settled = request_id, settled
        core.desk.publish(agent.session_id, "call_state", core.now_ms(), call_id=call.call_id,
                          state="transferring")
        timeout_s = core.policy.transfer_accept_timeout_s
        try:
            answer = await self._ask_hub(handoff, timeout_s)
            if answer.accepted and core.calls.get(call.call_id) is call:
                uow = UnitOfWork()
                core.transfer_out(call, site_id, note, uow)
                call.transferring = ""
                await core.submit(uow)
                log.info("transfer %s: call %s accepted at %s (%s)", request_id,
                         call.call_id, site_id, answer.leg_id)
                return answer
            if answer.accepted:  # cannot happen: a caller's hang-up waits for the outcome
                log.error("transfer %s: call %s accepted at %s but no longer here",
                          request_id, call.call_id, site_id)
            call.transferring = ""
            now = core.now_ms()
            state = "held" if call.state == "held" else "connected"
            core.desk.publish(agent.session_id, "call_state", now, call_id=call.call_id,
                              state=state)
            core.desk.publish(agent.session_id, "notice", now, level="warning",
                              code=f"transfer_{answer.outcome}",
                              text=f"transfer of call {call.call_id} to site {site_id} "
                                   f"{answer.outcome}: {answer.reason}; the caller is still "
                                   "with you")
            log.info("transfer %s: call %s to %s %s: %s", request_id, call.call_id, site_id,
                     answer.outcome, answer.reason)
            return answer
        finally:
            call.transferring, call.transfer_settled = "", None
            settled.set()

    async def _ask_hub(self, handoff: Handoff, timeout_s: int) -> TransferAnswer:
        call_id, site_id = handoff.call_id, handoff.target_site
        if self.remote_transfer is None:
            return TransferAnswer(REFUSED, call_id, site_id,
                                  reason="hub unreachable: this site has no hub client")
        try:  # the broker answers within the accept timer; allow for the trip and a retry
            return await asyncio.wait_for(self.remote_transfer(handoff), timeout_s + 4)
        except TimeoutError:
            return TransferAnswer(TIMEOUT, call_id, site_id,
                                  reason=f"no answer from the hub within {timeout_s + 4} s")
        except Unavailable as exc:
            return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub unreachable: {exc}")
        except (InvalidInput, NotFound):
            raise  # bad input: an error for the caller of Transfer, the call stays
        except VccError as exc:
            return TransferAnswer(REFUSED, call_id, site_id, reason=f"hub refused: {exc}")

    def _target(self, call: LiveCall, business_id: str, skill_id: str) -> tuple[Business, str | None]:
        province = self.core.province
        if business_id:
            business = province.business(business_id)
            if not business.accepts(self.core.site_id):
                raise Conflict(f"business {business_id!r} is not served at this site",
                               field="target.business_id")
            return business, None
        if skill_id:
            if skill_id not in {s.id for s in province.skills}:
                raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
            return province.business(call.business_id), skill_id
        raise InvalidInput("give a business, a skill or an agent to transfer to",
                           field="target")

    def events(self, token: str) -> AsyncIterator[DeskEvent]:
        agent = self.session(token)
        return self.core.desk.stream(agent.session_id)
