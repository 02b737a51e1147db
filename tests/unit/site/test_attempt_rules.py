"""Charging attempts before the check, the agents' back-off, and the PIN's hard lock."""

from __future__ import annotations

from vcc_site.domain.secrets import (
    AGENT_LOCKOUT,
    PIN_LOCKOUT,
    LockoutPolicy,
    charge_attempt,
    lock_ms,
)

NOW = 1_700_000_000_000


def test_agent_lock_backs_off_from_thirty_seconds_to_fifteen_minutes() -> None:
    assert [lock_ms(n, AGENT_LOCKOUT) // 1000 for n in range(1, 10)] == [
        0,
        0,
        30,
        60,
        120,
        240,
        480,
        900,
        900,
    ]
    assert lock_ms(10_000, AGENT_LOCKOUT) == 900_000


def test_pin_lock_is_hard_at_the_limit() -> None:
    assert lock_ms(4, PIN_LOCKOUT) == 0
    assert lock_ms(5, PIN_LOCKOUT) == lock_ms(9, PIN_LOCKOUT) == 30 * 60 * 1000


def test_the_attempt_at_the_limit_locks_before_the_check() -> None:
    assert charge_attempt(0, 0, NOW, AGENT_LOCKOUT) == (1, 0)
    assert charge_attempt(2, 0, NOW, AGENT_LOCKOUT) == (3, NOW + 30_000)


def test_a_lock_in_force_refuses_without_counting() -> None:
    assert charge_attempt(3, NOW + 1, NOW, AGENT_LOCKOUT) is None


def test_after_an_agent_lock_the_count_goes_on_and_the_next_lock_is_longer() -> None:
    assert charge_attempt(3, NOW - 1, NOW, AGENT_LOCKOUT) == (4, NOW + 60_000)


def test_after_a_hard_lock_a_fresh_set_of_tries() -> None:
    assert charge_attempt(5, NOW - 1, NOW, PIN_LOCKOUT) == (1, 0)


def test_concurrent_charges_from_one_value_admit_at_most_the_limit() -> None:
    policy = LockoutPolicy(3, 900, backoff_s=30)
    state, admitted = (0, 0), 0
    for _ in range(30):  # serialised by the compare-and-set: each sees the last result
        new = charge_attempt(*state, NOW, policy)
        if new is None:
            continue
        admitted += 1
        state = new
    assert admitted == 3 and state == (3, NOW + 30_000)
