"""The leader-term rules of the hub election, against a model of etcd (Hypothesis).

Several hubs campaign, refresh, pause and lose messages in any order and with any
delays; an etcd model holds the leader key under a lease that expires ``ttl`` after its
last refresh *as etcd saw it* (possibly later, never earlier). Whatever happens:

* at most one hub believes it leads at any instant;
* a hub that believes it leads holds the key etcd has, with that key's create revision
  as its token, and etcd's lease has not expired;
* the tokens of successive terms strictly increase.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vcc_failover.election import LeaderTerm

TTL = 2.0
NODES = 3
delays = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)
pauses = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
nodes = st.integers(min_value=0, max_value=NODES - 1)


@dataclass
class EtcdModel:
    revision: int = 1
    holder: int | None = None  # node holding the leader key
    create_revision: int = 0
    lease_expiry: float = 0.0  # server time at which the holder's lease may be expired

    def expire(self, now: float) -> None:
        """The lessor removes an expired lease (it may do so late, never early)."""
        if self.holder is not None and self.lease_expiry <= now:
            self.holder = None
            self.revision += 1

    def create(self, node: int, granted_at: float) -> int | None:
        if self.holder is not None:
            return None
        self.revision += 1
        self.holder, self.create_revision = node, self.revision
        self.lease_expiry = granted_at + TTL
        return self.revision

    def keepalive(self, node: int, now: float) -> bool:
        if self.holder != node or self.lease_expiry <= now:
            return False
        self.lease_expiry = now + TTL
        return True


class ElectionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.etcd = EtcdModel()
        self.terms = [LeaderTerm(ttl=TTL) for _ in range(NODES)]
        self.tokens_won: list[int] = []

    @rule(pause=pauses)
    def time_passes(self, pause: float) -> None:
        """Nobody acts (a GC pause, a SIGSTOP, a slow event loop, a partition)."""
        self.now += pause

    @rule()
    def lessor_tick(self) -> None:
        self.etcd.expire(self.now)

    @rule(node=nodes, there=delays, back=delays, lost=st.booleans(), prompt=st.booleans())
    def campaign(self, node: int, there: float, back: float, lost: bool, prompt: bool) -> None:
        term = self.terms[node]
        if term.leading:
            return
        sent_at = self.now  # read before the grant and the create transaction
        self.now += there
        if prompt:  # the lessor may (or may not yet) have removed an expired key
            self.etcd.expire(self.now)
        token = self.etcd.create(node, granted_at=self.now)
        self.now += back
        if token is None or lost:
            return  # a lost answer: the lease is never refreshed and expires
        if sent_at + TTL <= self.now:  # too late to be sure: the code revokes and retries
            return
        term.won(token, sent_at)
        if self.tokens_won:
            assert token > self.tokens_won[-1]
        self.tokens_won.append(token)

    @rule(node=nodes, there=delays, back=delays, lost=st.booleans())
    def refresh(self, node: int, there: float, back: float, lost: bool) -> None:
        term = self.terms[node]
        if not term.leading:
            return
        sent_at = self.now
        self.now += there
        alive = self.etcd.keepalive(node, self.now)
        self.now += back
        if lost:
            return  # no answer: the belief runs out on its own
        if alive:
            term.refreshed(sent_at)
        else:
            term.lost()

    @rule(node=nodes)
    def watchdog(self, node: int) -> None:
        """The leader loop wakes at the end of its term and steps down."""
        term = self.terms[node]
        if term.expired(self.now):
            term.lost()

    @invariant()
    def at_most_one_believes_it_leads(self) -> None:
        believers = [i for i, t in enumerate(self.terms) if t.is_leader(self.now)]
        assert len(believers) <= 1, believers
        for i in believers:
            assert self.etcd.holder == i
            assert self.etcd.create_revision == self.terms[i].token
            assert self.etcd.lease_expiry > self.now


ElectionMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None
)
TestElection = ElectionMachine.TestCase


def test_term_rules() -> None:
    term = LeaderTerm(ttl=2.0)
    assert not term.is_leader(0.0)
    term.won(5, sent_at=10.0)
    assert term.is_leader(11.9) and not term.is_leader(12.0)
    term.refreshed(sent_at=11.0)
    assert term.is_leader(12.5)
    term.refreshed(sent_at=10.5)  # an older answer never shortens the term
    assert term.valid_until == 13.0
    assert term.expired(13.0)
    term.lost()
    assert not term.is_leader(10.0)
    with pytest.raises(ValueError):
        term.won(5, sent_at=20.0)
