"""The service layer's live view of calls and agent sessions, and the records they make.

The ACD (``vcc_site.domain``) decides who gets which call; these objects carry what the
ACD does not need (caller, customer, IVR session, legs, hold time) and turn each state
change into the rows and outbox events that :class:`~vcc_site.store.api.UnitOfWork`
persists together.
"""

from __future__ import annotations

import asyncio
from dataclasses import InitVar, dataclass, field
from typing import Any

from vcc_domain.ids import new_id
from vcc_domain.privacy import mask_phone
from vcc_proto.v1 import events_pb2 as pb
from vcc_replication.events import body_type
from vcc_site.domain.call import CallLife, CallState, Leg
from vcc_site.domain.ivr import IvrSession
from vcc_site.domain.queue import EndReason
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


OUTCOMES = {  # the CDR's outcome of a call that ended in the ACD, by the ACD's end reason
    EndReason.COMPLETED: "answered",
    EndReason.ABANDONED: "abandoned",
    EndReason.TRANSFERRED_OUT: "transferred_out",
    EndReason.OVERFLOWED: "overflowed_out",
    EndReason.LOST: "lost",
    EndReason.QUEUE_TIMEOUT: "abandoned",  # not served: counted with the abandoned calls
}


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
    ivr: IvrSession | None = None
    ivr_path: list[tuple[str, str, int]] = field(default_factory=list)  # node, digits, at
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
    entered_at_ms: int = 0  # when the call reached this site (the IVR time limit counts)
    consult_agent: str = ""
    consult_mode: str = ""
    # the site owning the caller's area code: the payer for a caller who is nobody's
    # customer (settlement needs a home site for every call)
    caller_home: str = ""
    # the caller number came from the access edge (or an unchecked port): it may identify
    # the caller for self-service (bill by line, setting a PIN)
    number_trusted: bool = True

    # the key of this entry in the core's live calls: the call ID, except for a consult
    # leg served at the call's own site (``shadow``), which lives beside the call itself
    slot: str = ""
    # the life of a call (or consult leg) taken over from another agent or site
    # (``CallLife.transferred_in``); None: a call arriving here, in the IVR
    taken_over: InitVar[CallLife | None] = None
    # the call's life here (state, legs, times): changed only by its transitions
    life: CallLife = field(init=False, repr=False)

    def __post_init__(self, taken_over: CallLife | None) -> None:
        self.acd_key = self.acd_key or self.call_id
        self.slot = self.slot or self.call_id
        self.life = (
            taken_over
            if taken_over is not None
            else CallLife(
                self.call_id, self.site_id, self.arrival_at_ms, consult=bool(self.consult_for)
            )
        )

    # -- the life's state and times, read-only (change them through ``life``) -----------

    @property
    def state(self) -> str:
        """The state as stored and sent: ivr | queued | offered | connected | held | ended."""
        return self.life.stored_state

    @property
    def agent_id(self) -> str:
        return self.life.agent_id

    @property
    def leg(self) -> Leg | None:
        return self.life.leg

    @property
    def legs(self) -> list[Leg]:
        return self.life.legs

    @property
    def queued_at_ms(self) -> int:
        return self.life.queued_at_ms

    @property
    def offered_at_ms(self) -> int:
        return self.life.offered_at_ms

    @property
    def answered_at_ms(self) -> int:
        return self.life.answered_at_ms

    @property
    def ended_at_ms(self) -> int:
        return self.life.ended_at_ms

    @property
    def end_reason(self) -> str:
        return self.life.end_reason

    @property
    def hold_started_ms(self) -> int:
        return self.life.hold_started_ms

    @property
    def hold_ms(self) -> int:
        return self.life.hold_ms

    def open_consult(self, consult: ConsultLeg, now_ms: int) -> bool:
        """Its agent consults another on ``consult``: the caller is held (True: the
        caller was connected until now)."""
        was_connected = self.life.state is CallState.CONNECTED
        self.life.open_consult(consult.leg_id, now_ms)
        self.consult = consult
        return was_connected

    def close_consult(self, now_ms: int) -> None:
        """The consultation ends (if one was open); a held caller stays held."""
        self.consult = None
        self.life.close_consult(now_ms)

    def leg_row(self, leg: Leg) -> LegRecord:
        """A leg of this call as the store keeps it."""
        return LegRecord(
            leg.leg_id,
            self.call_id,
            leg.site_id,
            leg.agent_id,
            leg.kind.value,
            leg.offered_at_ms,
            leg.answered_at_ms,
            leg.ended_at_ms,
            leg.end_reason,
            home_site=self.home_site,
        )

    @property
    def shadow(self) -> bool:
        """A consult leg served at the site that owns the call: it has no call row of its
        own (the owner's entry writes the call's record and CDR)."""
        return bool(self.consult_for) and self.consult_for == self.site_id

    def rows(self, now_ms: int) -> tuple[CallRecord, ...]:
        """The call record to write for a change of this entry (none for a shadow)."""
        return () if self.shadow else (self.record(now_ms),)

    def past_legs(self) -> list[LegRecord]:
        """The legs that ended, here and at earlier sites, oldest first."""
        return [*self.prior_legs, *(self.leg_row(g) for g in self.life.legs)]

    def all_legs(self) -> list[LegRecord]:
        """Every leg so far, here and at earlier sites, oldest first (the current last)."""
        life = self.life
        here = [*life.legs, *([life.leg] if life.leg else [])]
        return [*self.prior_legs, *(self.leg_row(g) for g in here)]

    @property
    def home_site(self) -> str:
        return self.customer.home_site if self.customer else self.caller_home

    def path_labels(self) -> tuple[str, ...]:
        return tuple(f"{node}:{digits}" if digits else node for node, digits, _ in self.ivr_path)

    def record(self, now_ms: int) -> CallRecord:
        life = self.life
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
            state=life.stored_state,
            arrival_at_ms=self.arrival_at_ms,
            queued_at_ms=life.queued_at_ms,
            offered_at_ms=life.offered_at_ms,
            answered_at_ms=life.answered_at_ms,
            ended_at_ms=life.ended_at_ms,
            end_reason=life.end_reason,
            agent_id=life.agent_id,
            ivr_path=self.path_labels(),
            attached=dict(self.attached),
            transferred=self.transferred,
            overflowed=self.overflowed,
            hold_ms=life.hold_ms,
            disposition=self.disposition,
            notes="\n".join(self.notes),
            updated_at_ms=now_ms,
        )

    def cdr(self, outcome: str) -> CdrRecord:
        life = self.life
        answered = life.answered_at_ms
        end = life.ended_at_ms
        waited_until = answered or end
        wait_start = life.queued_at_ms or self.arrival_at_ms
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
            wait_ms=max(0, waited_until - wait_start) if life.queued_at_ms else 0,
            ring_ms=life.ring_ms,
            talk_ms=life.talk_ms,
            hold_ms=life.hold_ms,
            agent_id=life.agent_id if answered else "",
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
        body: Any = body_type(kind)(**extra)
        info: pb.CallInfo = body.call  # filled in place (one built apart is copied in)
        info.call_id, info.site_id = self.call_id, self.site_id
        info.state, info.agent_id = self.life.stored_state, self.life.agent_id
        info.business_id, info.tier, info.priority = self.business_id, self.tier, self.priority
        if owner:
            info.owner_site = owner
        return Event(new_id("evt"), kind, self.call_id, body, now_ms)


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
        body = pb.AgentStateChanged(
            agent_id=self.agent_id,
            session_id=self.session_id,
            state=self.state,
            reason=self.reason,
            call_id=self.call_id,
        )
        return Event(new_id("evt"), "agent.state", self.agent_id, body, now_ms)


def legs_payload(legs: list[LegRecord]) -> list[pb.Leg]:
    """Legs as carried by ``cdr.created``: where each was served and whose caller it was."""
    return [
        pb.Leg(
            leg_id=g.leg_id,
            kind=g.kind,
            serving_site=g.site_id,
            home_site=g.home_site,
            agent_id=g.agent_id,
            offered_at_ms=g.offered_at_ms,
            answered_at_ms=g.answered_at_ms,
            ended_at_ms=g.ended_at_ms,
            end_reason=g.end_reason,
        )
        for g in legs
    ]
