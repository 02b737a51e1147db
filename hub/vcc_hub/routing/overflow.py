"""Overflow advice from the queue figures sites report (``Routing.AdviseOverflow``).

A deliberately simple first answer: among the other sites that accept the business and
reported figures in the last ``FRESH_S`` seconds, take the one with the lowest expected
wait plus the policy's transfer cost (nearer first on a tie); advise it only if that
beats the asking site's wait by the policy's margin. Not yet: the suppression time after
a site lost, and accuracy tracking of predicted against actual waits.
"""

from __future__ import annotations

import time

from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.province import Province
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h

FRESH_S = 5.0


class OverflowAdvisor:
    def __init__(self) -> None:
        self._figures: dict[tuple[str, str], tuple[c.QueueFigures, float]] = {}

    def report(self, province: Province, site_id: str, figures: list[c.QueueFigures]) -> None:
        province.site(site_id)  # NotFound for an unknown site
        now = time.monotonic()
        for f in figures:
            if not f.business_id:
                raise InvalidInput("each figure needs a business", field="figures.business_id")
            kept = c.QueueFigures()
            kept.CopyFrom(f)
            kept.site_id = site_id
            self._figures[(site_id, f.business_id)] = (kept, now)

    def advise(self, province: Province, req: h.AdviseOverflowRequest) -> h.OverflowAdvice:
        province.site(req.site_id)
        try:
            business = province.business(req.business_id)
        except NotFound:
            raise NotFound(f"unknown business {req.business_id!r}", field="business_id") from None
        policy = province.routing
        cost_ms, margin_ms = policy.transfer_cost_s * 1000, policy.overflow_margin_s * 1000
        now = time.monotonic()
        best: tuple[int, float, str] | None = None
        for site in business.accepting_sites:
            if site == req.site_id:
                continue
            held = self._figures.get((site, business.id))
            if held is None or now - held[1] > FRESH_S:
                continue
            predicted = held[0].ewt_ms + cost_ms
            try:
                distance = province.distance_km(req.site_id, site)
            except NotFound:
                distance = float("inf")
            candidate = (predicted, distance, site)
            if best is None or candidate < best:
                best = candidate
        if best is None:
            return h.OverflowAdvice(reason="no other site accepting the business has "
                                           "reported fresh queue figures")
        predicted, _, site = best
        if predicted + margin_ms >= req.local_ewt_ms:
            return h.OverflowAdvice(reason=f"no site beats the local wait by {margin_ms} ms "
                                           f"(best {site}: {predicted} ms after transfer cost)")
        return h.OverflowAdvice(advised_site_id=site, predicted_ewt_ms=predicted,
                                reason=f"{site} expects {predicted} ms against "
                                       f"{req.local_ewt_ms} ms here")
