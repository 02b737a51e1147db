"""Quality inspection at a site: the month's sample, scores, disputes, second reviews and
work-order checks (the rules are :mod:`vcc_domain.quality`).

Every change is one unit of work: the review (or check) row and an audit row naming the
actor, the action and the call (or order), so who scored what, who disputed and who
reviewed again is on record. The form is the business's ``quality_form`` in the current
directory: the sample is drawn from the calls of businesses that have one (a business
without a form has nothing to score a call on).
"""

from __future__ import annotations

from collections.abc import Mapping

from vcc_domain import quality as q
from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.ids import new_id
from vcc_domain.province import BusinessKind
from vcc_domain.rating import check_period, period_bounds_ms, period_of
from vcc_domain.workorders import WorkOrder
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, CdrRecord, UnitOfWork
from vcc_site.store.qa_reads import quality_reads
from vcc_site.store.wo_reads import work_order_reads

ANSWERED_OUTCOMES = frozenset({"answered", "transferred_out"})
PAGE = 5_000
MAX_CALL_MS = 86_400_000  # a call ends within a day of its arrival (the site's limits)
MAX_NOTE = 500


async def period_cdrs(core: SiteCore, period: str) -> list[CdrRecord]:
    """The CDRs written at this site for calls that arrived in ``period``."""
    start, end = period_bounds_ms(check_period(period))
    out: list[CdrRecord] = []
    after = start - 1
    while True:
        page = await core.store.cdrs(limit=PAGE, after_ended_at_ms=after)
        out += [c for c in page if start <= c.arrival_at_ms < end]
        if len(page) < PAGE or page[-1].ended_at_ms >= end + MAX_CALL_MS:
            return out
        after = page[-1].ended_at_ms


def answered_by_agent(cdr: CdrRecord) -> bool:
    return bool(cdr.agent_id) and cdr.answered_at_ms > 0 and cdr.outcome in ANSWERED_OUTCOMES


class QualityService:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.reads = quality_reads(core.store)
        self.orders = work_order_reads(core.store)

    def _form(self, business_id: str) -> q.QualityForm:
        form = self.core.province.business(business_id).quality_form
        if form is None:
            raise InvalidInput(f"business {business_id!r} has no quality form", field="review_id")
        return form

    def _audit(self, actor: str, action: str, subject: str, detail: str, now: int) -> AuditRecord:
        return AuditRecord(new_id("req", now), now, actor[:64], action, subject, detail)

    async def draw(self, period: str, actor: str) -> list[q.QaReview]:
        """Draw the month's sample; calls drawn before stay as they are."""
        province = self.core.province
        cands = []
        for cdr in await period_cdrs(self.core, period):
            if not answered_by_agent(cdr):
                continue
            business = self.core.find_business(cdr.business_id) if cdr.business_id else None
            if business is None or business.quality_form is None:
                continue  # nothing to score it on
            complaint = business.kind is BusinessKind.COMPLAINT
            cands.append(q.Candidate(cdr.call_id, cdr.agent_id, cdr.business_id, complaint))
        drawn = q.draw_sample(period, cands, province.quality.sample_percent)
        known = {r.call_id for r in await self.reads.reviews(period)}
        now = self.core.now_ms()
        uow = UnitOfWork()
        for cand, reason in drawn:
            if cand.call_id in known:
                continue
            review_id = f"qa-{self.core.site_id}-{period}-{cand.call_id}"[:64]
            uow.add(
                q.QaReview(
                    review_id,
                    self.core.site_id,
                    period,
                    cand.call_id,
                    cand.agent_id,
                    cand.business_id,
                    reason,
                    now,
                ),
                self._audit(actor, "qa_sampled", cand.call_id, f"{review_id} {reason}", now),
            )
        if uow:
            await self.core.submit(uow)
        return await self.reads.reviews(period)

    async def reviews(self, period: str, agent_id: str = "", state: str = "") -> list[q.QaReview]:
        if state and state not in q.REVIEW_STATES:
            raise InvalidInput(f"state must be one of {', '.join(q.REVIEW_STATES)}", field="state")
        return await self.reads.reviews(check_period(period), agent_id, state)

    async def _review(self, review_id: str) -> q.QaReview:
        found = await self.reads.review(review_id)
        if found is None:
            raise NotFound(f"unknown review {review_id!r}", field="review_id")
        return found

    async def _save(self, r: q.QaReview, actor: str, action: str, detail: str) -> q.QaReview:
        now = self.core.now_ms()
        await self.core.submit(
            UnitOfWork().add(r, self._audit(actor, action, r.call_id, detail, now))
        )
        return r

    async def score(
        self, review_id: str, inspector: str, points: Mapping[str, int], comment: str
    ) -> q.QaReview:
        r = await self._review(review_id)
        scored = q.score(
            r, self._form(r.business_id), inspector, points, comment, self.core.now_ms()
        )
        return await self._save(scored, inspector, "qa_scored", f"{review_id} {scored.score_bp}")

    async def dispute(self, review_id: str, agent_id: str, reason: str) -> q.QaReview:
        r = await self._review(review_id)
        days = self.core.province.quality.dispute_days
        disputed = q.dispute(r, agent_id, reason, self.core.now_ms(), days)
        return await self._save(disputed, agent_id, "qa_disputed", review_id)

    async def second_review(
        self, review_id: str, reviewer: str, points: Mapping[str, int]
    ) -> q.QaReview:
        r = await self._review(review_id)
        form = self._form(r.business_id)
        done = q.second_review(r, form, reviewer, points, self.core.now_ms())
        detail = f"{review_id} {r.score_bp} -> {done.review_score_bp}"
        return await self._save(done, reviewer, "qa_reviewed", detail)

    async def check_order(
        self, order_id: str, inspector: str, correct: bool, key_correct: bool, note: str
    ) -> q.OrderCheck:
        if not inspector:
            raise InvalidInput("the inspector is required", field="inspector_id")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"at most {MAX_NOTE} characters", field="note")
        order = await self.orders.order(order_id)
        if order is None or order.is_reference:
            raise NotFound(f"no work order {order_id!r} lives here", field="order_id")
        now = self.core.now_ms()
        key_checked = self._has_key_fields(order)
        check = q.OrderCheck(
            order_id,
            self.core.site_id,
            period_of(order.created_at_ms),
            order.agent_id,
            order.business_id,
            order.order_type,
            correct,
            key_checked,
            key_checked and key_correct,
            inspector,
            now,
            note,
        )
        verdict = f"correct={int(correct)} key={int(check.key_correct)}"
        await self.core.submit(
            UnitOfWork().add(check, self._audit(inspector, "wo_checked", order_id, verdict, now))
        )
        return check

    def _has_key_fields(self, order: WorkOrder) -> bool:
        """Inquiry orders with form fields are judged on their key fields too."""
        business = self.core.find_business(order.business_id)
        spec = business.work_order if business is not None else None
        return order.order_type == "inquiry" and spec is not None and bool(spec.fields)

    async def correctness(self, period: str) -> q.Correctness:
        return q.correctness(await self.reads.checks(check_period(period)))
