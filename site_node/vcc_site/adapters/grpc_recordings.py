"""gRPC side of call recordings (``Quality.ReportRecording``, ``ListRecordings``,
``PlayRecording``): messages to and from :mod:`vcc_domain.recordings`.

The actor audited is the identity the authorization checked (:func:`actor_of`): the
inspector's person, the SIP agent's edge certificate; on a plaintext port, "unchecked".
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from vcc_domain import recordings as rd
from vcc_proto.authz_interceptor import actor_of
from vcc_proto.v1 import quality_pb2 as pb
from vcc_site.service.recordings import PCAP, WAV, RecordingService
from vcc_site.store.rec_reads import RecordingQuery

UNCHECKED = "unchecked"


def _actor() -> str:
    return actor_of("") or UNCHECKED


def recording_msg(r: rd.RecordingRow) -> pb.Recording:
    return pb.Recording(
        recording_id=r.recording_id,
        call_id=r.call_id,
        sip_call_id=r.sip_call_id,
        legs=list(r.legs),
        agents=list(r.agents),
        business_id=r.business_id,
        started_at_ms=r.started_at_ms,
        ended_at_ms=r.ended_at_ms,
        duration_ms=r.duration_ms,
        file_path=r.file_path,
        size_bytes=r.size_bytes,
        sha256=r.sha256,
        stored_at_ms=r.stored_at_ms,
        swept_at_ms=r.swept_at_ms,
        site_id=r.site_id,
    )


async def report(service: RecordingService, m: pb.ReportRecordingRequest) -> pb.Recording:
    found = rd.RecordingReport(
        m.call_id, m.sip_call_id, m.agent_id, m.started_at_ms, m.ended_at_ms, tuple(m.legs)
    )
    return recording_msg(await service.report(found, _actor()))


async def list_recordings(
    service: RecordingService, m: pb.ListRecordingsRequest
) -> pb.ListRecordingsReply:
    query = RecordingQuery(
        agent_id=m.agent_id,
        business_id=m.business_id,
        include_swept=m.include_swept,
        limit=m.limit,
    )
    found = await service.listing(query, m.day, _actor())
    return pb.ListRecordingsReply(recordings=[recording_msg(r) for r in found])


async def play(
    service: RecordingService, m: pb.PlayRecordingRequest
) -> AsyncIterator[pb.RecordingChunk]:
    as_wav = m.format == pb.PlayRecordingRequest.FORMAT_WAV
    content_type = WAV if as_wav else PCAP
    async for data in await service.play(m.recording_id, as_wav, _actor()):
        yield pb.RecordingChunk(content_type=content_type, data=data)
        content_type = ""
