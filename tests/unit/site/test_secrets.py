"""Password and PIN policy: argon2id hashing, lockout (explicit times), PIN format."""

from __future__ import annotations

import time

import pytest

from vcc_domain.errors import InvalidInput, Locked
from vcc_domain.province import RoutingPolicy
from vcc_site.domain.secrets import (
    AGENT_LOCKOUT,
    PIN_LOCKOUT,
    LockoutPolicy,
    after_failure,
    after_success,
    check_locked,
    hash_secret,
    is_weak_pin,
    needs_rehash,
    validate_new_pin,
    validate_password,
    validate_pin,
    verify_secret,
)

NOON_MS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + 12 * 3_600_000  # 12:00:00 UTC


# -- hashing ---------------------------------------------------------------------------------


def test_hash_verify_round_trip() -> None:
    hashed = hash_secret("482915")
    assert hashed.startswith("$argon2id$")
    assert "482915" not in hashed
    assert verify_secret(hashed, "482915")
    assert not needs_rehash(hashed)


def test_equal_secrets_get_different_hashes() -> None:
    assert hash_secret("correct horse") != hash_secret("correct horse")


def test_wrong_secret_is_false() -> None:
    hashed = hash_secret("482915")
    assert verify_secret(hashed, "482916") is False
    assert verify_secret(hashed, "") is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=1,t=1,p=1$xx$yy",
        "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ],
)
def test_malformed_hash_is_false_and_needs_rehash(bad: str) -> None:
    assert verify_secret(bad, "482915") is False
    assert needs_rehash(bad)


def test_weaker_parameters_need_rehash() -> None:
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert verify_secret(old, "pw")
    assert needs_rehash(old)


def test_hash_refuses_empty_and_huge() -> None:
    with pytest.raises(InvalidInput):
        hash_secret("")
    with pytest.raises(InvalidInput):
        hash_secret("x" * 1025)


def test_hash_cost_is_bounded() -> None:
    hashed = hash_secret("timing")
    start = time.perf_counter()
    verify_secret(hashed, "timing")
    assert time.perf_counter() - start < 0.5  # ~20 ms expected; generous for busy CI


# -- lockout ---------------------------------------------------------------------------------


def test_defaults_come_from_routing_policy() -> None:
    routing = RoutingPolicy()
    assert AGENT_LOCKOUT == LockoutPolicy(3, 15 * 60, backoff_s=30)
    assert PIN_LOCKOUT == LockoutPolicy(5, 30 * 60)
    custom = RoutingPolicy(pin_failures=4, pin_lock_minutes=10)
    assert LockoutPolicy.for_pins(custom) == LockoutPolicy(4, 600)
    assert LockoutPolicy.for_agents(routing) == AGENT_LOCKOUT
    short = RoutingPolicy(agent_backoff_s=2, agent_lock_minutes=5)
    assert LockoutPolicy.for_agents(short) == LockoutPolicy(3, 300, backoff_s=2)
    longer = RoutingPolicy(agent_backoff_s=600, agent_lock_minutes=5)  # never past the lock
    assert LockoutPolicy.for_agents(longer) == LockoutPolicy(3, 300, backoff_s=300)


def test_lockout_after_max_failures_with_until_time() -> None:
    failures, until = 0, 0
    for i in range(4):
        check_locked(failures, until, NOON_MS)
        failures, until = after_failure(failures, NOON_MS + i, PIN_LOCKOUT)
        assert until == 0
    failures, until = after_failure(failures, NOON_MS, PIN_LOCKOUT)
    assert (failures, until) == (5, NOON_MS + 30 * 60_000)
    with pytest.raises(Locked) as err:
        check_locked(failures, until, NOON_MS + 1_000)
    assert err.value.details["until_ms"] == until
    assert err.value.message == "locked until 12:30:00 UTC after 5 failed attempts"


def test_agent_lockout_three_failures() -> None:
    state = (0, 0)
    for _ in range(3):
        state = after_failure(state[0], NOON_MS, AGENT_LOCKOUT)
    assert state == (3, NOON_MS + 15 * 60_000)
    with pytest.raises(Locked, match="locked until 12:15:00 UTC after 3 failed attempts"):
        check_locked(*state, NOON_MS)


def test_unlock_after_time_passes() -> None:
    failures, until = 5, NOON_MS + 30 * 60_000
    check_locked(failures, until, until)  # the lock ends at until_ms
    check_locked(failures, until, until + 1)
    # after expiry a failure starts a fresh count when the old lock is passed in
    assert after_failure(failures, until + 1, PIN_LOCKOUT, locked_until_ms=until) == (1, 0)
    # without it, every further failure locks again at once
    assert after_failure(failures, until + 1, PIN_LOCKOUT) == (6, until + 1 + 30 * 60_000)


def test_success_clears() -> None:
    assert after_success() == (0, 0)
    check_locked(*after_success(), NOON_MS)


def test_policy_validation() -> None:
    with pytest.raises(InvalidInput):
        LockoutPolicy(0, 60)
    with pytest.raises(InvalidInput):
        LockoutPolicy(3, -1)


# -- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["482915", "000000", "123456"])
def test_valid_pin_format(pin: str) -> None:
    assert validate_pin(pin) == pin


@pytest.mark.parametrize("pin", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", " 12345", "12345#"])
def test_invalid_pin_format(pin: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_pin(pin)
    assert err.value.field == "pin"
    assert pin not in err.value.message or not pin


@pytest.mark.parametrize(
    "pin", ["000000", "777777", "123456", "654321", "890123", "121212", "123123", "098765"]
)
def test_weak_pins(pin: str) -> None:
    assert is_weak_pin(pin)
    with pytest.raises(InvalidInput) as err:
        validate_new_pin(pin)
    assert err.value.field == "pin" and err.value.details["reason"] == "weak"


@pytest.mark.parametrize("pin", ["482915", "739164", "112358", "100000"])
def test_strong_pins(pin: str) -> None:
    assert not is_weak_pin(pin)
    assert validate_new_pin(pin) == pin


def test_password_policy() -> None:
    assert validate_password("long enough") == "long enough"
    for bad in ["short", " " * 12, "x" * 1025]:
        with pytest.raises(InvalidInput) as err:
            validate_password(bad)
        assert err.value.field == "password"
