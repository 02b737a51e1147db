"""Call recordings at the serving site: filed when the SIP agent reports one, listed and
played by quality inspectors, swept past the province's retention.

The media relay records into the site's recordings folder (``<folder>/pcaps``, files
named after the SIP Call-ID). When the site's SIP agent reports a finished recording,
the site moves the file to ``<folder>/<Beijing day>/<recording ID>.pcap``, measures it
(size, SHA-256, the span of its packets) and commits its row with an audit row; a report
repeated (a lost reply) returns the row filed the first time. Listing and playing are
each audited with the actor the authorization checked. The sweep deletes the files past
retention and marks their rows (``swept_at_ms``) with one audit row per batch. Times
come from the site's clock, so the sweep runs under a fake one in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

from vcc_domain import recordings as rd
from vcc_domain.errors import InvalidInput, NotFound
from vcc_domain.ids import new_id
from vcc_site.service.core import SiteCore
from vcc_site.service.recording_audio import PcapError, pcap_to_wav, span_ms
from vcc_site.store.api import AuditRecord, UnitOfWork
from vcc_site.store.rec_reads import RecordingQuery, recording_reads

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_LIST = 1000
DEFAULT_LIST = 200
SWEEP_BATCH = 500
WAV, PCAP = "audio/wav", "application/vnd.tcpdump.pcap"


def _find_pcap(pcaps: Path, sip_call_id: str) -> Path | None:
    """The media relay's file of a call (its name is the %-escaped SIP Call-ID, a dash,
    a random part)."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(pcaps):
            name = unquote(entry.name)
            if name.startswith(f"{sip_call_id}-") and name.endswith(".pcap"):
                return Path(entry.path)
    return None


def _measure(path: Path) -> tuple[int, str, int | None]:
    """Size, SHA-256 and packet span (ms; None if not a pcap) of a file."""
    data = path.read_bytes()
    try:
        span: int | None = span_ms(data)
    except PcapError:
        span = None
    return len(data), hashlib.sha256(data).hexdigest(), span


def _relay_metadata(folder: Path, source: Path) -> Path:
    """rtpengine's own metadata file of a recording (the row replaces it)."""
    return folder / "metadata" / f"rtpengine-meta-{source.stem}.txt"


