"""Quality inspection, callers' ratings and the monthly assessment through the public gRPC
API on the package's real province (NATS, etcd, the hub on PostgreSQL, KM and DL as
processes; see ``conftest``).

At Kunming a general agent takes three calls of the one-number business (which asks its
callers for a rating): the first caller keys an invalid digit (reprompted) and then 5, the
second keys nothing in time (no rating), the third hangs up on the rating; an inquiry
work order is written on the first call. Then:

* the month's sample holds one of the agent's three calls (5 %, at least one); an
  inspector scores it on the business's form; another agent may not dispute it, the agent
  does; the same inspector may not review it again, a second inspector does, and that
  score is final;
* the inspector marks the order correct with its key fields wrong: correctness 100 %,
  key fields 0 %, below the seed's target;
* satisfaction: one rating (5) for the agent, the business and the site;
* the assessment has the agent's row (three answered calls, wrap-ups, the final score,
  the rating, the checked order, a weighted score), its team's and the site's; the
  province's (``vcc report assessment``) sums every running site;
* every step is audited at the site, and the hub (on PostgreSQL) counts the rating in
  Kunming's service-quality index (the satisfaction component, 5 of 5).
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from tests.integration._helpers.linked import Province
from tests.integration._helpers.site import Client, until
from vcc_domain.rating import period_of
from vcc_ops.assessment_cli import province_assessment
from vcc_proto.channels import open_channel
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import quality_pb2 as q
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

AGENT, OTHER_AGENT = "KM-0131", "KM-0133"  # general agents at Kunming
INSPECTOR, SECOND = "KM-QA-0001", "KM-QA-0002"
CALLERS = ("08715550081", "08715550082", "08715550083")
FULL = {"greeting": 10, "accuracy": 40, "attitude": 20, "process": 20, "closing": 10}


async def _served_call(km: Client, caller: str) -> tuple[str, s.CallView]:
    """A caller asks for an agent (1000, then 0); the agent answers and hangs up."""
    desk = km.desks[0]
    step = await km.offer(caller, "1000", "0")
    call_id = step.call_id
    await until(lambda: _true(call_id in desk.offers()), f"the offer of {call_id}")
    await desk.answer(call_id)
    return call_id, await desk.hang_up(call_id)


async def _true(value: bool) -> bool:
    return value


async def test_inspection_rating_and_assessment(province: Province, km: Client, dl: Client) -> None:
    quality = qg.QualityStub(km.channel)
    desk = await km.login(AGENT)
    await desk.ready()
    orders = sg.WorkOrdersStub(km.channel)

    # (1) rated: an invalid key is reprompted, then 5
    first, _ = await _served_call(km, CALLERS[0])
    view = await km.call(first)
    assert view.state == c.CALL_STATE_ENDED and view.HasField("rating"), view
    assert view.rating.WhichOneof("next") == "collect" and view.rating.prompts
    order = await orders.Create(
        s.CreateWorkOrderRequest(
            session_token=desk.token,
            call_id=first,
            fields={"name": "Li", "phone": CALLERS[0], "question": "tariff"},
        )
    )
    await desk.wrap_up(first)
    again = await km.digits(first, "9")
    assert again.WhichOneof("next") == "collect", again
    done = await km.digits(first, "5")
    assert done.WhichOneof("next") == "ended", done
    assert not (await km.call(first)).HasField("rating")

    # (2) no key in time: no rating; (3) hung up on the rating: no rating
    second, _ = await _served_call(km, CALLERS[1])
    await desk.wrap_up(second)
    assert (await km.digits(second, "")).WhichOneof("next") == "ended"
    third, _ = await _served_call(km, CALLERS[2])
    await desk.wrap_up(third)
    await km.access.HangUp(s.CallRef(call_id=third))
    with pytest.raises(grpc.aio.AioRpcError):
        await km.digits(third, "4")  # the rating is gone with the caller

    # the month's sample: one of the agent's three calls
    period = period_of(view.ended_at_ms)
    drawn = await quality.DrawSample(q.PeriodRequest(period=period, actor=INSPECTOR))
    mine = [r for r in drawn.reviews if r.agent_id == AGENT]
    assert len(mine) == 1 and mine[0].call_id in (first, second, third)
    assert mine[0].state == "sampled" and mine[0].reason == "sample"
    again_drawn = await quality.DrawSample(q.PeriodRequest(period=period, actor=INSPECTOR))
    assert [r.review_id for r in again_drawn.reviews] == [r.review_id for r in drawn.reviews]
    review_id = mine[0].review_id

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await quality.Score(q.ScoreRequest(review_id=review_id, inspector_id=INSPECTOR))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # items not scored
    points = {**FULL, "accuracy": 20}
    scored = await quality.Score(
        q.ScoreRequest(review_id=review_id, inspector_id=INSPECTOR, points=points, comment="x")
    )
    assert (scored.state, scored.score_bp, scored.final_score_bp) == ("scored", 8000, 8000)
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await quality.Dispute(
            q.DisputeRequest(review_id=review_id, agent_id=OTHER_AGENT, reason="no")
        )
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await quality.Dispute(
        q.DisputeRequest(review_id=review_id, agent_id=AGENT, reason="the answer was right")
    )
    with pytest.raises(grpc.aio.AioRpcError) as same:
        await quality.SecondReview(
            q.ScoreRequest(review_id=review_id, inspector_id=INSPECTOR, points=FULL)
        )
    assert same.value.code() == grpc.StatusCode.PERMISSION_DENIED
    final = await quality.SecondReview(
        q.ScoreRequest(review_id=review_id, inspector_id=SECOND, points=FULL)
    )
    assert (final.state, final.final_score_bp, final.score_bp) == ("reviewed", 10000, 8000)

    # work-order correctness against the seed's targets
    check = await quality.CheckOrder(
        q.CheckOrderRequest(
            order_id=order.order_id, inspector_id=INSPECTOR, correct=True, key_correct=False
        )
    )
    assert check.key_checked and not check.key_correct and check.agent_id == AGENT
    right = await quality.GetCorrectness(q.PeriodRequest(period=period))
    assert (right.checked, right.correct_bp, right.key_bp) == (1, 10000, 0)
    assert not right.meets_target and right.key_target_bp == 9500

    # satisfaction per agent, business and site
    sat = await quality.GetSatisfaction(q.PeriodRequest(period=period))
    rows = {(r.level, r.subject): (r.count, r.total, r.avg_centi) for r in sat.rows}
    assert rows[("agent", AGENT)] == (1, 5, 500)
    assert rows[("business", "general")] == (1, 5, 500)
    assert rows[("site", "KM")] == (1, 5, 500)

    # the assessment: agent, team, site; the province sums the running sites
    assessed = await quality.GetAssessment(q.PeriodRequest(period=period))
    by = {(r.level, r.subject): r for r in assessed.rows}
    agent = by[("agent", AGENT)]
    f = agent.figures
    assert (f.answered, f.quality_reviews, f.quality_total_bp, f.ratings) == (3, 1, 10000, 1)
    assert (f.orders_checked, f.key_checked, f.key_correct) == (1, 1, 0)
    assert f.wrapups >= 3
    assert agent.score_bp > 0 and agent.team
    comps = {x.name: x for x in agent.components}
    assert comps["quality"].attainment_bp == 10000
    assert comps["satisfaction"].attainment_bp == 10000
    assert comps["work_orders"].attainment_bp == 0  # key fields all wrong
    assert by[("team", agent.team)].figures.answered >= 3
    assert by[("site", "KM")].figures.answered >= 3
    assert assessed.weights["quality"] == 25
    whole = await province_assessment({"KM": province.km.target, "DL": province.dl.target}, period)
    at_dl = await qg.QualityStub(dl.channel).GetAssessment(q.PeriodRequest(period=period))
    dl_site = next(r for r in at_dl.rows if (r.level, r.subject) == ("site", "DL"))
    answered = by[("site", "KM")].figures.answered + dl_site.figures.answered
    assert whole["province"]["answered"] == answered  # other tests' calls at DL count too
    assert [r["subject"] for r in whole["sites"]] == ["DL", "KM"]

    # audited at the site
    actions = {
        str(a)
        for (a,) in province.km.rows(
            "SELECT action FROM audit WHERE subject IN (?, ?, ?, ?)",
            first,
            second,
            third,
            order.order_id,
        )
    }
    assert {"qa_sampled", "qa_scored", "qa_disputed", "qa_reviewed", "call_rated"} <= actions
    assert "wo_checked" in actions

    # the rating reaches the hub and its service-quality index
    async def hub_sqi() -> dict[str, Any] | None:
        async with open_channel(province.hub.target) as channel:
            rep = await hg.ReportsStub(channel).GetReport(
                h.GetReportRequest(
                    view=h.REPORT_VIEW_PROVINCE,
                    from_at_ms=view.ended_at_ms - 3_600_000,
                    to_at_ms=view.ended_at_ms + 3_600_000,
                    format=h.REPORT_FORMAT_JSON,
                ),
                timeout=30,
            )
        data = json.loads(rep.content)
        sqi = data["sqi"].get("KM") or {}
        found = [x for x in sqi.get("components", []) if x["name"] == "satisfaction"]
        # the rating and the roll-ups land in separate steps: wait until both are there
        km_row = next((r for r in data["rows"] if r["site"] == "KM"), None)
        if not found or km_row is None or not km_row.get("rated"):
            return None
        return {**found[0], "row": km_row}

    satisfaction = await until(hub_sqi, "the rating in the hub's SQI", timeout_s=60)
    assert satisfaction["measured"] == 5.0 and satisfaction["attainment"] == 1.0
    assert (satisfaction["row"]["rated"], satisfaction["row"]["satisfaction"]) == (1, 5.0)
