"""Overflow by expected wait, at the site that holds the waiting calls (ARCHITECTURE §3.2).

Every ``interval_s`` (0.5 s) :meth:`OverflowMonitor.tick` looks at the calls waiting
here, business by business, in the order the ACD would serve them (class, then original
arrival). A call qualifies when its expected wait (``Acd.expected_wait``: calls ahead + 1
x AHT / staffed agents) exceeds the business's ``overflow_after_s``, unless it is being
moved already, was transferred by an agent (it waits at the transferred priority; not
moved by overflow), is a consult leg, came here by overflow less than the policy's
``overflow_suppression_s`` ago, or failed to move less than ``RETRY_S`` ago. For each
qualifying call (at most ``max_asks`` per business and tick) the hub is asked
(``Routing.AdviseOverflow``); if it advises a site, the call moves there. The call with
the longest expected wait is asked about first: when even it should stay, so should the
rest, and the business is not asked about again for ``STAY_PAUSE_S`` (an overloaded
province would otherwise ask about every waiting call twice a second):

1. under the call's lock (a hang-up waits for the outcome), the call leaves the ACD so no
   agent here is offered it meanwhile (nothing is written: it is still queued on disk);
2. ``Routing.BrokerTransfer`` with leg kind OVERFLOW, the caller's OWN priority class and
   the ORIGINAL arrival time: the target ranks it among its callers by that arrival;
3. ACCEPTED: the call ends here as overflowed (CDR outcome ``overflowed_out``,
   ``overflowed`` set); anything else (refused, timeout, hub unreachable): it re-enters
   the ACD in its class with its original arrival, i.e. at the same place in line.

These steps are :meth:`CallMoves.overflow <vcc_site.service.moves.CallMoves.overflow>`;
the monitor only chooses which calls to move, and when.

Moves run one at a time, so calls of a business leave in the order they are served.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vcc_domain.errors import Conflict, NotFound
from vcc_site.domain.call import CallState
from vcc_site.domain.queue import Priority
from vcc_site.service.core import SiteCore
from vcc_site.service.live import LiveCall
from vcc_site.service.moves import CallMoves

log = logging.getLogger(__name__)

RETRY_S = 2.0  # a call that failed to move is not tried again for this long
STAY_PAUSE_S = 1.0  # wall seconds without asking about a business the hub said to keep


@dataclass(frozen=True, slots=True)
class Advice:
    site_id: str  # "" = stay
    predicted_ewt_ms: int = 0
    reason: str = ""


Advise = Callable[[str, int, int, str], Awaitable[Advice]]
"""(business id, local expected wait ms, calls waiting, call id) -> the hub's advice."""


@dataclass
class OverflowStats:
    asked: int = 0
    advised: int = 0
    moved: int = 0
    failed: int = 0


class OverflowMonitor:
    def __init__(
        self,
        core: SiteCore,
        advise: Advise,
        moves: CallMoves,
        *,
        enabled: bool = True,
        max_asks: int = 10,
    ) -> None:
        self.core = core
        self.advise = advise
        self.moves = moves  # moves a call, under its lock
        self.enabled = enabled
        self.max_asks = max_asks
        self.stats = OverflowStats()
        self._failed_at: dict[str, int] = {}  # call id -> ms of its last failed move
        self._quiet_until: dict[str, float] = {}  # business -> clock.monotonic() to ask again

    def candidates(self) -> dict[str, list[tuple[LiveCall, float]]]:
        """Waiting calls that may overflow, with their expected wait (s), per business,
        in the order the ACD serves them."""
        core = self.core
        now = core.now_ms()
        suppress_ms = core.policy.overflow_suppression_s * 1000
        out: dict[str, list[tuple[LiveCall, float]]] = {}
        for call in list(core.calls.values()):
            if call.life.state is not CallState.QUEUED or call.transferring or call.transferred:
                continue
            if call.consult_for:  # a consult leg: the call is owned elsewhere
                continue
            if call.overflowed and now - call.queued_at_ms < suppress_ms:
                continue
            failed = self._failed_at.get(call.call_id)
            if failed is not None and now - failed < RETRY_S * 1000:
                continue
            try:
                business = core.business(call.business_id)
                ewt = core.acd.expected_wait(call.acd_key)
            except (NotFound, Conflict):
                continue
            if ewt > business.overflow_after_s:
                out.setdefault(business.id, []).append((call, ewt))
        for calls in out.values():
            calls.sort(key=lambda ce: (_klass(ce[0]), ce[0].arrival_at_ms))
        return out

    async def tick(self) -> None:
        if not self.enabled:
            return
        self._failed_at = {k: v for k, v in self._failed_at.items() if k in self.core.calls}
        now = self.core.clock.monotonic()
        for business_id, calls in self.candidates().items():
            waiting = len(calls)
            if self._quiet_until.get(business_id, 0.0) > now:
                continue
            # probe with the longest expected wait first: if even that call should stay
            # (no site beats it), every other one should too; ask again after a pause
            # instead of asking about every waiting call twice a second
            longest, longest_ewt = max(calls, key=lambda ce: ce[1])
            self.stats.asked += 1
            probe = await self.advise(
                business_id, round(longest_ewt * 1000), waiting, longest.call_id
            )
            if not probe.site_id:
                self._quiet_until[business_id] = now + STAY_PAUSE_S * self._speed()
                continue
            for call, ewt in calls[: self.max_asks]:
                if (
                    self.core.calls.get(call.call_id) is not call
                    or call.life.state is not CallState.QUEUED
                ):
                    continue
                self.stats.asked += 1
                advice = await self.advise(business_id, round(ewt * 1000), waiting, call.call_id)
                if not advice.site_id:
                    continue
                self.stats.advised += 1
                await self.move(call, advice)

    def _speed(self) -> float:
        """Clock seconds per wall second (a compressed demo clock runs faster)."""
        speed = getattr(self.core.clock, "speed", 1.0)
        return float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0

    async def move(self, call: LiveCall, advice: Advice) -> bool:
        """Move one waiting call to the advised site; True if it left."""
        answer = await self.moves.overflow(call, advice.site_id, advice.reason)
        if answer is None:
            return False
        if answer.accepted:
            self.stats.moved += 1
        else:
            self._failed_at[call.call_id] = self.core.now_ms()
            self.stats.failed += 1
        return answer.accepted


def _klass(call: LiveCall) -> int:
    try:
        return int(Priority[call.priority.upper()])
    except KeyError:
        return int(Priority.ORDINARY)
