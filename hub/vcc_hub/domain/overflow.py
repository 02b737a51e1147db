"""Overflow advice from the queue figures sites report (pure: ``Routing.AdviseOverflow``
and ``ReportQueueFigures`` are its gRPC face in ``vcc_hub.adapters.grpc_routing``).

Sites report per-business figures every second (``ReportQueueFigures``). A site whose
waiting call's expected wait exceeds the business's threshold asks for advice with that
call's expected wait (``local_ewt_ms``). Among the OTHER sites that accept the business:

* only figures younger than ``FRESH_S`` count (a site that stopped reporting is out);
* a site that lost a race (refused or timed out an overflow of this business, as seen by
  the broker) is not advised again for the policy's ``overflow_suppression_s``;
* a site's expected wait is its reported ``ewt_ms`` corrected for the calls advised to it
  since that report (they take its ready agents first, then queue: each adds
  ``aht / staffed agents``), so a burst of questions between two reports does not send
  every call to the same few agents;
* candidates are ranked by ``score = ewt + transfer_cost + KM_COST_MS x distance_km``
  (the per-km term prefers nearer sites: 100 km weighs like 2 s of wait; ties by site id);
* the best is advised only if ``ewt + transfer_cost + overflow_margin <= local_ewt``: it
  must beat the asking site's wait by the margin after the cost of moving the call.

The answer's ``predicted_ewt_ms`` is the advised site's expected wait plus the transfer
cost. Everything is in memory: a restarted hub advises again after one report round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.province import Province

log = logging.getLogger(__name__)

FRESH_S = 5.0
KM_COST_MS = 20.0  # score per km of distance from the asking site (nearer first)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One site's queue figures for one business, as it reported them."""

    site_id: str
    business_id: str
    waiting: int = 0
    longest_wait_ms: int = 0
    ewt_ms: int = 0
    agents_ready: int = 0
    agents_busy: int = 0
    agents_not_ready: int = 0
    agents_wrap_up: int = 0
    aht_ms: int = 0
    as_of_ms: int = 0


@dataclass(frozen=True, slots=True)
class Advice:
    """Where to move a waiting call (``advised_site_id`` empty: stay), and why."""

    advised_site_id: str = ""
    predicted_ewt_ms: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BoardRow:
    figures: QueueFigures
    age_ms: int


@dataclass(frozen=True, slots=True)
class Board:
    rows: list[BoardRow]
    stale_site_ids: list[str]


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """What the broker tells the advisor of every transfer it brokered."""

    call_id: str
    business_id: str
    overflow: bool  # the leg was an overflow (only those can suppress a site)
    accepted: bool
    reason: str = ""


@dataclass
class _Held:
    figures: QueueFigures
    at: float  # monotonic time of the report
    advised: int = 0  # calls advised to this site and business since the report


class OverflowAdvisor:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._figures: dict[tuple[str, str], _Held] = {}
        self._lost: dict[tuple[str, str], float] = {}  # (site, business) -> when it lost

    def report(self, province: Province, site_id: str, figures: list[QueueFigures]) -> None:
        province.site(site_id)  # NotFound for an unknown site
        for f in figures:  # validated as a whole before anything is kept
            if not f.business_id:
                raise InvalidInput("each figure needs a business", field="figures.business_id")
        now = self._clock()
        for f in figures:
            kept = f if f.site_id == site_id else replace(f, site_id=site_id)
            self._figures[(site_id, f.business_id)] = _Held(kept, now)

    def board(self, province: Province, site_ids: list[str]) -> Board:
        """The latest figures of the asked sites (all if none) with their age."""
        for site in site_ids:
            province.site(site)  # NotFound for an unknown site
        wanted = site_ids or [s.id for s in province.sites]
        now = self._clock()
        rows: list[BoardRow] = []
        fresh: set[str] = set()
        for (site, _business), held in sorted(self._figures.items()):
            if site not in wanted:
                continue
            age_s = max(0.0, now - held.at)
            if age_s <= FRESH_S:
                fresh.add(site)
            rows.append(BoardRow(held.figures, round(age_s * 1000)))
        return Board(rows, [s for s in wanted if s not in fresh])

    def transfer_outcome(self, outcome: TransferOutcome, site: str) -> None:
        """Told by the broker of every outcome: an overflow the target did not accept
        suppresses that target for the business (it lost the race)."""
        if not outcome.overflow or outcome.accepted:
            return
        self._lost[(site, outcome.business_id)] = self._clock()
        log.info(
            "overflow of call %s to %s not accepted (%s): %s suppressed for %s",
            outcome.call_id,
            site,
            outcome.reason,
            site,
            outcome.business_id,
        )

    def expected_wait_ms(self, held: _Held) -> float:
        """The site's expected wait for one more call, counting calls advised to it since
        its report (the ACD's method: (calls ahead + 1) x AHT / staffed agents)."""
        f, pending = held.figures, held.advised
        staffed = max(1, f.agents_ready + f.agents_busy + f.agents_wrap_up)
        if f.agents_ready == 0:
            return f.ewt_ms + pending * f.aht_ms / staffed
        if pending < f.agents_ready:
            return 0.0
        return (pending - f.agents_ready + 1) * f.aht_ms / staffed

    def advise(
        self, province: Province, site_id: str, business_id: str, local_ewt_ms: int
    ) -> Advice:
        """Advice for a call waiting at ``site_id`` with expected wait ``local_ewt_ms``."""
        province.site(site_id)
        try:
            business = province.business(business_id)
        except NotFound:
            raise NotFound(f"unknown business {business_id!r}", field="business_id") from None
        policy = province.routing
        cost_ms, margin_ms = policy.transfer_cost_s * 1000, policy.overflow_margin_s * 1000
        suppress_s = policy.overflow_suppression_s
        now = self._clock()
        best: tuple[float, str, float, _Held] | None = None
        suppressed: list[str] = []
        for site in business.accepting_sites:
            if site == site_id:
                continue
            held = self._figures.get((site, business.id))
            if held is None or now - held.at > FRESH_S:
                continue
            lost = self._lost.get((site, business.id))
            if lost is not None and now - lost < suppress_s:
                suppressed.append(site)
                continue
            predicted = self.expected_wait_ms(held) + cost_ms
            try:
                distance = province.distance_km(site_id, site)
            except NotFound:
                continue
            score = predicted + KM_COST_MS * distance
            if best is None or (score, site) < (best[0], best[1]):
                best = (score, site, predicted, held)
        if best is None:
            why = "no other site accepting the business has reported fresh queue figures"
            if suppressed:
                why += f" (suppressed after losing a race: {', '.join(suppressed)})"
            return Advice(reason=why)
        _, site, predicted, held = best
        if predicted + margin_ms > local_ewt_ms:
            return Advice(
                reason=f"no site beats the local wait by {margin_ms} ms "
                f"(best {site}: {predicted:.0f} ms after transfer cost)"
            )
        held.advised += 1
        return Advice(
            site,
            round(predicted),
            f"{site} expects {predicted:.0f} ms against {local_ewt_ms} ms here",
        )
