"""One-time codes that let a customer set or reset a PIN (pure: the clock is passed in).

A caller number alone can be spoofed, so a PIN is set (none yet) or reset (forgotten) only
with a code sent to the customer's registered phone through the notifier. A code is six
random digits; only its keyed HMAC (a key random per process) is kept, with its expiry
(:data:`TTL_MS`) and the number of attempts: it is used at most once, a wrong code counts,
and after :data:`MAX_ATTEMPTS` wrong ones the code is void. At most :data:`MAX_SENT` codes
are sent to one customer in :data:`SEND_WINDOW_MS`, so the notifier cannot be used to
flood a phone. The codes live in the site's memory: a restart voids them (a new call
asks for a new one), like the calls in progress.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

CODE_DIGITS = 6
TTL_MS = 5 * 60_000
MAX_ATTEMPTS = 3
MAX_SENT = 3
SEND_WINDOW_MS = 30 * 60_000
MAX_CUSTOMERS = 100_000  # codes held at once; the oldest are voided beyond


@dataclass(slots=True)
class _Pending:
    digest: bytes
    expires_at_ms: int
    attempts: int = 0


@dataclass(slots=True)
class PinCodes:
    """Codes per customer: :meth:`issue` one, :meth:`redeem` it once."""

    ttl_ms: int = TTL_MS
    max_attempts: int = MAX_ATTEMPTS
    max_sent: int = MAX_SENT
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _pending: dict[str, _Pending] = field(default_factory=dict, repr=False)
    _sent: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def _digest(self, customer_id: str, code: str) -> bytes:
        return hmac.new(self.key, f"{customer_id}\0{code}".encode(), hashlib.sha256).digest()

    def may_send(self, customer_id: str, now_ms: int) -> bool:
        """False when this customer was sent :data:`MAX_SENT` codes in the window."""
        recent = [t for t in self._sent.get(customer_id, []) if t > now_ms - SEND_WINDOW_MS]
        self._sent[customer_id] = recent
        return len(recent) < self.max_sent

    def issue(self, customer_id: str, now_ms: int) -> str:
        """A new code for ``customer_id`` (voiding the previous one), to send to them."""
        if len(self._pending) >= MAX_CUSTOMERS:
            self._pending.pop(next(iter(self._pending)))
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        self._pending[customer_id] = _Pending(self._digest(customer_id, code), now_ms + self.ttl_ms)
        self._sent.setdefault(customer_id, []).append(now_ms)
        return code

    def redeem(self, customer_id: str, code: str, now_ms: int) -> bool:
        """True once for the right code before it expires; each attempt counts."""
        found = self._pending.get(customer_id)
        if found is None:
            return False
        if now_ms >= found.expires_at_ms:
            del self._pending[customer_id]
            return False
        found.attempts += 1
        if hmac.compare_digest(found.digest, self._digest(customer_id, code)):
            del self._pending[customer_id]  # single use
            return True
        if found.attempts >= self.max_attempts:
            del self._pending[customer_id]
        return False

    def attempts(self, customer_id: str) -> int:
        """Wrong attempts at the customer's pending code (0 when none is pending)."""
        found = self._pending.get(customer_id)
        return found.attempts if found is not None else 0
