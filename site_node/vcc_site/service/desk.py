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
from vcc_site.service.transfer import (
    CANCEL,
    COMPLETE_TRANSFER,
    CONFERENCE,
    REFUSED,
    TIMEOUT,
    ConsultLeg,
    Handoff,
    RemoteTransfer,
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
        if call.consult is not None and call.consult.state == "pending":
            raise Conflict(f"a consultation about call {call_id!r} is being set up; wait for "
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
        if call.consult_for:  # a consult leg served here: tell the call's owner
            core.report_consult_leg(call, "connected")
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
        if call.consult is not None and call.consult.state == CONFERENCE:
            # the consulting agent leaves a conference: the consulted agent keeps the call
            left = await self._leave_conference(agent, call)
            if left is not None:
                return left
        uow = UnitOfWork()
        core.apply(core.acd.agent_hang_up(agent.agent_id), uow)
        record = call.record(core.now_ms())
        core.cancel_consult(call, agent.agent_id)
        await core.submit(uow)
        if call.consult_for:  # the consulted agent left the consult leg: tell the owner
            core.report_consult_leg(call, "ended", "agent_hangup")
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
        if call.consult is not None or call.consult_for:
            raise Conflict(f"call {call_id!r} is under consultation; complete or cancel the "
                           "consultation instead", field="call_id")
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
        handoff = self._handoff(agent, call, site_id, business_id, skill_id, note)
        request_id = handoff.request_id
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

    def _handoff(self, agent: LiveAgent, call: LiveCall, site_id: str, business_id: str,
                 skill_id: str, note: str, kind: str = "transfer") -> Handoff:
        core = self.core
        province = core.province
        business = province.business(business_id or call.business_id)  # NotFound if unknown
        if skill_id and skill_id not in {s.id for s in province.skills}:
            raise NotFound(f"unknown skill {skill_id!r}", field="target.skill_id")
        return Handoff(
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
            target_skill=skill_id, request_id=new_id("req"), kind=kind)

    # -- consultation (ARCHITECTURE §3.3) -----------------------------------------------

    async def consult(self, token: str, call_id: str, *, site_id: str = "",
                      business_id: str = "", skill_id: str = "", agent_id: str = "",
                      note: str = "") -> TransferAnswer:
        """Hold the caller and open a consult leg to an agent at another site.

        Brokered by the hub like a transfer (a ``CallContext`` of kind CONSULT): the
        target queues a consult entry at the transferred priority and offers it to an
        agent (an offer of kind CONSULT with the screen pop); the call itself stays
        here, owned by this agent, the caller on hold. ACCEPTED: the consult leg is open
        (end it with :meth:`consult_complete`). REFUSED/TIMEOUT: no leg; the caller stays
        held with this agent, who resumes the call.
        """
        core = self.core
        agent = self.session(token)
        _limit(note, MAX_NOTES, "note", required=False)
        call = self._my_call(agent, call_id)
        if call.state not in ("connected", "held"):
            raise Conflict(f"call {call_id!r} is {call.state}; only a call you are on can be "
                           "consulted about", field="call_id")
        if call.consult is not None or call.consult_for:
            raise Conflict(f"call {call_id!r} already has a consultation open",
                           field="call_id")
        if agent_id:
            raise Unavailable("consulting a named agent is not available yet",
                              field="target.agent_id")
        if not site_id or site_id == core.site_id:
            raise Unavailable("consultation within a site is not available yet; consult "
                              "another site", field="target.site_id")
        try:
            core.province.site(site_id)
        except NotFound:
            raise NotFound(f"unknown site {site_id!r}", field="target.site_id") from None
        handoff = self._handoff(agent, call, site_id, business_id, skill_id, note, "consult")
        now = core.now_ms()
        if call.state == "connected":  # hold the caller
            call.hold_started_ms, call.state = now, "held"
            core.submit(UnitOfWork().add(call.record(now)).emit(
                call.event("call.held", now, why="consult")))
        consult = ConsultLeg(handoff.new_leg_id, site_id, handoff.request_id)
        settled = asyncio.Event()
        call.consult, call.transfer_settled = consult, settled
        self._consult_event(agent, "requested", call, consult)
        try:
            answer = await self._ask_hub(handoff, core.policy.transfer_accept_timeout_s)
        finally:
            call.transfer_settled = None
            settled.set()
        if core.calls.get(call_id) is not call:  # cannot happen: a hang-up waits
            log.error("consult %s: call %s ended while the leg was set up", consult.leg_id,
                      call_id)
            return answer
        if answer.accepted:
            consult.state = "accepted"
            consult.agent_id = answer.agent_id
            log.info("consult %s: call %s leg %s accepted at %s", handoff.request_id, call_id,
                     consult.leg_id, site_id)
            return answer
        call.consult = None
        self._consult_event(agent, "refused", call, consult, answer.reason)
        core.desk.publish(agent.session_id, "notice", core.now_ms(), level="warning",
                          code=f"consult_{answer.outcome}",
                          text=f"consultation about call {call_id} with site {site_id} "
                               f"{answer.outcome}: {answer.reason}; the caller is on hold "
                               "with you")
        return answer

    async def consult_complete(self, token: str, call_id: str, mode: str) -> CallRecord:
        """End this agent's consultation: ``cancel`` (the leg ends, the caller is back
        with this agent), ``transfer`` (the call moves to the consulted site exactly like
        an accepted transfer; this agent goes to wrap-up) or ``conference`` (the caller
        joins both agents; the call stays owned here until this agent hangs up, then it
        moves to the consulted agent's site as for ``transfer``).

        If the consulted site cannot be reached or refuses, the consultation is closed
        and the caller stays (held) with this agent: Unavailable/Conflict is raised.
        """
        core = self.core
        agent = self.session(token)
        call = self._my_call(agent, call_id)
        consult = call.consult
        if consult is None:
            raise Conflict(f"call {call_id!r} has no open consultation", field="call_id")
        if mode not in (CANCEL, COMPLETE_TRANSFER, CONFERENCE):
            raise InvalidInput("choose transfer, conference or cancel", field="mode")
        if mode == CONFERENCE and consult.state == CONFERENCE:
            return call.record(core.now_ms())
        if mode == CANCEL:
            core.cancel_consult(call, agent.agent_id)
            self._consult_event(agent, "cancelled", call, consult)
            return await self._resume(call)
        answer = await self._conclude(call, consult, mode, agent.agent_id)
        if core.calls.get(call_id) is not call:
            raise Conflict(f"call {call_id!r} ended meanwhile", field="call_id")
        if not answer.accepted:
            if mode == COMPLETE_TRANSFER:  # the leg is closed; the caller stays here
                core.cancel_consult(call, agent.agent_id)
                self._consult_event(agent, "refused", call, consult, answer.reason)
            err = Unavailable if answer.outcome == TIMEOUT else Conflict
            raise err(f"site {consult.site_id} {answer.outcome} the {mode}: {answer.reason}; "
                      "the caller is still with you", field="mode")
        if mode == CONFERENCE:
            consult.state, consult.agent_id = CONFERENCE, answer.agent_id or consult.agent_id
            self._consult_event(agent, "conferenced", call, consult)
            return await self._resume(call)
        return await self._moved_by_consult(agent, call, consult)

    async def _conclude(self, call: LiveCall, consult: ConsultLeg, mode: str,
                        agent_id: str) -> TransferAnswer:
        if self.core.peers is None:
            return TransferAnswer(REFUSED, call.call_id, consult.site_id,
                                  reason="this site cannot reach other sites")
        settled = asyncio.Event()
        call.transfer_settled = settled  # a caller's hang-up waits for the outcome
        try:
            return await self.core.peers.conclude(consult.site_id, call.call_id,
                                                  consult.leg_id, mode, agent_id)
        finally:
            call.transfer_settled = None
            settled.set()

    async def _moved_by_consult(self, agent: LiveAgent, call: LiveCall,
                                consult: ConsultLeg) -> CallRecord:
        """The consulted site took the call over: it ends here as transferred out."""
        core = self.core
        call.consult = None
        if call.hold_started_ms:  # the caller was held until the hand-over
            call.state = "connected"
        uow = UnitOfWork()
        core.transfer_out(call, consult.site_id, "consultation completed", uow)
        record = call.record(core.now_ms())
        self._consult_event(agent, "transferred", call, consult)
        await core.submit(uow)
        log.info("consult: call %s moved to %s (leg %s)", call.call_id, consult.site_id,
                 consult.leg_id)
        return record

    async def _leave_conference(self, agent: LiveAgent, call: LiveCall) -> CallRecord | None:
        """The consulting agent hangs up in a conference: the call moves to the consulted
        site (None when that site did not take it: the call then ends here as usual)."""
        consult = call.consult
        assert consult is not None
        answer = await self._conclude(call, consult, COMPLETE_TRANSFER, agent.agent_id)
        if answer.accepted and self.core.calls.get(call.call_id) is call:
            return await self._moved_by_consult(agent, call, consult)
        log.warning("conference of call %s: site %s did not take the call over (%s); it "
                    "ends here", call.call_id, consult.site_id, answer.reason)
        return None

    async def _resume(self, call: LiveCall) -> CallRecord:
        core = self.core
        now = core.now_ms()
        if call.state == "held":
            call.hold_ms += now - call.hold_started_ms
            call.hold_started_ms, call.state = 0, "connected"
            await core.submit(UnitOfWork().add(call.record(now)).emit(
                call.event("call.resumed", now)))
        return call.record(now)

    def leg_reported(self, call_id: str, leg_id: str, state: str, agent_id: str,
                     site_id: str, end_reason: str) -> bool:
        """A site serving a consult leg of a call owned here reports it
        (``Remote.ReportLeg``); False when this site has no such open consultation."""
        core = self.core
        call = core.calls.get(call_id)
        consult = call.consult if call is not None else None
        if call is None or consult is None or consult.leg_id != leg_id:
            return False
        agent = core.agents.get(call.agent_id)
        if state == "connected":
            if consult.state in ("pending", "accepted"):
                consult.state = "connected"
            consult.agent_id = agent_id or consult.agent_id
            if agent is not None:
                self._consult_event(agent, "connected", call, consult)
            return True
        if state == "ended":
            call.consult = None
            if agent is not None:
                self._consult_event(agent, "cancelled", call, consult,
                                    f"the consulted agent left ({end_reason or 'hung up'})")
        return True

    def _consult_event(self, agent: LiveAgent, phase: str, call: LiveCall,
                       consult: ConsultLeg, reason: str = "") -> None:
        self.core.desk.publish(agent.session_id, "consult", self.core.now_ms(), phase=phase,
                               call_id=call.call_id, leg_id=consult.leg_id,
                               peer_agent_id=consult.agent_id, peer_site_id=consult.site_id,
                               reason=reason)

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
