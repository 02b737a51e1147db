"""Keypad digits from SIP INFO bodies, gathered the way the IVR's collect step asks.

``application/dtmf-relay`` (``Signal=5`` and ``Duration=160`` lines) and
``application/dtmf`` (the bare key) are accepted; anything else is no digit. Pure: no
I/O, no SIP library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEYS = frozenset("0123456789*#")


def digit_of(content_type: str, body: str) -> str | None:
    """The key an INFO carries, or None."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dtmf-relay":
        for line in body.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                key = value.strip()
                return key if key in KEYS else None
        return None
    if kind == "application/dtmf":
        key = body.strip()
        return key if key in KEYS else None
    return None


@dataclass
class Collector:
    """Keys gathered for one collect step: complete at ``max_digits`` or the terminator
    (which is not part of the digits)."""

    max_digits: int = 1
    terminator: str = ""
    keys: list[str] = field(default_factory=list)
    done: bool = False

    def add(self, key: str) -> bool:
        """Take a key; True once the step's input is complete."""
        if self.done:
            return True
        if self.terminator and key == self.terminator:
            self.done = True
        else:
            self.keys.append(key)
            self.done = len(self.keys) >= max(1, self.max_digits)
        return self.done

    @property
    def digits(self) -> str:
        return "".join(self.keys)