class RecordingService:
    def __init__(self, core: SiteCore, folder: Path) -> None:
        self.core = core
        self.folder = folder
        self.reads = recording_reads(core.store)

    @property
    def pcaps(self) -> Path:
        """Where the media relay writes (its ``--recording-dir`` is :attr:`folder`)."""
        return self.folder / "pcaps"

    def _audit(self, now: int, actor: str, action: str, subject: str, detail: str) -> AuditRecord:
        return AuditRecord(new_id("req", now), now, actor[:64], action, subject[:64], detail)

    # -- filing ---------------------------------------------------------------------------

    async def report(self, report: rd.RecordingReport, actor: str) -> rd.RecordingRow:
        rd.check_report(report)
        filed_row = await self._filed(report)
        if filed_row is not None:
            return filed_row
        source = await asyncio.to_thread(_find_pcap, self.pcaps, report.sip_call_id)
        if source is None:
            raise NotFound(
                f"no recording of SIP call {report.sip_call_id!r} yet", field="sip_call_id"
            )
        now = self.core.now_ms()
        row = await self._row(report, new_id("rec", now), now, source)
        target = self.folder / row.file_path
        await asyncio.to_thread(_move, source, target)
        audit = self._audit(now, actor, "recording_stored", report.call_id, row.recording_id)
        try:
            await self.core.submit(UnitOfWork().add(row, audit))
        except BaseException:
            await asyncio.to_thread(_move, target, source)  # reported again, filed again
            raise
        await asyncio.to_thread(_relay_metadata(self.folder, source).unlink, missing_ok=True)
        log.info("recording %s of call %s filed: %s", row.recording_id, row.call_id, row.file_path)
        return row

    async def _filed(self, report: rd.RecordingReport) -> rd.RecordingRow | None:
        for row in await self.reads.of_call(report.call_id):
            if row.sip_call_id == report.sip_call_id:
                return row
        return None

    async def _row(
        self, report: rd.RecordingReport, recording_id: str, now: int, source: Path
    ) -> rd.RecordingRow:
        call = await self.core.store.call(report.call_id)
        agents = [report.agent_id] if report.agent_id else []
        if call is not None and call.agent_id and call.agent_id not in agents:
            agents.append(call.agent_id)
        size, sha, span = await asyncio.to_thread(_measure, source)
        day = rd.beijing_date(report.started_at_ms).isoformat()
        return rd.RecordingRow(
            recording_id=recording_id,
            site_id=self.core.site_id,
            call_id=report.call_id,
            sip_call_id=report.sip_call_id,
            legs=tuple(report.legs),
            agents=tuple(agents),
            business_id=call.business_id if call is not None else "",
            started_at_ms=report.started_at_ms,
            ended_at_ms=report.ended_at_ms,
            duration_ms=report.ended_at_ms - report.started_at_ms if span is None else span,
            file_path=f"{day}/{recording_id}.pcap",
            size_bytes=size,
            sha256=sha,
            stored_at_ms=now,
        )

    # -- quality inspectors ------------------------------------------------------------------

    async def listing(self, query: RecordingQuery, day: str, actor: str) -> list[rd.RecordingRow]:
        if day:
            start, end = rd.day_range_ms(day)
            query = replace(query, start_ms=start, end_ms=end)
        if not 0 <= query.limit <= MAX_LIST:
            raise InvalidInput(f"at most {MAX_LIST}", field="limit")
        query = replace(query, limit=query.limit or DEFAULT_LIST)
        found = await self.reads.recordings(query)
        now = self.core.now_ms()
        what = f"agent={query.agent_id} business={query.business_id} day={day}: {len(found)}"
        await self.core.submit(
            UnitOfWork().add(self._audit(now, actor, "recordings_listed", self.core.site_id, what))
        )
        return found

    async def play(self, recording_id: str, as_wav: bool, actor: str) -> AsyncIterator[bytes]:
        """The recording's bytes in chunks (audited before the first)."""
        row = await self.reads.recording(recording_id)
        if row is None or row.swept_at_ms:
            raise NotFound(f"no recording {recording_id!r} kept here", field="recording_id")
        path = self.folder / row.file_path
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"the file of {recording_id} is missing", field="recording_id") from None
        if as_wav:
            data = await asyncio.to_thread(pcap_to_wav, data)
        now = self.core.now_ms()
        detail = f"{recording_id} as {'wav' if as_wav else 'pcap'}"
        await self.core.submit(
            UnitOfWork().add(self._audit(now, actor, "recording_played", row.call_id, detail))
        )
        return _chunks(data)

    # -- retention ---------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete the files past the province's retention and mark their rows; how many."""
        months = self.core.province.quality.recording_retention_months
        swept = 0
        while True:
            now = self.core.now_ms()
            bound = rd.sweep_candidates_before_ms(now, months)
            candidates = await self.reads.unswept_before(bound, SWEEP_BATCH)
            due = rd.past_retention(candidates, now, months)
            if due:
                await self._sweep_batch(due, now)
                swept += len(due)
            if len(candidates) < SWEEP_BATCH or not due:
                return swept

    async def _sweep_batch(self, due: list[rd.RecordingRow], now: int) -> None:
        for row in due:
            await asyncio.to_thread((self.folder / row.file_path).unlink, missing_ok=True)
        rows = [replace(row, swept_at_ms=now) for row in due]
        detail = f"{len(rows)} past retention, oldest {due[0].recording_id}"
        audit = self._audit(now, "retention", "recordings_swept", self.core.site_id, detail)
        await self.core.submit(UnitOfWork().add(*rows, audit))
        log.info("recordings swept: %s", detail)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), CHUNK):
        yield data[at : at + CHUNK]


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


async def sweep_forever(service: RecordingService, every_s: float) -> None:
    """Sweep now and then every ``every_s`` (a failure is logged and tried again)."""
    while True:
        try:
            await service.sweep()
        except Exception:
            log.exception("site: sweeping recordings past retention failed")
        await asyncio.sleep(every_s)
