"""Failure counters of secrets (agent passwords, customer PINs) kept atomic in the store.

An attempt is charged before the secret is checked: the counter moves from the value
read to the next one with a compare-and-set (``SiteStore.swap_failures``), read again
and retried when another attempt moved it first. So concurrent guesses cannot all count
from one stale value, and at most ``max_failures`` of them reach the hash check before
the lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vcc_site.domain.secrets import LockoutPolicy, charge_attempt
from vcc_site.store.api import SiteStore

SWAP_TRIES = 16  # each lost race means another attempt counted; give up after this many


@dataclass(frozen=True, slots=True)
class Charge:
    """The outcome of charging one attempt: refused while locked (nothing counted)."""

    locked: bool
    failures: int
    locked_until_ms: int


Reader = Callable[[], Awaitable[tuple[int, int] | None]]


async def charge(
    store: SiteStore, kind: str, key: str, read: Reader, now_ms: int, policy: LockoutPolicy
) -> Charge | None:
    """Charge one attempt at ``key``; None when the row is gone."""
    for _ in range(SWAP_TRIES):
        current = await read()
        if current is None:
            return None
        new = charge_attempt(current[0], current[1], now_ms, policy)
        if new is None:
            return Charge(True, current[0], current[1])
        if await store.swap_failures(kind, key, current, new):
            return Charge(False, new[0], new[1])
    # contended this hard: count it as refused rather than check the secret uncounted
    return Charge(True, policy.max_failures, now_ms + policy.lock_s * 1000)


async def clear(store: SiteStore, kind: str, key: str, read: Reader) -> None:
    """Reset the counter after a right secret (best effort against a racing charge)."""
    for _ in range(SWAP_TRIES):
        current = await read()
        if current is None or current == (0, 0):
            return
        if await store.swap_failures(kind, key, current, (0, 0)):
            return
