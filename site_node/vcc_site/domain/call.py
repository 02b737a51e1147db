"""A call's life at one site: a pure state machine, driven by the service with given times.

The ACD (:mod:`vcc_site.domain.acd`) decides which agent gets which call; this machine
keeps what happens to ONE call at one site once a decision is taken: its state, its legs
(one per agent it is offered to) and the times its record and CDR are made of.

States (``CallState``; the value is what the call record stores, see ``stored``)::

    IVR --queue--> QUEUED --offer--> OFFERED --answer--> CONNECTED <--hold/resume--> HELD
     |               ^                  |                   |  ^                       |
     |               +----take_back-----+                   |  +-------resume----------+
     |               +--------------release (the agent passes the call on)-------------+
     |                                                      +--open_consult--> CONSULTING
     +--offer (an agent was free at once)                     (the caller held while the
                                                               agent consults another)
    any live state --end--> ENDED           (a final end: the call's CDR is written here)
    any live state --end--> TRANSFERRED_OUT (transferred or overflowed to another site:
                                             the call lives on there, owned by that site)

A call that comes from another site starts QUEUED (:meth:`CallLife.transferred_in`) with
its legs there kept as ``prior_legs``; a consult leg served for an owner elsewhere is a
``CallLife`` too (``consult=True``): its end is never final.

Every transition validates first and raises :class:`Conflict` (wrong state) or
:class:`InvalidInput` (bad argument) before changing anything, so a refused transition
changes nothing. On success it returns a :class:`Step`: the new state and the events it
emits. Times are given by the caller (milliseconds); a time earlier than the last one
seen (a clock stepping back) is taken as the last one, so a call's times never go
backwards and its legs never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vcc_domain.errors import Conflict, InvalidInput


class CallState(StrEnum):
    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"  # ringing at one agent
    CONNECTED = "connected"
    HELD = "held"
    CONSULTING = "consulting"  # held while its agent consults another agent
    TRANSFERRED_OUT = "transferred_out"  # gone to another site (terminal here)
    ENDED = "ended"  # terminal

    @property
    def stored(self) -> str:
        """The state as call records and the wire carry it (unchanged by this machine:
        a consulting call is stored held, a call that left the site ended)."""
        return _STORED[self]

    @property
    def live(self) -> bool:
        return self not in _TERMINAL


_STORED = {s: s.value for s in CallState} | {
    CallState.CONSULTING: "held",
    CallState.TRANSFERRED_OUT: "ended",
}
_TERMINAL = frozenset({CallState.ENDED, CallState.TRANSFERRED_OUT})
_TALKING = frozenset({CallState.CONNECTED, CallState.HELD, CallState.CONSULTING})
_ON_HOLD = frozenset({CallState.HELD, CallState.CONSULTING})
LEFT_SITE = frozenset({"transferred_out", "overflowed"})  # end reasons: the call lives on


class LegKind(StrEnum):
    INITIAL = "initial"
    TRANSFER = "transfer"
    OVERFLOW = "overflow"
    CONSULT = "consult"


@dataclass(frozen=True, slots=True)
class Leg:
    """A stretch of the call offered to one agent at one site."""

    leg_id: str
    kind: LegKind
    site_id: str  # the serving site
    agent_id: str
    offered_at_ms: int
    answered_at_ms: int = 0
    ended_at_ms: int = 0
    end_reason: str = ""


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallQueued:
    at_ms: int


@dataclass(frozen=True, slots=True)
class CallOffered:
    leg_id: str
    agent_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class CallAnswered:
    leg_id: str
    agent_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class LegEnded:
    leg: Leg  # as ended


@dataclass(frozen=True, slots=True)
class CallHeld:
    at_ms: int


@dataclass(frozen=True, slots=True)
class CallResumed:
    at_ms: int


@dataclass(frozen=True, slots=True)
class ConsultOpened:
    leg_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ConsultClosed:
    leg_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class CallTransferredIn:
    from_site: str
    leg_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class CallLeft:
    """The call ended at this site. ``final``: its one CDR is written here; otherwise it
    lives on at another site (transferred or overflowed) or was only a consult leg."""

    reason: str
    answered: bool  # the last leg here was answered (its agent goes to wrap-up)
    final: bool
    at_ms: int


CallEvent = (
    CallQueued
    | CallOffered
    | CallAnswered
    | LegEnded
    | CallHeld
    | CallResumed
    | ConsultOpened
    | ConsultClosed
    | CallTransferredIn
    | CallLeft
)


@dataclass(frozen=True, slots=True)
class Step:
    state: CallState
    events: tuple[CallEvent, ...]


# -- the machine ----------------------------------------------------------------------------


@dataclass(slots=True)
class CallLife:
    call_id: str
    site_id: str
    arrival_at_ms: int
    state: CallState = CallState.IVR
    consult: bool = False  # a consult leg of a call owned by another entry: never final
    agent_id: str = ""  # the agent offered or on the current leg
    queued_at_ms: int = 0  # first queue entry here
    offered_at_ms: int = 0  # the current (or last) leg's offer
    answered_at_ms: int = 0  # the call's first answer (at any leg here, or before)
    ended_at_ms: int = 0
    end_reason: str = ""
    leg: Leg | None = None  # the current leg
    legs: list[Leg] = field(default_factory=list)  # ended legs here, oldest first
    consult_leg: str = ""  # the open consultation's leg (held by this call's agent)
    hold_started_ms: int = 0
    hold_ms: int = 0  # total time on hold, all legs
    talk_ms: int = 0  # talk time of finished legs (answer to end, less hold)
    ring_ms: int = 0  # time ringing at agents, all legs
    leg_answered_ms: int = 0  # the current leg's answer (0: not answered)
    leg_hold_base_ms: int = 0  # hold_ms when the current leg was answered
    last_ms: int = 0  # the latest time seen (times never go back)

    @classmethod
    def transferred_in(
        cls,
        call_id: str,
        site_id: str,
        arrival_at_ms: int,
        from_site: str,
        leg_id: str,
        now_ms: int,
        *,
        prior_end_ms: int = 0,
        consult: bool = False,
    ) -> tuple[CallLife, Step]:
        """A call (or a consult leg of it) taken over from ``from_site``: it waits here.
        ``prior_end_ms``: when its last leg there ended (its legs here start later, even
        if this site's clock is behind)."""
        if not leg_id:
            raise InvalidInput("a transferred call needs the leg it opens", field="leg_id")
        life = cls(
            call_id,
            site_id,
            arrival_at_ms,
            CallState.QUEUED,
            consult=consult,
            last_ms=max(now_ms, arrival_at_ms, prior_end_ms),
        )
        return life, Step(life.state, (CallTransferredIn(from_site, leg_id, life.last_ms),))

    # -- queries ----------------------------------------------------------------------

    @property
    def stored_state(self) -> str:
        return _STORED[self.state]

    @property
    def talking(self) -> bool:
        """Answered by the agent of the current leg (connected, held or consulting)."""
        return self.state in _TALKING

    @property
    def on_hold(self) -> bool:
        """The caller is on hold (held, or while its agent consults another)."""
        return self.state in _ON_HOLD

    def _at(self, now_ms: int) -> int:
        return now_ms if now_ms > self.last_ms else self.last_ms

    def _refuse(self, what: str) -> Conflict:
        return Conflict(
            f"call {self.call_id!r} is {self.state.stored}; cannot {what}", field="call_id"
        )

    def _require(self, allowed: frozenset[CallState], what: str) -> None:
        if self.state not in allowed:
            raise self._refuse(what)

    # -- transitions ------------------------------------------------------------------

    def queue(self, now_ms: int) -> Step:
        """Waits in the ACD (its first queue entry time is kept)."""
        self._require(_QUEUEABLE, "queue it")
        at = self.last_ms = self._at(now_ms)
        self.state, self.agent_id = CallState.QUEUED, ""
        if not self.queued_at_ms:
            self.queued_at_ms = at
        return Step(self.state, (CallQueued(at),))

    def offer(self, agent_id: str, leg_id: str, kind: LegKind, now_ms: int) -> Step:
        """Rings at ``agent_id`` on a new leg."""
        self._require(_QUEUEABLE, "offer it")
        if not agent_id or not leg_id:
            raise InvalidInput("an offer needs an agent and a leg", field="agent_id")
        at = self.last_ms = self._at(now_ms)
        self.state, self.agent_id, self.offered_at_ms = CallState.OFFERED, agent_id, at
        self.leg = Leg(leg_id, kind, self.site_id, agent_id, at)
        return Step(self.state, (CallOffered(leg_id, agent_id, at),))

    def answer(self, now_ms: int) -> Step:
        """The ringing agent answers: the leg is answered, the call's first answer kept."""
        self._require(_OFFERED, "answer it")
        at = self.last_ms = self._at(now_ms)
        leg = self.leg
        assert leg is not None
        self.ring_ms += at - leg.offered_at_ms
        self.leg = Leg(leg.leg_id, leg.kind, leg.site_id, leg.agent_id, leg.offered_at_ms, at)
        if not self.answered_at_ms:
            self.answered_at_ms = at
        self.leg_answered_ms, self.leg_hold_base_ms = at, self.hold_ms
        self.state = CallState.CONNECTED
        return Step(self.state, (CallAnswered(leg.leg_id, leg.agent_id, at),))

    def take_back(self, now_ms: int, why: str) -> Step:
        """The ringing agent did not answer (or left): the leg ends, the call waits."""
        self._require(_OFFERED, "take it back")
        at = self.last_ms = self._at(now_ms)
        assert self.leg is not None
        self.ring_ms += at - self.leg.offered_at_ms
        ended = self._end_leg(at, why)
        self.state, self.agent_id = CallState.QUEUED, ""
        return Step(self.state, (LegEnded(ended),))

    def hold(self, now_ms: int) -> Step:
        self._require(_CONNECTED, "hold it")
        at = self.last_ms = self._at(now_ms)
        self.hold_started_ms = at
        self.state = CallState.CONSULTING if self.consult_leg else CallState.HELD
        return Step(self.state, (CallHeld(at),))

    def resume(self, now_ms: int) -> Step:
        """Back from hold (a consultation stays open: it may be a conference)."""
        self._require(_ON_HOLD, "resume it")
        at = self.last_ms = self._at(now_ms)
        self._stop_hold(at)
        self.state = CallState.CONNECTED
        return Step(self.state, (CallResumed(at),))

    def open_consult(self, leg_id: str, now_ms: int) -> Step:
        """Its agent consults another agent on ``leg_id``; the caller is held."""
        self._require(_TALKING, "consult about it")
        if self.consult_leg:
            raise Conflict(
                f"call {self.call_id!r} already has a consultation open", field="call_id"
            )
        if not leg_id:
            raise InvalidInput("a consultation needs its leg", field="leg_id")
        at = self.last_ms = self._at(now_ms)
        events: tuple[CallEvent, ...] = (ConsultOpened(leg_id, at),)
        if self.state == CallState.CONNECTED:
            self.hold_started_ms = at
            events = (CallHeld(at), *events)
        self.consult_leg, self.state = leg_id, CallState.CONSULTING
        return Step(self.state, events)

    def close_consult(self, now_ms: int) -> Step:
        """The consultation ends (cancelled, refused, its leg gone or moved on); a caller
        still on hold stays held. Closing none is a no-op."""
        if not self.consult_leg:
            return Step(self.state, ())
        at = self.last_ms = self._at(now_ms)
        leg_id, self.consult_leg = self.consult_leg, ""
        if self.state == CallState.CONSULTING:
            self.state = CallState.HELD
        return Step(self.state, (ConsultClosed(leg_id, at),))

    def release(self, now_ms: int, why: str) -> Step:
        """Its agent passes the call on here (a transfer at this site): the agent's leg
        ends and the call waits for the next."""
        self._require(_TALKING, "pass it on")
        if self.leg is None:
            raise self._refuse("pass it on without a leg")
        at = self.last_ms = self._at(now_ms)
        self._stop_hold(at)
        self._close_talk(at)
        ended = self._end_leg(at, why)
        self.consult_leg = ""
        self.state, self.agent_id = CallState.QUEUED, ""
        return Step(self.state, (LegEnded(ended),))

    def adopt(self, other: CallLife, now_ms: int) -> Step:
        """The call takes over ``other``, its consult leg at this site (waiting, ringing or
        answered there): it continues in that state, with that leg's agent."""
        self._require(_QUEUED, "hand it to the consulted agent")
        if other.state not in _ADOPTABLE:
            raise Conflict(
                f"consult leg of call {other.call_id!r} is {other.state.stored}", field="call_id"
            )
        at = self.last_ms = self._at(max(now_ms, other.last_ms))
        self.state, self.agent_id, self.leg = other.state, other.agent_id, other.leg
        self.offered_at_ms = other.offered_at_ms
        self.legs.extend(other.legs)
        self.ring_ms += other.ring_ms
        self.leg_answered_ms, self.leg_hold_base_ms = other.leg_answered_ms, self.hold_ms
        self.hold_started_ms = other.hold_started_ms
        if other.answered_at_ms and not self.answered_at_ms:
            self.answered_at_ms = other.answered_at_ms
        self.consult_leg = ""
        other.state, other.leg, other.legs, other.last_ms = CallState.ENDED, None, [], at
        return Step(self.state, ())

    def own(self, from_site: str, leg_id: str, now_ms: int) -> Step:
        """A consult leg served here becomes the call itself: owned here from now on (its
        end is final here)."""
        if not self.consult or not self.state.live:
            raise Conflict(f"call {self.call_id!r} is not a live consult leg here", field="call_id")
        at = self.last_ms = self._at(now_ms)
        self.consult = False
        return Step(self.state, (CallTransferredIn(from_site, leg_id, at),))

    def end(self, now_ms: int, reason: str) -> Step:
        """The call ends here: hung up, abandoned, lost, or gone to another site (reason
        ``transferred_out`` / ``overflowed``: TRANSFERRED_OUT, not final here)."""
        if not self.state.live:
            raise self._refuse("end it")
        if not reason:
            raise InvalidInput("an end needs a reason", field="reason")
        at = self.last_ms = self._at(now_ms)
        answered = self.state in _TALKING
        self._stop_hold(at)
        self._close_talk(at)
        events: tuple[CallEvent, ...] = ()
        if self.leg is not None:
            if not answered:
                self.ring_ms += at - self.leg.offered_at_ms
            events = (LegEnded(self._end_leg(at, reason)),)
        if not answered:
            self.agent_id = ""
        left = reason in LEFT_SITE
        self.state = CallState.TRANSFERRED_OUT if left else CallState.ENDED
        self.ended_at_ms, self.end_reason, self.consult_leg = at, reason, ""
        final = not left and not self.consult
        return Step(self.state, (*events, CallLeft(reason, answered, final, at)))

    # -- helpers ----------------------------------------------------------------------

    def _end_leg(self, at: int, why: str) -> Leg:
        leg = self.leg
        if leg is None:
            raise self._refuse("end its leg")
        ended = Leg(  # not dataclasses.replace: it looks the fields up on every call
            leg.leg_id,
            leg.kind,
            leg.site_id,
            leg.agent_id,
            leg.offered_at_ms,
            leg.answered_at_ms,
            at,
            why,
        )
        self.legs.append(ended)
        self.leg = None
        return ended

    def _stop_hold(self, at: int) -> None:
        if self.hold_started_ms:
            self.hold_ms += at - self.hold_started_ms
            self.hold_started_ms = 0

    def _close_talk(self, at: int) -> None:
        if self.leg_answered_ms:
            leg_hold = self.hold_ms - self.leg_hold_base_ms
            self.talk_ms += max(0, at - self.leg_answered_ms - leg_hold)
            self.leg_answered_ms = 0


_QUEUEABLE = frozenset({CallState.IVR, CallState.QUEUED})
_QUEUED = frozenset({CallState.QUEUED})
_OFFERED = frozenset({CallState.OFFERED})
_CONNECTED = frozenset({CallState.CONNECTED})
_ADOPTABLE = _QUEUED | _OFFERED | _TALKING
