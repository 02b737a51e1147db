"""The demo's quality desk and the month's assessment, after the callers stop.

At every site the first quality inspector draws the month's sample (``Quality.DrawSample``)
and scores each sampled call on its business's form (mostly good calls: each item
60–100 % of its points); one agent in ten disputes the score and the site's second
inspector reviews it again; half the work orders are checked (correct 99.5 % of the
time, key fields of inquiry orders right 97 %). The report then carries per site the
sample, the scores, disputes, work-order correctness against the seed's targets and the
callers' ratings, and the assessment per site, team and the province
(:func:`vcc_ops.assessment_cli.province_assessment`). All of it through the sites'
public ``Quality`` and ``WorkOrders`` APIs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from vcc_domain.province import Province, Role
from vcc_ops.assessment_cli import province_assessment
from vcc_proto.channels import open_channel
from vcc_proto.v1 import quality_pb2 as pb
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

DISPUTE_SHARE, CHECK_SHARE = 0.1, 0.5
CORRECT_SHARE, KEY_RIGHT_SHARE = 0.995, 0.97
TIMEOUT_S = 60.0


def _points(form: Any, rng: random.Random, low: float) -> dict[str, int]:
    return {
        item.id: rng.randint(int(item.max_points * low), item.max_points) for item in form.items
    }


async def _inspect(
    stub: qg.QualityStub, province: Province, period: str, who: list[str], rng: random.Random
) -> dict[str, int]:
    drawn = await stub.DrawSample(pb.PeriodRequest(period=period, actor=who[0]), timeout=TIMEOUT_S)
    counts = {"sampled": len(drawn.reviews), "scored": 0, "disputed": 0, "reviewed": 0}
    for r in drawn.reviews:
        form = province.business(r.business_id).quality_form
        if r.state != "sampled" or form is None:
            continue
        request = pb.ScoreRequest(
            review_id=r.review_id, inspector_id=who[0], points=_points(form, rng, 0.6)
        )
        await stub.Score(request, timeout=TIMEOUT_S)
        counts["scored"] += 1
        if len(who) < 2 or rng.random() >= DISPUTE_SHARE:
            continue
        dispute = pb.DisputeRequest(review_id=r.review_id, agent_id=r.agent_id, reason="demo")
        await stub.Dispute(dispute, timeout=TIMEOUT_S)
        again = pb.ScoreRequest(
            review_id=r.review_id, inspector_id=who[1], points=_points(form, rng, 0.8)
        )
        await stub.SecondReview(again, timeout=TIMEOUT_S)
        counts["disputed"] += 1
        counts["reviewed"] += 1
    return counts


async def _check_orders(
    channel: Any, stub: qg.QualityStub, inspector: str, rng: random.Random
) -> None:
    orders = await sg.WorkOrdersStub(channel).List(
        s.ListWorkOrdersRequest(limit=100_000), timeout=TIMEOUT_S
    )
    for order in orders.orders:
        if order.owner_site != order.site_id or rng.random() >= CHECK_SHARE:
            continue
        check = pb.CheckOrderRequest(
            order_id=order.order_id,
            inspector_id=inspector,
            correct=rng.random() < CORRECT_SHARE,
            key_correct=rng.random() < KEY_RIGHT_SHARE,
        )
        await stub.CheckOrder(check, timeout=TIMEOUT_S)


def _opt(value: int) -> int | None:
    return None if value < 0 else value


async def quality_round(
    province: Province, grpc_of: Mapping[str, str], period: str, seed: int
) -> dict[str, Any]:
    """Inspect every site's month, then the figures for the report."""
    rng = random.Random(seed)
    sites: dict[str, Any] = {}
    for site, endpoint in sorted(grpc_of.items()):
        who = [a.id for a in province.agents_at(site) if a.role is Role.QA]
        async with open_channel(endpoint) as channel:
            stub = qg.QualityStub(channel)
            counts = await _inspect(stub, province, period, who, rng) if who else {}
            if who:
                await _check_orders(channel, stub, who[0], rng)
            right = await stub.GetCorrectness(pb.PeriodRequest(period=period), timeout=TIMEOUT_S)
            rated = await stub.GetSatisfaction(pb.PeriodRequest(period=period), timeout=TIMEOUT_S)
        site_rating = next((r for r in rated.rows if r.level == "site"), pb.RatingFigures())
        sites[site] = {
            "inspection": counts,
            "work_orders_checked": right.checked,
            "work_orders_correct": _opt(right.correct_bp),
            "key_fields_right": _opt(right.key_bp),
            "correctness_targets": [right.correct_target_bp, right.key_target_bp],
            "meets_targets": right.meets_target,
            "ratings": site_rating.count,
            "rating_avg_centi": _opt(site_rating.avg_centi),
            "satisfied": _opt(site_rating.satisfied_bp),
            "ratings_by_business": {
                r.subject: [r.count, _opt(r.avg_centi)] for r in rated.rows if r.level == "business"
            },
        }
    assessment = await province_assessment(grpc_of, period)
    assessment.pop("agents", None)  # per agent: `vcc report assessment --agents`
    return {"period": period, "sites": sites, "assessment": assessment}
