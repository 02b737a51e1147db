"""The SIP agent's recordings filed at its site (``Quality.ReportRecording``).

When a recorded call is released at the media relay, the relay has written the call's
pcap into the site's recordings folder; the site moves it under its own name and stores
its metadata. The report is retried a while: the file may still be closing (NOT_FOUND)
or the site briefly away (UNAVAILABLE); a report repeated after a lost reply returns the
row filed the first time. Runs on the SIP agent's asyncio loop, with the process's own
identity (an access edge).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future

import grpc
import grpc.aio

from vcc_proto.channels import ChannelPool
from vcc_proto.v1 import quality_pb2 as qp
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_site.sip.media import Recording

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 5.0
AGAIN = frozenset(
    {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)


def report_request(rec: Recording) -> qp.ReportRecordingRequest:
    return qp.ReportRecordingRequest(
        call_id=rec.call_id,
        sip_call_id=rec.sip_call_id,
        agent_id=rec.agent_id,
        started_at_ms=round(rec.started_at * 1000),
        ended_at_ms=round(rec.ended_at * 1000),
        legs=["caller"],  # the caller's media is what the relay anchors today
    )


class RecordingReporter:
    def __init__(self, site_target: str, attempts: int = 8, first_wait_s: float = 0.25) -> None:
        self.site_target = site_target
        self.attempts = attempts
        self.first_wait_s = first_wait_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pool = ChannelPool()
        self.pending: set[Future[qp.Recording | None]] = set()

    def recorded(self, rec: Recording) -> None:
        """A recording finished (called on the SIP thread)."""
        if self.loop is None:
            log.warning("recording of call %s not filed: the agent is not running", rec.call_id)
            return
        done = asyncio.run_coroutine_threadsafe(self.report(rec), self.loop)
        self.pending.add(done)
        done.add_done_callback(self.pending.discard)

    async def report(self, rec: Recording) -> qp.Recording | None:
        stub = qg.QualityStub(self._pool.get(self.site_target))
        request = report_request(rec)
        wait = self.first_wait_s
        for _ in range(self.attempts):
            try:
                filed: qp.Recording = await stub.ReportRecording(request, timeout=RPC_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in AGAIN:
                    log.warning("recording of call %s refused: %s", rec.call_id, exc.code().name)
                    return None
                log.info("recording of call %s not filed yet: %s", rec.call_id, exc.code().name)
            else:
                log.info(
                    "recording %s of call %s filed at the site: %s (%d bytes)",
                    filed.recording_id,
                    filed.call_id,
                    filed.file_path,
                    filed.size_bytes,
                )
                return filed
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)
        log.warning("recording of call %s not filed: the site did not take it", rec.call_id)
        return None

    async def close(self) -> None:
        await self._pool.close()
