"""Password and PIN policy of sites and the hub: argon2id hashing, lockout after
repeated failures, PIN format.

Pure except for argon2 (a CPU-only library). Lockout functions take explicit times in
integer milliseconds since the Unix epoch and return new values; the caller persists them.

Hash parameters: argon2id, time_cost=3, memory_cost=12288 KiB, parallelism=1 -- one of
the OWASP minimum configurations (equivalent to m=19 MiB, t=2). On the reference 2-core
machine one hash or verify costs about 19 ms (m=19456/t=2 measured ~21 ms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error, InvalidHashError

from vcc_domain.errors import InvalidInput, Locked
from vcc_domain.province import RoutingPolicy

__all__ = [
    "AGENT_BACKOFF_S",
    "AGENT_LOCKOUT",
    "GENERATED_MIN_CHARS",
    "MAX_SECRET_CHARS",
    "MEMORY_COST_KIB",
    "PARALLELISM",
    "PASSWORD_MIN_CHARS",
    "PIN_LENGTH",
    "PIN_LOCKOUT",
    "TIME_COST",
    "LockoutPolicy",
    "after_failure",
    "after_success",
    "charge_attempt",
    "check_locked",
    "hash_generated_secret",
    "hash_secret",
    "is_weak_pin",
    "lock_ms",
    "needs_rehash",
    "validate_new_pin",
    "validate_password",
    "validate_pin",
    "verify_secret",
]

TIME_COST = 3
MEMORY_COST_KIB = 12288
PARALLELISM = 1
MAX_SECRET_CHARS = 1024  # refuse to hash absurdly long input (a cheap CPU/DoS guard)
PASSWORD_MIN_CHARS = 8
PIN_LENGTH = 6

_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
# Generated secrets (random, at least 72 bits) cannot be guessed whatever the hash costs,
# so they are hashed at argon2's minimum cost: a province's initial secrets are made in
# milliseconds, not minutes. A person's own password always gets the full cost.
GENERATED_MIN_CHARS = 12
_GENERATED_HASHER = PasswordHasher(
    time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
_PIN = re.compile(r"[0-9]{6}", re.ASCII)
_ASCENDING = "0123456789"
_DESCENDING = "9876543210"


# -- hashing ------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    """An argon2id PHC string for ``secret`` (random salt: equal secrets, different hashes)."""
    if not isinstance(secret, str) or not secret:
        raise InvalidInput("a secret must be a non-empty string", field="secret")
    if len(secret) > MAX_SECRET_CHARS:
        raise InvalidInput(f"a secret has at most {MAX_SECRET_CHARS} characters", field="secret")
    return _HASHER.hash(secret)


def hash_generated_secret(secret: str) -> str:
    """An argon2id PHC string for a *randomly generated* secret (an initial or one-time
    password), at minimum cost; :func:`verify_secret` checks it like any other."""
    if not isinstance(secret, str) or len(secret) < GENERATED_MIN_CHARS:
        raise InvalidInput(
            f"a generated secret has at least {GENERATED_MIN_CHARS} characters", field="secret"
        )
    if len(secret) > MAX_SECRET_CHARS:
        raise InvalidInput(f"a secret has at most {MAX_SECRET_CHARS} characters", field="secret")
    return _GENERATED_HASHER.hash(secret)


def verify_secret(hashed: str, secret: str) -> bool:
    """True when ``secret`` matches ``hashed``; False on a mismatch or a malformed hash.
    Never raises for bad input."""
    if not isinstance(hashed, str) or not isinstance(secret, str):
        return False
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return False
    try:
        return _HASHER.verify(hashed, secret)
    except (Argon2Error, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(hashed: str) -> bool:
    """True when ``hashed`` was made with other parameters (or is malformed) and should
    be replaced by :func:`hash_secret` at the next successful login."""
    try:
        return bool(_HASHER.check_needs_rehash(hashed))
    except (Argon2Error, InvalidHashError, ValueError, TypeError):
        return True


# -- lockout ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``max_failures`` consecutive failures lock the account for ``lock_s`` seconds."""

    max_failures: int
    lock_s: int
    #: 0: a hard lock of ``lock_s`` at the limit. Else the first lock lasts
    #: ``backoff_s`` and each further failure after it doubles it, up to ``lock_s``.
    backoff_s: int = 0

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise InvalidInput("max_failures must be at least 1", field="max_failures")
        if self.lock_s < 0:
            raise InvalidInput("lock_s must not be negative", field="lock_s")

    @classmethod
    def for_agents(cls, routing: RoutingPolicy) -> LockoutPolicy:
        """Agent logins: ``agent_login_failures`` failures lock for ``agent_backoff_s``
        (30 s), doubling with each further failure up to ``agent_lock_minutes``. A hard
        15-minute lock would let three anonymous requests take an agent off the phones
        for a quarter of an hour; the back-off costs a guesser as much per guess while a
        mistyping agent waits half a minute."""
        return cls(
            routing.agent_login_failures,
            routing.agent_lock_minutes * 60,
            min(routing.agent_backoff_s, routing.agent_lock_minutes * 60),
        )

    @classmethod
    def for_pins(cls, routing: RoutingPolicy) -> LockoutPolicy:
        """Account PINs: ``pin_failures`` failures lock ``pin_lock_minutes``."""
        return cls(routing.pin_failures, routing.pin_lock_minutes * 60)


