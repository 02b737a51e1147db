"""How long the party asking may still wait for this answer (its RPC deadline).

The access edge gives a site a deadline for each caller step (``OfferCall``,
``SendDigits``); work the step waits on (asking another site to take the call) must end
before it, or the edge gives up on a call the site still has. The gRPC adapter sets the
deadline with :func:`answer_within`; the service reads what is left with
:func:`time_left` (None: no deadline, the work's own timeouts apply).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Kept free of the caller's deadline for the reply to travel back and the step's own
# work after the wait (a commit): the larger of this and a quarter of the time given.
REPLY_MARGIN_S = 0.5
REPLY_MARGIN_SHARE = 0.25

_answer_by: ContextVar[float | None] = ContextVar("answer_by", default=None)


@contextmanager
def answer_within(seconds: float | None) -> Iterator[None]:
    """Inside the block, work must be done ``seconds`` from now, less the reply margin
    (None: no deadline)."""
    if seconds is None:
        yield
        return
    margin = max(REPLY_MARGIN_S, REPLY_MARGIN_SHARE * seconds)
    token = _answer_by.set(time.monotonic() + max(0.0, seconds - margin))
    try:
        yield
    finally:
        _answer_by.reset(token)


def time_left() -> float | None:
    """Seconds left before the answer is due (never negative), or None."""
    due = _answer_by.get()
    return None if due is None else max(0.0, due - time.monotonic())


def bounded(timeout_s: float) -> float:
    """``timeout_s``, shortened to the time left when there is a deadline."""
    left = time_left()
    return timeout_s if left is None else min(timeout_s, left)
