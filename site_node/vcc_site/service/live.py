"""The service layer's live view of calls and agent sessions, and the records they make.

The ACD (``vcc_site.domain``) decides who gets which call; these objects carry what the
ACD does not need (caller, customer, IVR session, legs, hold time) and turn each state
change into the rows and outbox events that :class:`~vcc_site.store.api.UnitOfWork`
persists together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from vcc_domain.ids import new_id
from vcc_domain.privacy import mask_phone
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import body_type
from vcc_site.domain.ivr import IvrSession
from vcc_site.service.transfer import ConsultLeg
from vcc_site.store.api import (
    AgentStateRecord,
    CallRecord,
    CdrRecord,
    CustomerRecord,
    Event,
    LegRecord,
)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass
class LiveCall:
    call_id: str
    site_id: str
    entry_site: str
    caller_number: str
    dialed_code: str
    business_id: str
    customer: CustomerRecord | None
    tier: str
    priority: str
    arrival_at_ms: int
    state: str = "ivr"  # ivr | queued | offered | connected | held | ended
    ivr: IvrSession | None = None
    ivr_path: list[tuple[str, str, int]] = field(default_factory=list)  # node, digits, at
    queued_at_ms: int = 0
    offered_at_ms: int = 0
    answered_at_ms: int = 0
    ended_at_ms: int = 0
    end_reason: str = ""
    agent_id: str = ""
    leg: LegRecord | None = None
    legs: list[LegRecord] = field(default_factory=list)
    hold_started_ms: int = 0
    hold_ms: int = 0  # total time on hold, all legs
    talk_ms: int = 0  # total talk time of finished legs (answer to end, less hold)
    leg_answered_ms: int = 0  # when the current leg was answered (0: not answered)
    leg_hold_base_ms: int = 0  # hold_ms when the current leg was answered
    ring_ms: int = 0
    transferred: bool = False
    overflowed: bool = False
    attached: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    disposition: str = ""
    acd_key: str = ""  # the call's key in the ACD; "" = its call id
    # where ``customer`` was read: "" = this site's store, a site ID = the caller's home
    # site (remote read), "hub" = the hub's read-only copy; and as of when (0 = its own)
    customer_source: str = ""
    customer_as_of_ms: int = 0
    # cross-site transfer: the leg ID the next offer must use (minted by the sending
    # site), the legs served at other sites before this one (shown in the screen pop,
    # persisted where they ran), and while a transfer to another site is brokered, its
    # request ID and an event set once its outcome is applied (a caller's hang-up waits)
    next_leg_id: str = ""
    prior_legs: list[LegRecord] = field(default_factory=list)
    transferring: str = ""
    transfer_settled: asyncio.Event | None = None
    # consultation, at the site that owns the call: the open consult leg (None: none)
    consult: ConsultLeg | None = None
    # consultation, at the site serving a consult leg: this entry is NOT the call but a
    # leg of it owned by ``consult_for`` (a site ID; "" = an ordinary call); its leg ID,
    # the consulting agent and "conference" once the owner joined everyone
    consult_for: str = ""
    consult_leg_id: str = ""
    consult_agent: str = ""
    consult_mode: str = ""
    # the site owning the caller's area code: the payer for a caller who is nobody's
    # customer (settlement needs a home site for every call)
    caller_home: str = ""

    # the key of this entry in ``SiteCore.calls``: the call ID, except for a consult leg
    # served at the call's own site (``shadow``), which lives beside the call itself
    slot: str = ""

    def __post_init__(self) -> None:
        self.acd_key = self.acd_key or self.call_id
        self.slot = self.slot or self.call_id

    @property
    def shadow(self) -> bool:
        """A consult leg served at the site that owns the call: it has no call row of its
        own (the owner's entry writes the call's record and CDR)."""
        return bool(self.consult_for) and self.consult_for == self.site_id

    def rows(self, now_ms: int) -> tuple[CallRecord, ...]:
        """The call record to write for a change of this entry (none for a shadow)."""
        return () if self.shadow else (self.record(now_ms),)

    def all_legs(self) -> list[LegRecord]:
        """Every leg so far, here and at earlier sites, oldest first (the current last)."""
        return [*self.prior_legs, *self.legs, *([self.leg] if self.leg else [])]

    @property
    def home_site(self) -> str:
        return self.customer.home_site if self.customer else self.caller_home

    def path_labels(self) -> tuple[str, ...]:
        return tuple(f"{node}:{digits}" if digits else node for node, digits, _ in self.ivr_path)

    def answered(self, now_ms: int) -> None:
        """The current leg is answered; the call's first answer is kept for its CDR."""
        if not self.answered_at_ms:
            self.answered_at_ms = now_ms
        self.leg_answered_ms, self.leg_hold_base_ms = now_ms, self.hold_ms

    def close_leg(self, now_ms: int) -> None:
        """The current leg ends: stop any hold and add the leg's talk time."""
        if self.hold_started_ms:
            self.hold_ms += now_ms - self.hold_started_ms
            self.hold_started_ms = 0
        if self.leg_answered_ms:
            leg_hold = self.hold_ms - self.leg_hold_base_ms
            self.talk_ms += max(0, now_ms - self.leg_answered_ms - leg_hold)
            self.leg_answered_ms = 0

    def record(self, now_ms: int) -> CallRecord:
        return CallRecord(
            call_id=self.call_id,
            site_id=self.site_id,
            entry_site=self.entry_site,
            home_site=self.home_site,
            caller_number=self.caller_number,
            dialed_code=self.dialed_code,
            business_id=self.business_id,
            customer_id=self.customer.customer_id if self.customer else None,
            tier=self.tier,
            priority=self.priority,
            state=self.state,
            arrival_at_ms=self.arrival_at_ms,
            queued_at_ms=self.queued_at_ms,
            offered_at_ms=self.offered_at_ms,
            answered_at_ms=self.answered_at_ms,
            ended_at_ms=self.ended_at_ms,
            end_reason=self.end_reason,
            agent_id=self.agent_id,
            ivr_path=self.path_labels(),
            attached=dict(self.attached),
            transferred=self.transferred,
            overflowed=self.overflowed,
            hold_ms=self.hold_ms,
            disposition=self.disposition,
            notes="\n".join(self.notes),
            updated_at_ms=now_ms,
        )

    def cdr(self, outcome: str) -> CdrRecord:
        answered = self.answered_at_ms
        end = self.ended_at_ms
        waited_until = answered or end
        wait_start = self.queued_at_ms or self.arrival_at_ms
        return CdrRecord(
            cdr_id=new_id("cdr"),
            call_id=self.call_id,
            site_id=self.site_id,
            home_site=self.home_site,
            entry_site=self.entry_site,
            business_id=self.business_id,
            tier=self.tier,
            caller_masked=mask_phone(self.caller_number),
            outcome=outcome,
            arrival_at_ms=self.arrival_at_ms,
            answered_at_ms=answered,
            ended_at_ms=end,
            wait_ms=max(0, waited_until - wait_start) if self.queued_at_ms else 0,
            ring_ms=self.ring_ms,
            talk_ms=self.talk_ms,
            hold_ms=self.hold_ms,
            agent_id=self.agent_id if answered else "",
            transferred=self.transferred,
            overflowed=self.overflowed,
            ivr_path=self.path_labels(),
        )

    def event(self, kind: str, now_ms: int, **extra: Any) -> Event:
        """An event of this call: the kind's message (``events.proto``) with the call as
        it is now and ``extra`` fields of that message."""
        owner = ""
        if self.consult_for and kind.startswith("call."):  # a consult leg, not the call
            kind = "consult." + kind.removeprefix("call.")
            owner = self.consult_for
        info = pb.CallInfo(call_id=self.call_id, site_id=self.site_id, state=self.state,
                           business_id=self.business_id, tier=self.tier,
                           priority=self.priority, agent_id=self.agent_id, owner_site=owner)
        return Event(new_id("evt"), kind, self.call_id, body_type(kind)(call=info, **extra),
                     now_ms)


