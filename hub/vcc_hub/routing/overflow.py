"""Overflow advice from the queue figures sites report (``Routing.AdviseOverflow``).

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
from dataclasses import dataclass

from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.province import Province
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h

log = logging.getLogger(__name__)

FRESH_S = 5.0
KM_COST_MS = 20.0  # score per km of distance from the asking site (nearer first)


@dataclass
class _Held:
    figures: c.QueueFigures
    at: float  # monotonic time of the report
    advised: int = 0  # calls advised to this site and business since the report


class OverflowAdvisor:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._figures: dict[tuple[str, str], _Held] = {}
        self._lost: dict[tuple[str, str], float] = {}  # (site, business) -> when it lost

    def report(self, province: Province, site_id: str, figures: list[c.QueueFigures]) -> None:
        province.site(site_id)  # NotFound for an unknown site
        now = self._clock()
        for f in figures:
            if not f.business_id:
                raise InvalidInput("each figure needs a business", field="figures.business_id")
            kept = c.QueueFigures()
            kept.CopyFrom(f)
            kept.site_id = site_id
            self._figures[(site_id, f.business_id)] = _Held(kept, now)

    def board(self, province: Province, site_ids: list[str]) -> h.Board:
        """The latest figures of the asked sites (all if none) with their age."""
        for site in site_ids:
            province.site(site)  # NotFound for an unknown site
        wanted = site_ids or [s.id for s in province.sites]
        now = self._clock()
        board = h.Board()
        fresh: set[str] = set()
        for (site, _business), held in sorted(self._figures.items()):
            if site not in wanted:
                continue
            age_s = max(0.0, now - held.at)
            if age_s <= FRESH_S:
                fresh.add(site)
            board.rows.append(h.BoardRow(figures=held.figures, age_ms=round(age_s * 1000)))
        board.stale_site_ids.extend(s for s in wanted if s not in fresh)
        return board

    def transfer_outcome(self, ctx: c.CallContext, site: str, result: c.TransferResult) -> None:
        """Told by the broker of every outcome: an overflow the target did not accept
        suppresses that target for the business (it lost the race)."""
        if ctx.leg_kind != c.LEG_KIND_OVERFLOW:
            return
        if result.outcome != c.TransferResult.OUTCOME_ACCEPTED:
            self._lost[(site, ctx.business_id)] = self._clock()
            log.info("overflow of call %s to %s not accepted (%s): %s suppressed for %s",
                     ctx.call_id, site, result.reason, site, ctx.business_id)

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

    def advise(self, province: Province, req: h.AdviseOverflowRequest) -> h.OverflowAdvice:
        province.site(req.site_id)
        try:
            business = province.business(req.business_id)
        except NotFound:
            raise NotFound(f"unknown business {req.business_id!r}", field="business_id") from None
        policy = province.routing
        cost_ms, margin_ms = policy.transfer_cost_s * 1000, policy.overflow_margin_s * 1000
        suppress_s = policy.overflow_suppression_s
        now = self._clock()
        best: tuple[float, str, float, _Held] | None = None
        suppressed: list[str] = []
        for site in business.accepting_sites:
            if site == req.site_id:
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
                distance = province.distance_km(req.site_id, site)
            except NotFound:
                continue
            score = predicted + KM_COST_MS * distance
            if best is None or (score, site) < (best[0], best[1]):
                best = (score, site, predicted, held)
        if best is None:
            why = "no other site accepting the business has reported fresh queue figures"
            if suppressed:
                why += f" (suppressed after losing a race: {', '.join(suppressed)})"
            return h.OverflowAdvice(reason=why)
        _, site, predicted, held = best
        if predicted + margin_ms > req.local_ewt_ms:
            return h.OverflowAdvice(reason=f"no site beats the local wait by {margin_ms} ms "
                                           f"(best {site}: {predicted:.0f} ms after transfer cost)")
        held.advised += 1
        return h.OverflowAdvice(advised_site_id=site, predicted_ewt_ms=round(predicted),
                                reason=f"{site} expects {predicted:.0f} ms against "
                                       f"{req.local_ewt_ms} ms here")
