"""The pages' client of the site's ``Quality`` gRPC service (inspection, recordings, the
published schedule), as the signed-in person (their bearer token); errors translated to
the project's (:mod:`vcc_domain.errors`) like :class:`~vcc_site.web.client.DeskClient`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import grpc.aio

from vcc_proto.status import translate_rpc_errors
from vcc_proto.v1 import quality_pb2 as q
from vcc_proto.v1 import quality_pb2_grpc as qg


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


class QualityClient:
    """Shares the desk's channel to the site."""

    def __init__(self, channel: grpc.aio.Channel, rpc_timeout_s: float = 10.0) -> None:
        self.stub = qg.QualityStub(channel)
        self.rpc_timeout_s = rpc_timeout_s

    async def draw_sample(self, bearer: str, period: str) -> list[q.QaReview]:
        with translate_rpc_errors():
            reply: q.ListReviewsReply = await self.stub.DrawSample(
                q.PeriodRequest(period=period),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return list(reply.reviews)

    async def reviews(
        self, bearer: str, period: str, agent_id: str = "", state: str = ""
    ) -> list[q.QaReview]:
        with translate_rpc_errors():
            reply: q.ListReviewsReply = await self.stub.ListReviews(
                q.ListReviewsRequest(period=period, agent_id=agent_id, state=state),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return list(reply.reviews)

    async def score(
        self,
        bearer: str,
        review_id: str,
        points: Mapping[str, int],
        comment: str,
        second: bool = False,
    ) -> q.QaReview:
        """The first score of a sampled call, or the second review of a disputed one."""
        request = q.ScoreRequest(review_id=review_id, points=dict(points), comment=comment)
        rpc = self.stub.SecondReview if second else self.stub.Score
        with translate_rpc_errors():
            reply: q.QaReview = await rpc(
                request, timeout=self.rpc_timeout_s, metadata=_bearer(bearer)
            )
        return reply

    async def dispute(self, bearer: str, review_id: str, agent_id: str, reason: str) -> q.QaReview:
        with translate_rpc_errors():
            reply: q.QaReview = await self.stub.Dispute(
                q.DisputeRequest(review_id=review_id, agent_id=agent_id, reason=reason),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply

    async def recordings(
        self, bearer: str, agent_id: str, business_id: str, day: str
    ) -> list[q.Recording]:
        request = q.ListRecordingsRequest(agent_id=agent_id, business_id=business_id, day=day)
        with translate_rpc_errors():
            reply: q.ListRecordingsReply = await self.stub.ListRecordings(
                request, timeout=self.rpc_timeout_s, metadata=_bearer(bearer)
            )
        return list(reply.recordings)

    async def play(self, bearer: str, recording_id: str) -> AsyncIterator[bytes]:
        """The recording as WAV, chunk by chunk (the site audits the play)."""
        request = q.PlayRecordingRequest(recording_id=recording_id)
        with translate_rpc_errors():
            async for chunk in self.stub.PlayRecording(request, metadata=_bearer(bearer)):
                yield chunk.data

    async def schedule(self, bearer: str, week_start_ms: int, agent_id: str = "") -> q.Schedule:
        with translate_rpc_errors():
            reply: q.Schedule = await self.stub.GetSchedule(
                q.GetScheduleRequest(week_start_ms=week_start_ms, agent_id=agent_id),
                timeout=self.rpc_timeout_s,
                metadata=_bearer(bearer),
            )
        return reply