@dataclass
class LiveAgent:
    """A logged-in agent's session as the desk service sees it."""

    agent_id: str
    name: str
    session_id: str
    token: str
    device: str
    login_at_ms: int
    state: str = "not_ready"
    reason: str = "login"
    since_ms: int = 0
    call_id: str = ""
    wrap_call_id: str = ""
    # the ended call's final record (as committed when it ended), so wrap-up need not
    # read it back from the database; None after a transfer (the call lives on)
    wrap_record: CallRecord | None = None

    def transition(self, state: str, reason: str, now_ms: int) -> AgentStateRecord | None:
        """Move to a new state; returns the finished stretch of the old one."""
        if state == self.state and reason == self.reason:
            return None
        done = AgentStateRecord(
            agent_id=self.agent_id,
            session_id=self.session_id,
            state=self.state,
            reason=self.reason,
            started_at_ms=self.since_ms,
            ended_at_ms=now_ms,
            duration_ms=max(0, now_ms - self.since_ms),
        )
        self.state, self.reason, self.since_ms = state, reason, now_ms
        return done

    def event(self, now_ms: int) -> Event:
        body = pb.AgentStateChanged(agent_id=self.agent_id, session_id=self.session_id,
                                    state=self.state, reason=self.reason, call_id=self.call_id)
        return Event(new_id("evt"), "agent.state", self.agent_id, body, now_ms)
