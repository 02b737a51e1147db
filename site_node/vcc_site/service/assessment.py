"""The month's assessment of a site's agents, teams and the site (rules:
:mod:`vcc_domain.assessment`), from this site's own records.

Per agent: answered calls, ring and talk time and transfers from the CDRs of calls that
arrived in the month and were answered by the agent here; after-call work from the
agent's wrap-up stretches that started in the month; work-order correctness from the
inspectors' checks of orders created in the month; callbacks of the agent's orders (not
references to another site's) that were due in the month or done — on time when done by
their deadline; the final inspection scores; the callers' ratings. Every call-taking
agent of the site has a row, with or without figures.
"""

from __future__ import annotations

from dataclasses import replace

from vcc_domain import assessment as a
from vcc_domain import quality as q
from vcc_domain.rating import check_period, period_bounds_ms, period_of
from vcc_domain.satisfaction import RatingFigures, of
from vcc_domain.workorders import WorkOrder
from vcc_site.service.core import SiteCore
from vcc_site.service.quality import answered_by_agent, period_cdrs
from vcc_site.store.qa_reads import quality_reads


class AssessmentService:
    def __init__(self, core: SiteCore) -> None:
        self.core = core
        self.reads = quality_reads(core.store)

    def teams(self) -> dict[str, str]:
        province = self.core.province
        mine = [ag.id for ag in province.agents_at(self.core.site_id) if ag.takes_calls]
        return a.teams(mine, self.core.site_id, province.quality.team_size)

    async def per_agent(self, period: str) -> dict[str, a.KpiFigures]:
        check_period(period)
        figs: dict[str, a.KpiFigures] = {agent: a.KpiFigures() for agent in self.teams()}

        def bump(agent: str, more: a.KpiFigures) -> None:
            figs[agent] = figs.get(agent, a.KpiFigures()).add(more)

        for cdr in await period_cdrs(self.core, period):
            if answered_by_agent(cdr):
                more = a.KpiFigures(1, cdr.ring_ms, cdr.talk_ms, int(cdr.transferred))
                bump(cdr.agent_id, more)
        start, end = period_bounds_ms(period)
        for wrap in await self.reads.wrap_ups(start, end):
            bump(wrap.agent_id, a.KpiFigures(wrapups=1, acw_ms=wrap.duration_ms))
        for order in await self.reads.callback_orders(start, end):
            due, on_time = self._callback(order, start, end)
            if order.agent_id and due:
                bump(order.agent_id, a.KpiFigures(callbacks_due=due, callbacks_on_time=on_time))
        for check in await self.reads.checks(period):
            bump(check.agent_id, a.KpiFigures(orders=q.correctness([check])))
        for review in await self.reads.reviews(period):
            total, n = q.quality_sum([review])
            bump(review.agent_id, a.KpiFigures(quality_total_bp=total, quality_reviews=n))
        ratings: dict[str, RatingFigures] = {}
        for rating in await self.reads.ratings(period):
            ratings[rating.agent_id] = ratings.get(rating.agent_id, RatingFigures()).add(of(rating))
        for agent, rf in ratings.items():
            bump(agent, replace(a.KpiFigures(), ratings=rf))
        return figs

    def _callback(self, o: WorkOrder, start: int, end: int) -> tuple[int, int]:
        """(due, on time) of an order's callback in [start, end): due in the month, or
        done in it."""
        if o.is_reference or not o.callback_required or not o.callback_due_ms:
            return 0, 0
        now = self.core.now_ms()
        done = o.callback_done_at_ms
        when = done or o.callback_due_ms
        if not start <= when < end or (not done and o.callback_due_ms > now):
            return 0, 0
        return 1, int(bool(done) and done <= o.callback_due_ms)

    async def assess(self, period: str) -> tuple[list[a.Assessment], dict[str, str]]:
        """Agents, teams and the site (no province row: that is every site's sum)."""
        figs = await self.per_agent(period)
        team_of = self.teams()
        site = self.core.site_id
        rows = a.roll_up(
            figs,
            lambda agent: team_of.get(agent, f"{site}-T00"),
            lambda _agent: site,
            a.weights_of(self.core.province.quality.weights),
        )
        return [r for r in rows if r.level != "province"], team_of


def current_period(core: SiteCore) -> str:
    return period_of(core.now_ms())
