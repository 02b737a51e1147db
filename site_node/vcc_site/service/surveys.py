"""The caller's keypad rating after the agent hangs up (rules: :mod:`vcc_domain.satisfaction`).

When an agent hangs up a call of a business with ``satisfaction_survey``, the call ends
as always (its CDR is written at the hang-up, so the rating never changes talk time or
charges) and a rating is offered: the call's view carries the rating step (prompt and a
one-key collect), and the caller's key comes back through ``Access.SendDigits`` for the
ended call. A valid key (1–5) writes one rating row, its audit row and a ``rating.created``
event (the hub's copy feeds the service-quality index); an invalid key gets the
reprompt; no key in time (``""``), the caller hanging up, or the offer expiring means no
rating. Offers are kept in memory, bounded and expiring: a site restarting loses only
ratings not yet keyed.
"""

from __future__ import annotations

from collections import OrderedDict

from vcc_domain import satisfaction as sat
from vcc_domain.errors import Conflict
from vcc_domain.ids import new_id
from vcc_domain.rating import period_of
from vcc_proto.v1 import events_pb2 as pb
from vcc_site.domain import ivr as ivr_engine
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, Event, UnitOfWork
from vcc_site.store.qa_reads import quality_reads

OFFER_TTL_MS = 60_000  # province time for the caller to key a rating after the hang-up
MAX_OFFERS = 20_000
COLLECT = ivr_engine.Collect(max_digits=1, timeout_ms=8_000)


class Surveys:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.offers: OrderedDict[str, sat.Survey] = OrderedDict()
        self.reads = quality_reads(core.store)

    def offer_after_agent(self, call_id: str, agent_id: str, business_id: str) -> bool:
        """Offer the rating when the business asks for one; True when offered."""
        business = self.core.find_business(business_id) if business_id else None
        if business is None or not business.satisfaction_survey or not agent_id:
            return False
        now = self.core.now_ms()
        self._expire(now)
        self.offers[call_id] = sat.Survey(call_id, agent_id, business_id, now)
        while len(self.offers) > MAX_OFFERS:
            self.offers.popitem(last=False)
        return True

    def _expire(self, now: int) -> None:
        while self.offers:
            first = next(iter(self.offers.values()))
            if first.offered_at_ms + OFFER_TTL_MS >= now:
                return
            self.offers.popitem(last=False)

    def pending(self, call_id: str) -> sat.Survey | None:
        survey = self.offers.get(call_id)
        if survey is not None and survey.offered_at_ms + OFFER_TTL_MS < self.core.now_ms():
            self.offers.pop(call_id, None)
            return None
        return survey

    def drop(self, call_id: str) -> None:
        """The caller hung up: no rating."""
        self.offers.pop(call_id, None)

    async def press(self, call_id: str, digits: str) -> sat.SurveyStep:
        survey = self.pending(call_id)
        if survey is None:
            raise Conflict(f"no rating is offered for call {call_id!r}", field="call_id")
        step = sat.press(survey, digits)
        if step.outcome == sat.REPROMPTED:
            self.offers[call_id] = step.survey
            return step
        self.offers.pop(call_id, None)
        if step.outcome == sat.RATED:
            now = self.core.now_ms()
            rating = sat.Rating(
                call_id,
                self.core.site_id,
                survey.agent_id,
                survey.business_id,
                step.score,
                now,
                period_of(now),
            )
            audit = AuditRecord(
                new_id("req", now), now, "caller", "call_rated", call_id, f"score {step.score}"
            )
            body = pb.RatingCreated(
                call_id=call_id,
                site_id=self.core.site_id,
                agent_id=survey.agent_id,
                business_id=survey.business_id,
                score=step.score,
                rated_at_ms=now,
            )
            event = Event(new_id("evt"), "rating.created", call_id, body, now)
            await self.core.submit(UnitOfWork().add(rating, audit).emit(event))
            self.core.metrics.rated(survey.business_id, step.score)
        return step

    async def figures(self, period: str) -> list[tuple[str, str, sat.RatingFigures]]:
        """(level, subject, figures) per agent, business and this site."""
        ratings = await self.reads.ratings(period)
        rows: list[tuple[str, str, sat.RatingFigures]] = []
        for level, key in (("agent", "agent_id"), ("business", "business_id")):
            rows += [(level, k, f) for k, f in sat.figures_by(ratings, key).items()]
        site = sat.figures_by(ratings, "site_id").get(self.core.site_id, sat.RatingFigures())
        rows.append(("site", self.core.site_id, site))
        return rows
