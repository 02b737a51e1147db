"""Globally unique, stable identifiers.

IDs are ULIDs (time-ordered, 128-bit, Crockford base32) with a short type prefix, e.g.
``call_01JD...``. They are minted wherever the fact is born (a site for a call, the hub
for a directory change) and never change when the fact travels to another site.
"""

from __future__ import annotations

import os
import random
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PREFIXES = frozenset({"call", "leg", "evt", "cdr", "wo", "sess", "chg", "req", "rec"})


# 80 random bits per ID from a generator seeded by the OS (reseeded in a forked child so
# two processes never share a stream); cheaper than a system call per ID. IDs are not
# secrets: uniqueness, not unpredictability, is what they need.
_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


# every 10-bit value as its two base32 characters: a ULID is 13 lookups (IDs are minted
# several times per call on the hot path)
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


# 26 characters: the 48-bit time as 5 pairs (its top 2 bits always 0), then the 80
# random bits as 8 pairs
_TIME_SHIFTS = range(40, -1, -10)
_RANDOM_SHIFTS = range(70, -1, -10)
# the last time's 10 characters, as (ms, text) in one binding: many IDs share a
# millisecond, and one assignment cannot be seen half done by another thread
_stamp: tuple[int, str] = (-1, "")


def _encode(value: int, shifts: range) -> str:
    """``value`` as Crockford base32 character pairs, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in shifts])


def new_ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits."""
    global _stamp
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    stamp = _stamp
    if stamp[0] != ms:
        if not 0 <= ms < 2**48:
            raise ValueError(f"timestamp out of range for a ULID: {ms}")
        stamp = _stamp = (ms, _encode(ms, _TIME_SHIFTS))
    return stamp[1] + _encode(_rng.getrandbits(80), _RANDOM_SHIFTS)


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A prefixed global ID such as ``call_01JD5...``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of {sorted(PREFIXES)}")
    return f"{prefix}_{new_ulid(now_ms)}"


def id_prefix(value: str) -> str:
    """The type prefix of a global ID; raises ValueError on a malformed ID."""
    prefix, sep, body = value.partition("_")
    if (
        not sep
        or prefix not in PREFIXES
        or len(body) != 26
        or any(c not in _CROCKFORD for c in body)
    ):
        raise ValueError(f"malformed id: {value[:64]!r}")
    return prefix
