"""The site's quality desk over the memory store: ratings offered after the agent hangs
up (reprompt, expiry, one row per call), the month's sample drawn from calls of
businesses with a form, scores, and the assessment's figures per agent. The real path
(processes, SQLite and PostgreSQL) is
``tests/integration/province_work/test_quality_and_assessment.py``.
"""

from __future__ import annotations

import pytest

from tests.unit.site.test_site_timers import PROVINCE
from vcc_domain import satisfaction as sat
from vcc_domain.clock import ManualClock
from vcc_domain.errors import Conflict
from vcc_domain.rating import period_of
from vcc_proto.v1.events_pb2 import Cdr
from vcc_site.service.assessment import AssessmentService
from vcc_site.service.core import SiteCore
from vcc_site.service.quality import QualityService
from vcc_site.service.surveys import OFFER_TTL_MS, Surveys
from vcc_site.store.api import AgentStateRecord, UnitOfWork
from vcc_site.store.memory import MemorySiteStore

AGENT = "KM-0131"


def _core() -> SiteCore:
    return SiteCore(PROVINCE, "KM", MemorySiteStore("KM"), ManualClock(1_796_000_000.0))


def _cdr(core: SiteCore, n: int, business: str, agent: str = AGENT) -> Cdr:
    now = core.now_ms()
    return Cdr(
        cdr_id=f"cdr-{n}", call_id=f"call-{n}", site_id="KM", home_site="KM", entry_site="KM",
        business_id=business, tier="ordinary", outcome="answered", arrival_at_ms=now - 60_000,
        answered_at_ms=now - 50_000, ended_at_ms=now - 1_000, ring_ms=4_000, talk_ms=49_000,
        agent_id=agent, transferred=n == 0,
    )  # fmt: skip


async def test_a_rating_is_offered_only_where_the_business_asks_and_kept_once() -> None:
    core = _core()
    surveys = Surveys(core)
    assert not surveys.offer_after_agent("c0", AGENT, "fault")  # no survey for faults
    assert surveys.offer_after_agent("c1", AGENT, "general")
    step = await surveys.press("c1", "7")
    assert step.outcome == sat.REPROMPTED and surveys.pending("c1") is not None
    assert (await surveys.press("c1", "4")).outcome == sat.RATED
    with pytest.raises(Conflict):
        await surveys.press("c1", "5")  # one rating per call
    assert surveys.offer_after_agent("c2", AGENT, "general")
    assert isinstance(core.clock, ManualClock)
    core.clock.advance(OFFER_TTL_MS / 1000 + 1)
    assert surveys.pending("c2") is None  # expired: no rating
    rows = await surveys.figures(period_of(core.now_ms()))
    assert ("site", "KM", sat.RatingFigures(1, 4, 1)) in rows
    assert ("agent", AGENT, sat.RatingFigures(1, 4, 1)) in rows


async def test_sample_scores_and_assessment_figures() -> None:
    core = _core()
    period = period_of(core.now_ms())
    uow = UnitOfWork().add(*(_cdr(core, n, "general") for n in range(3)), _cdr(core, 9, "fault"))
    uow.add(
        AgentStateRecord(AGENT, "sess", "wrap_up", "", core.now_ms() - 900, core.now_ms(), 30_000)
    )
    await core.store.commit(uow)
    quality = QualityService(core)
    drawn = await quality.draw(period, "KM-QA-0001")
    assert len(drawn) == 1 and drawn[0].business_id == "general"  # faults have no form
    full = {"greeting": 10, "accuracy": 40, "attitude": 20, "process": 20, "closing": 10}
    scored = await quality.score(drawn[0].review_id, "KM-QA-0001", full, "good")
    assert scored.score_bp == 10_000
    figures = (await AssessmentService(core).per_agent(period))[AGENT]
    assert (figures.answered, figures.transferred, figures.ring_ms) == (4, 1, 16_000)
    assert (figures.wrapups, figures.acw_ms) == (1, 30_000)
    assert (figures.quality_reviews, figures.quality_total_bp) == (1, 10_000)
    rows, teams = await AssessmentService(core).assess(period)
    assert [r.level for r in rows][-1] == "site" and teams[AGENT].startswith("KM-T")


def test_the_signed_in_person_acts_not_the_id_the_request_names() -> None:
    from vcc_proto import authz_interceptor as ai
    from vcc_site.adapters.grpc_quality import _acting

    assert _acting("KM-0131") == "KM-0131"  # plaintext: nobody checked, the request's ID
    token = ai._CALLER.set(ai.Caller(None, ai.Person("KM-0133", "agent", "KM")))
    try:
        assert _acting("KM-0131") == "KM-0133"  # cannot dispute as somebody else
    finally:
        ai._CALLER.reset(token)
