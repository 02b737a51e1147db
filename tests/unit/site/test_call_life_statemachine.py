"""A Hypothesis state machine over the call's life (``vcc_site.domain.call``) at two sites.

Calls arrive at site A or B and are driven through every transition of
:class:`CallLife` in random order, with the ACD's part played by the model (an agent is
offered a call only while free; a leg's agent is free again once the machine says the
leg ended). Calls move between the sites like the service moves them: a connected call
is transferred (it ends here TRANSFERRED_OUT, the other site takes it over under the
same call ID with its legs so far), a waiting call overflows. The clock moves forward
and sometimes steps back.

Checked after every step: one owner (a call is live at one site at most; a call that
left a site is not live there any more); at most one final end (its CDR) per call over
both sites, and exactly one once every call has ended; every leg's times are ordered
(offered <= answered <= ended) and a call's legs, over both sites, do not overlap; an
agent is on at most one call and exactly the calls ringing or answered have an agent and
a current leg; a refused transition (``Conflict``/``InvalidInput``) changed nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from functools import partial
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vcc_domain.errors import Conflict, InvalidInput
from vcc_site.domain.call import (
    CallLeft,
    CallLife,
    CallState,
    Leg,
    LegEnded,
    LegKind,
    Step,
)

SITES = ("A", "B")
AGENTS = {"A": ("A-1", "A-2", "A-3"), "B": ("B-1", "B-2")}
RINGING_OR_TALKING = frozenset(
    {CallState.OFFERED, CallState.CONNECTED, CallState.HELD, CallState.CONSULTING}
)
ENDS = ("completed", "abandoned", "lost")


def snapshot(life: CallLife) -> tuple[Any, ...]:
    return tuple(
        tuple(v) if isinstance(v, list) else v
        for v in (getattr(life, f.name) for f in fields(life))
    )


class CallLives(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000
        self.lives: dict[tuple[str, str], CallLife] = {}  # (site, call) -> newest life
        self.chain: dict[str, list[CallLife]] = {}  # call -> its lives, site after site
        self.busy: dict[str, tuple[str, str]] = {}  # agent -> (site, call)
        self.finals: Counter[str] = Counter()
        self.legs = 0
        self.calls = 0
        self.refused = 0
        self.consulted: set[int] = set()  # lives that began as consult legs (by id)

    # -- helpers ------------------------------------------------------------------------

    def pick(self, data: st.DataObject, *, live: bool = True) -> CallLife | None:
        pool = [life for life in self.lives.values() if life.state.live or not live]
        return data.draw(st.sampled_from(pool)) if pool else None

    def drive(self, life: CallLife, op: Callable[[], Step]) -> Step | None:
        """Run a transition; a refused one must have changed nothing."""
        before = snapshot(life)
        try:
            step = op()
        except (Conflict, InvalidInput):
            assert snapshot(life) == before, "a refused transition changed the call"
            self.refused += 1
            return None
        assert step.state is life.state
        for e in step.events:
            if isinstance(e, LegEnded):
                self.busy.pop(e.leg.agent_id, None)
            elif isinstance(e, CallLeft):
                if e.final:
                    self.finals[life.call_id] += 1
                self.busy = {
                    a: c for a, c in self.busy.items() if c != (life.site_id, life.call_id)
                }
        return step

    @staticmethod
    def legs_of(life: CallLife) -> list[Leg]:
        return [*life.legs, *([life.leg] if life.leg else [])]

    def new_leg(self) -> str:
        self.legs += 1
        return f"leg_{self.legs}"

    # -- rules --------------------------------------------------------------------------

    @rule(site=st.sampled_from(SITES), ahead=st.integers(0, 3_000))
    def arrive(self, site: str, ahead: int) -> None:
        self.calls += 1
        call_id = f"call_{self.calls}"
        life = CallLife(call_id, site, self.now, last_ms=self.now)
        self.lives[(site, call_id)] = life
        self.chain[call_id] = [life]
        self.now += ahead

    @rule(forward=st.integers(0, 60_000), back=st.booleans())
    def clock(self, forward: int, back: bool) -> None:
        self.now = max(1, self.now - 5_000) if back else self.now + forward

    @rule(data=st.data())
    def queue(self, data: st.DataObject) -> None:
        life = self.pick(data)
        if life is not None:
            self.drive(life, lambda: life.queue(self.now))

    @rule(data=st.data(), kind=st.sampled_from(list(LegKind)))
    def offer(self, data: st.DataObject, kind: LegKind) -> None:
        life = self.pick(data)
        if life is None:
            return
        free = [a for a in AGENTS[life.site_id] if a not in self.busy]
        if not free:
            return
        agent = data.draw(st.sampled_from(free))
        if self.drive(life, lambda: life.offer(agent, self.new_leg(), kind, self.now)):
            self.busy[agent] = (life.site_id, life.call_id)

    @rule(data=st.data(), kind=st.sampled_from(list(LegKind)))
    def connect(self, data: st.DataObject, kind: LegKind) -> None:
        """Offer a waiting call to a free agent who answers at once (calls reach the
        talking states often enough to be transferred and consulted about)."""
        life = self.pick(data)
        if life is None or life.state not in (CallState.IVR, CallState.QUEUED):
            return
        free = [a for a in AGENTS[life.site_id] if a not in self.busy]
        if free and self.drive(life, lambda: life.offer(free[0], self.new_leg(), kind, self.now)):
            self.busy[free[0]] = (life.site_id, life.call_id)
            self.drive(life, lambda: life.answer(self.now + 1))

    @rule(data=st.data(), op=st.sampled_from(["answer", "hold", "resume", "close_consult"]))
    def simple(self, data: st.DataObject, op: str) -> None:
        life = self.pick(data)
        if life is not None:
            self.drive(life, lambda: getattr(life, op)(self.now))

    @rule(data=st.data(), why=st.sampled_from(["no_answer", "agent_gone"]))
    def take_back(self, data: st.DataObject, why: str) -> None:
        life = self.pick(data)
        if life is not None:
            self.drive(life, lambda: life.take_back(self.now, why))

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        life = self.pick(data)
        if life is not None:
            self.drive(life, lambda: life.release(self.now, "transferred"))

    @rule(data=st.data(), blank=st.booleans())
    def open_consult(self, data: st.DataObject, blank: bool) -> None:
        life = self.pick(data)
        if life is not None:
            self.drive(life, lambda: life.open_consult("" if blank else self.new_leg(), self.now))

    @rule(data=st.data(), reason=st.sampled_from([*ENDS, ""]))
    def end(self, data: st.DataObject, reason: str) -> None:
        life = self.pick(data, live=False)  # ending an ended call must be refused
        if life is not None:
            self.drive(life, lambda: life.end(self.now, reason))

    @rule(data=st.data(), overflow=st.booleans())
    def move(self, data: st.DataObject, overflow: bool) -> None:
        """Transfer (talking) or overflow (waiting) a call to the other site."""
        life = self.pick(data)
        if life is None or life.consult:
            return
        other = "B" if life.site_id == "A" else "A"
        known = self.lives.get((other, life.call_id))
        if known is not None and known.state.live:
            return  # cannot happen: it is live here
        if life.state != CallState.QUEUED if overflow else not life.talking:
            return
        step = self.drive(
            life, lambda: life.end(self.now, "overflowed" if overflow else "transferred_out")
        )
        assert step is not None and step.state is CallState.TRANSFERRED_OUT
        taken, first = CallLife.transferred_in(
            life.call_id,
            other,
            life.arrival_at_ms,
            life.site_id,
            self.new_leg(),
            self.now,
            prior_end_ms=life.last_ms,
        )
        assert first.state is CallState.QUEUED
        self.lives[(other, life.call_id)] = taken
        self.chain[life.call_id].append(taken)
        event("overflowed" if overflow else "transferred")

    @rule(data=st.data())
    def consult_elsewhere(self, data: st.DataObject) -> None:
        """Its agent consults an agent at the other site: a consult leg waits there."""
        life = self.pick(data)
        if life is None or life.consult:
            return
        other = "B" if life.site_id == "A" else "A"
        known = self.lives.get((other, life.call_id))
        if known is not None and known.state.live:
            return
        leg_id = self.new_leg()
        if self.drive(life, lambda: life.open_consult(leg_id, self.now)) is None:
            return
        leg, _ = CallLife.transferred_in(
            life.call_id,
            other,
            life.arrival_at_ms,
            life.site_id,
            leg_id,
            self.now,
            prior_end_ms=life.last_ms,
            consult=True,
        )
        self.lives[(other, life.call_id)] = leg
        self.consulted.add(id(leg))
        event("consulted at the other site")

    @rule(data=st.data())
    def consult_takes_over(self, data: st.DataObject) -> None:
        """The consulted side takes the call over: it leaves its owner, and the consult
        leg becomes the call (its end is final there)."""
        leg = self.pick(data)
        if leg is None or not leg.consult:
            return
        owner = self.chain[leg.call_id][-1]
        if not owner.state.live or not owner.consult_leg:
            return
        step = self.drive(owner, lambda: owner.end(self.now, "transferred_out"))
        assert step is not None and step.state is CallState.TRANSFERRED_OUT
        mine = self.drive(leg, lambda: leg.own(owner.site_id, "leg", self.now))
        assert mine is not None and not leg.consult
        self.chain[leg.call_id].append(leg)
        event("a consult leg took the call over")

    @rule(data=st.data())
    def own_refused(self, data: st.DataObject) -> None:
        life = self.pick(data, live=False)
        if life is not None and (not life.consult or not life.state.live):
            assert self.drive(life, lambda: life.own("A", "leg", self.now)) is None

    @rule(data=st.data())
    def adopt(self, data: st.DataObject) -> None:
        """A same-site consult leg taken over by its call (the call must be waiting)."""
        life, other = self.pick(data), self.pick(data)
        if (
            life is None
            or other is None
            or life is other
            or life.site_id != other.site_id
            or self.chain[other.call_id] != [other]
            or any(g.kind is not LegKind.CONSULT for g in self.legs_of(other))
        ):
            return
        before = snapshot(other)
        agent = other.agent_id
        step = self.drive(life, lambda: life.adopt(other, self.now))
        if step is None:
            assert snapshot(other) == before
            return
        if agent:
            self.busy[agent] = (life.site_id, life.call_id)
        # the adopted entry is not a call of its own: it must never end with a CDR
        self.lives = {k: v for k, v in self.lives.items() if v is not other}
        del self.chain[other.call_id]
        event("adopted a leg")

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def one_owner(self) -> None:
        for call_id, chain in self.chain.items():
            live = [life for life in chain if life.state.live]
            assert len(live) <= 1, f"{call_id} owned by {[x.site_id for x in live]}"
            for life in chain[:-1]:
                assert not life.state.live, f"{call_id} still live at {life.site_id}"

    @invariant()
    def one_final_cdr(self) -> None:
        for call_id, n in self.finals.items():
            assert n <= 1, f"{call_id} ended finally {n} times"

    @invariant()
    def legs_ordered(self) -> None:
        for chain in self.chain.values():
            last_end = 0
            for life in chain:
                if id(life) in self.consulted:  # ran beside its owner's legs, until now
                    last_end = 0
                for leg in self.legs_of(life):
                    # a consult leg runs beside the leg of the agent who consults
                    assert leg.kind is LegKind.CONSULT or leg.offered_at_ms >= last_end, (
                        "legs overlap"
                    )
                    if leg.answered_at_ms:
                        assert leg.offered_at_ms <= leg.answered_at_ms
                    if leg.ended_at_ms:
                        assert max(leg.offered_at_ms, leg.answered_at_ms) <= leg.ended_at_ms
                        last_end = leg.ended_at_ms
                    else:
                        assert leg is life.leg, "an ended leg without an end time"
                if not life.state.live:
                    assert life.ended_at_ms >= last_end

    @invariant()
    def agents(self) -> None:
        on: dict[str, CallLife] = {}
        for life in self.lives.values():
            ringing_or_talking = life.state in RINGING_OR_TALKING
            assert (life.leg is not None) == ringing_or_talking, life
            assert bool(life.agent_id) == ringing_or_talking or not life.state.live, life
            assert bool(life.hold_started_ms) == (
                life.state in (CallState.HELD, CallState.CONSULTING)
            )
            assert not life.consult_leg or life.talking
            if ringing_or_talking:
                assert life.agent_id not in on, f"{life.agent_id} on two calls"
                on[life.agent_id] = life
                assert self.busy.get(life.agent_id) == (life.site_id, life.call_id)
        assert set(self.busy) == set(on), "an agent busy without a call, or the reverse"

    def teardown(self) -> None:
        for life in list(self.lives.values()):
            if life.state.live:
                self.drive(life, partial(life.end, self.now, "completed"))
        for call_id in self.chain:
            assert self.finals[call_id] == 1, f"{call_id}: {self.finals[call_id]} CDRs"


CallLives.TestCase.settings = settings(max_examples=400, stateful_step_count=50, deadline=None)
test_call_lives = CallLives.TestCase
