"""The simulated caller's keypad rating after the agent hangs up.

When the business asks its callers for a rating, a share of callers (``rating_share``)
key one through the access edge a moment after the agent hung up: mostly satisfied
(5: 45 %, 4: 30 %, 3: 15 %, 2: 6 %, 1: 4 %), a few key an invalid digit first and are
reprompted; the others let the prompt time out (no rating).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc.aio

from vcc_domain.errors import VccError

if TYPE_CHECKING:
    from vcc_ops.traffic.bots import Shared

KEYS = ("5", "4", "3", "2", "1")
WEIGHTS = (45, 30, 15, 6, 4)
INVALID_FIRST = 0.03


def asks_for_rating(shared: Shared, business_id: str) -> bool:
    try:
        return shared.province.business(business_id).satisfaction_survey
    except VccError:
        return False


async def caller_rates(shared: Shared, call_id: str) -> None:
    """Key a rating (or let it time out) through the edge; counted in ``counters``."""
    rng = shared.rng
    if rng.random() >= shared.config.rating_share:
        keys = [""]  # no key in time: no rating
    else:
        keys = [rng.choices(KEYS, WEIGHTS)[0]]
        if rng.random() < INVALID_FIRST:
            keys.insert(0, "9")
    try:
        for key in keys:
            await shared.edge.send_digits(call_id, key)
    except (grpc.aio.AioRpcError, VccError):
        shared.counters["rating_refused"] += 1  # expired or the site went away
        return
    shared.counters["rated" if keys[-1] else "not_rated"] += 1
