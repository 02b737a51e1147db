"""gRPC side of quality inspection, ratings and the assessment: the ``Quality`` servicer.

Who acts: on a port with identities the signed-in person (an inspector scoring, the agent
disputing — the authorization table binds the dispute's ``agent_id`` to the caller); on
a plaintext port the IDs the request names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeAlias

from vcc_domain import assessment as a
from vcc_domain import quality as q
from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.satisfaction import RatingFigures
from vcc_proto.authz_interceptor import current_caller
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import quality_pb2 as pb
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_site.adapters import grpc_recordings, grpc_schedule
from vcc_site.service.assessment import AssessmentService, current_period
from vcc_site.service.quality import QualityService
from vcc_site.service.recordings import RecordingService
from vcc_site.service.schedules import ScheduleService
from vcc_site.service.surveys import Surveys

Ctx: TypeAlias = Any
NONE = -1


def _opt(value: int | None) -> int:
    return NONE if value is None else value


def _acting(claimed: str) -> str:
    """The signed-in person when there is one, else the ID the request names."""
    caller = current_caller()
    if caller is not None and caller.person is not None:
        return caller.person.id
    return claimed


def _own_if_agent(asked: str) -> str:
    """The agent whose reviews are listed: a signed-in agent reads only their own (an
    overseer, or the operator tool without a person, reads whom it asks for)."""
    caller = current_caller()
    if caller is not None and caller.person is not None and caller.person.role == "agent":
        return caller.person.id
    return asked


def _points(points: Mapping[str, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in points.items()}


def review_msg(r: q.QaReview) -> pb.QaReview:
    return pb.QaReview(
        review_id=r.review_id,
        site_id=r.site_id,
        period=r.period,
        call_id=r.call_id,
        agent_id=r.agent_id,
        business_id=r.business_id,
        reason=r.reason,
        state=r.state,
        inspector=r.inspector,
        points=dict(r.points),
        score_bp=r.score_bp,
        comment=r.comment,
        scored_at_ms=r.scored_at_ms,
        dispute_reason=r.dispute_reason,
        disputed_at_ms=r.disputed_at_ms,
        reviewer=r.reviewer,
        review_points=dict(r.review_points),
        review_score_bp=r.review_score_bp,
        reviewed_at_ms=r.reviewed_at_ms,
        final_score_bp=_opt(r.final_score_bp),
        created_at_ms=r.created_at_ms,
    )


def check_msg(c: q.OrderCheck) -> pb.OrderCheck:
    return pb.OrderCheck(
        order_id=c.order_id,
        site_id=c.site_id,
        period=c.period,
        agent_id=c.agent_id,
        business_id=c.business_id,
        order_type=c.order_type,
        correct=c.correct,
        key_checked=c.key_checked,
        key_correct=c.key_correct,
        inspector=c.inspector,
        checked_at_ms=c.checked_at_ms,
        note=c.note,
    )


def rating_msg(level: str, subject: str, f: RatingFigures) -> pb.RatingFigures:
    return pb.RatingFigures(
        level=level,
        subject=subject,
        count=f.count,
        total=f.total,
        satisfied=f.satisfied,
        avg_centi=_opt(f.avg_centi),
        satisfied_bp=_opt(f.satisfied_bp),
    )


def kpi_msg(f: a.KpiFigures) -> pb.KpiFigures:
    return pb.KpiFigures(
        answered=f.answered,
        ring_ms=f.ring_ms,
        talk_ms=f.talk_ms,
        transferred=f.transferred,
        wrapups=f.wrapups,
        acw_ms=f.acw_ms,
        orders_checked=f.orders.checked,
        orders_correct=f.orders.correct,
        key_checked=f.orders.key_checked,
        key_correct=f.orders.key_correct,
        callbacks_due=f.callbacks_due,
        callbacks_on_time=f.callbacks_on_time,
        quality_total_bp=f.quality_total_bp,
        quality_reviews=f.quality_reviews,
        ratings=f.ratings.count,
        ratings_total=f.ratings.total,
        ratings_satisfied=f.ratings.satisfied,
    )


def kpi_record(m: pb.KpiFigures) -> a.KpiFigures:
    """The figures of a reply (the province's sum of every site's agents)."""
    return a.KpiFigures(
        m.answered,
        m.ring_ms,
        m.talk_ms,
        m.transferred,
        m.wrapups,
        m.acw_ms,
        q.Correctness(m.orders_checked, m.orders_correct, m.key_checked, m.key_correct),
        m.callbacks_due,
        m.callbacks_on_time,
        m.quality_total_bp,
        m.quality_reviews,
        RatingFigures(m.ratings, m.ratings_total, m.ratings_satisfied),
    )


def row_msg(r: a.Assessment, team: str = "") -> pb.AssessmentRow:
    return pb.AssessmentRow(
        level=r.level,
        subject=r.subject,
        team=team,
        figures=kpi_msg(r.figures),
        components=[
            pb.AssessmentComponent(
                name=c.name,
                measured=_opt(c.measured),
                target=c.target,
                attainment_bp=_opt(c.attainment_bp),
                weight=c.weight,
            )
            for c in r.components
        ],
        score_bp=_opt(r.score_bp),
    )


class QualityServicer(qg.QualityServicer):
    def __init__(
        self,
        quality: QualityService,
        assessment: AssessmentService,
        surveys: Surveys,
        recordings: RecordingService | None = None,
    ):
        self.quality = quality
        self.assessment = assessment
        self.surveys = surveys
        self.schedules = ScheduleService(quality.core)
        self.recordings = recordings

    def _recordings(self) -> RecordingService:
        if self.recordings is None:
            raise NotFound("this site keeps no recordings", field="recording")
        return self.recordings

    def _period(self, period: str) -> str:
        return period or current_period(self.quality.core)

    @grpc_errors
    async def DrawSample(self, request: pb.PeriodRequest, context: Ctx) -> pb.ListReviewsReply:
        found = await self.quality.draw(self._period(request.period), _acting(request.actor))
        return pb.ListReviewsReply(reviews=[review_msg(r) for r in found])

    @grpc_errors
    async def ListReviews(
        self, request: pb.ListReviewsRequest, context: Ctx
    ) -> pb.ListReviewsReply:
        found = await self.quality.reviews(
            self._period(request.period), _own_if_agent(request.agent_id), request.state
        )
        return pb.ListReviewsReply(reviews=[review_msg(r) for r in found])

    @grpc_errors
    async def Score(self, request: pb.ScoreRequest, context: Ctx) -> pb.QaReview:
        r = await self.quality.score(
            request.review_id,
            _acting(request.inspector_id),
            _points(request.points),
            request.comment,
        )
        return review_msg(r)

    @grpc_errors
    async def Dispute(self, request: pb.DisputeRequest, context: Ctx) -> pb.QaReview:
        agent = _acting(request.agent_id)  # a signed-in agent disputes only as themselves
        r = await self.quality.dispute(request.review_id, agent, request.reason)
        return review_msg(r)

    @grpc_errors
    async def SecondReview(self, request: pb.ScoreRequest, context: Ctx) -> pb.QaReview:
        r = await self.quality.second_review(
            request.review_id, _acting(request.inspector_id), _points(request.points)
        )
        return review_msg(r)

    @grpc_errors
    async def CheckOrder(self, request: pb.CheckOrderRequest, context: Ctx) -> pb.OrderCheck:
        c = await self.quality.check_order(
            request.order_id,
            _acting(request.inspector_id),
            request.correct,
            request.key_correct,
            request.note,
        )
        return check_msg(c)

    @grpc_errors
    async def GetCorrectness(self, request: pb.PeriodRequest, context: Ctx) -> pb.CorrectnessReply:
        period = self._period(request.period)
        c = await self.quality.correctness(period)
        return pb.CorrectnessReply(
            period=period,
            checked=c.checked,
            correct=c.correct,
            key_checked=c.key_checked,
            key_correct=c.key_correct,
            correct_bp=_opt(c.correct_bp),
            key_bp=_opt(c.key_bp),
            correct_target_bp=q.CORRECT_TARGET_BP,
            key_target_bp=q.KEY_FIELDS_TARGET_BP,
            meets_target=c.meets_target,
        )

    @grpc_errors
    async def GetSatisfaction(
        self, request: pb.PeriodRequest, context: Ctx
    ) -> pb.SatisfactionReply:
        period = self._period(request.period)
        rows = await self.surveys.figures(period)
        return pb.SatisfactionReply(period=period, rows=[rating_msg(*row) for row in rows])

    @grpc_errors
    async def GetAssessment(self, request: pb.PeriodRequest, context: Ctx) -> pb.AssessmentReply:
        period = self._period(request.period)
        rows, team_of = await self.assessment.assess(period)
        core = self.quality.core
        return pb.AssessmentReply(
            period=period,
            site_id=core.site_id,
            rows=[row_msg(r, team_of.get(r.subject, "")) for r in rows],
            weights=a.weights_of(core.province.quality.weights),
        )

    @grpc_errors
    async def PublishSchedule(self, request: pb.Schedule, context: Ctx) -> pb.Schedule:
        return await grpc_schedule.publish(self.schedules, request)

    @grpc_errors
    async def GetSchedule(self, request: pb.GetScheduleRequest, context: Ctx) -> pb.Schedule:
        return await grpc_schedule.get(self.schedules, request)

    @grpc_errors
    async def ReportRecording(
        self, request: pb.ReportRecordingRequest, context: Ctx
    ) -> pb.Recording:
        return await grpc_recordings.report(self._recordings(), request)

    @grpc_errors
    async def ListRecordings(
        self, request: pb.ListRecordingsRequest, context: Ctx
    ) -> pb.ListRecordingsReply:
        return await grpc_recordings.list_recordings(self._recordings(), request)

    @grpc_errors
    async def PlayRecording(
        self, request: pb.PlayRecordingRequest, context: Ctx
    ) -> AsyncIterator[pb.RecordingChunk]:
        async for chunk in grpc_recordings.play(self._recordings(), request):
            yield chunk


def quality_services(
    quality: QualityService,
    assessment: AssessmentService,
    surveys: Surveys,
    recordings: RecordingService | None = None,
) -> list[ServedService]:
    if quality.core is not assessment.core:
        raise InvalidInput("quality and assessment must serve the same site", field="site")
    servicer = QualityServicer(quality, assessment, surveys, recordings)
    return [ServedService("vcc_proto.v1.Quality", servicer, qg.add_QualityServicer_to_server)]