AGENT_BACKOFF_S = RoutingPolicy().agent_backoff_s  # the default first lock of an agent ID

#: Defaults from :class:`RoutingPolicy` (DOMAIN.md): agents 3 failures / 15 minutes,
#: PINs 5 failures / 30 minutes.
AGENT_LOCKOUT = LockoutPolicy.for_agents(RoutingPolicy())
PIN_LOCKOUT = LockoutPolicy.for_pins(RoutingPolicy())


def check_locked(failures: int, locked_until_ms: int, now_ms: int) -> None:
    """Raise :class:`Locked` (details ``until_ms``, ``failures``) while a lock is in force."""
    if locked_until_ms > now_ms:
        until = datetime.fromtimestamp(locked_until_ms / 1000, tz=UTC).strftime("%H:%M:%S")
        raise Locked(
            f"locked until {until} UTC after {failures} failed attempts",
            until_ms=locked_until_ms,
            failures=failures,
        )


def after_failure(
    failures: int, now_ms: int, policy: LockoutPolicy, *, locked_until_ms: int = 0
) -> tuple[int, int]:
    """New ``(failures, locked_until_ms)`` after one more failed attempt.

    Reaching ``policy.max_failures`` locks until ``now_ms + lock_s``. Pass the current
    ``locked_until_ms``: when an earlier lock has expired the count starts again (a fresh
    set of tries); without it, each further failure past the limit locks again at once.
    A result ``locked_until_ms`` of 0 means not locked.
    """
    if 0 < locked_until_ms <= now_ms:
        failures = 0
    failures = max(failures, 0) + 1
    if failures >= policy.max_failures:
        return failures, now_ms + policy.lock_s * 1000
    return failures, 0


def lock_ms(failures: int, policy: LockoutPolicy) -> int:
    """How long ``failures`` consecutive failures lock (0 below the limit)."""
    if failures < policy.max_failures:
        return 0
    if not policy.backoff_s:
        return policy.lock_s * 1000
    doublings = min(failures - policy.max_failures, 32)
    return min(policy.backoff_s << doublings, policy.lock_s) * 1000


def charge_attempt(
    failures: int, locked_until_ms: int, now_ms: int, policy: LockoutPolicy
) -> tuple[int, int] | None:
    """New ``(failures, locked_until_ms)`` charging one attempt *before* the secret is
    checked, or None while a lock is in force (refuse without checking).

    Charging first bounds concurrent guesses: of many attempts in flight at once, only
    ``max_failures`` get past the counter before the lock; a right secret then clears it
    (:func:`after_success`). A hard lock that has expired starts a fresh set of tries; a
    back-off policy keeps counting until a success, so each lock is longer.
    """
    if locked_until_ms > now_ms:
        return None
    if not policy.backoff_s and 0 < locked_until_ms <= now_ms:
        failures = 0
    failures = max(failures, 0) + 1
    span = lock_ms(failures, policy)
    return failures, (now_ms + span if span else 0)


def after_success() -> tuple[int, int]:
    """``(failures, locked_until_ms)`` after a successful attempt: both cleared."""
    return 0, 0


# -- formats ------------------------------------------------------------------------------


def validate_pin(pin: str) -> str:
    """The PIN when it is exactly 6 ASCII digits; else InvalidInput (field ``pin``).
    The PIN itself never appears in the message."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidInput(f"a PIN is exactly {PIN_LENGTH} digits 0-9", field="pin")
    return pin


def is_weak_pin(pin: str) -> bool:
    """Trivially guessable: one digit repeated (000000), a run up or down (123456,
    654321, 890123 wraps too), or a repeated pair/triple (121212, 123123)."""
    if len(set(pin)) == 1:
        return True
    if pin in _ASCENDING * 2 or pin in _DESCENDING * 2:
        return True
    return pin == pin[:2] * 3 or pin == pin[:3] * 2


def validate_new_pin(pin: str) -> str:
    """:func:`validate_pin` plus refusing weak PINs (InvalidInput, field ``pin``)."""
    validate_pin(pin)
    if is_weak_pin(pin):
        raise InvalidInput(
            "this PIN is too easy to guess; choose another", field="pin", reason="weak"
        )
    return pin


def validate_password(password: str) -> str:
    """An agent password: 8..1024 characters, not only whitespace."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_CHARS:
        raise InvalidInput(
            f"a password has at least {PASSWORD_MIN_CHARS} characters", field="password"
        )
    if len(password) > MAX_SECRET_CHARS or not password.strip():
        raise InvalidInput(
            "a password must be at most 1024 characters and not blank", field="password"
        )
    return password
