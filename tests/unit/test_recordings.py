"""Call recordings at the site: the retention rule, the province field, filing a
reported recording, inspectors listing and playing (audited), the sweep under a fake
clock, and the SIP agent's side (the anchor telling the reporter)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.unit.test_recording_audio import pcap, rtp
from tests.unit.test_sip_media import FakeNg
from vcc_domain import recordings as rd
from vcc_domain.clock import ManualClock
from vcc_domain.errors import ConfigError, InvalidInput, NotFound
from vcc_domain.province import load_province_file
from vcc_domain.province_load import parse_province
from vcc_ops.cli import example_province_path
from vcc_proto.v1 import quality_pb2 as qp
from vcc_proto.v1 import quality_pb2_grpc as qg
from vcc_site.service.core import SiteCore
from vcc_site.service.recordings import RecordingService
from vcc_site.sip.media import MediaAnchor, Recording
from vcc_site.sip.recording_report import RecordingReporter, report_request
from vcc_site.store.api import AuditRecord, CallRecord, UnitOfWork
from vcc_site.store.memory import MemorySiteStore
from vcc_site.store.rec_reads import RecordingQuery
from vcc_site.store.sql import SqlSiteStore

DAY_MS = 86_400_000
MARCH_15 = 1_773_504_000_000  # 2026-03-15 00:00 Beijing (2026-03-14 16:00 UTC)
SIP_ID = "a84b4c76e66710@pc33.example.com"


def test_beijing_day_and_months() -> None:
    assert rd.beijing_date(MARCH_15) == date(2026, 3, 15)
    assert rd.beijing_date(MARCH_15 - 1) == date(2026, 3, 14)
    assert rd.day_range_ms("2026-03-15") == (MARCH_15, MARCH_15 + DAY_MS)
    assert rd.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)  # clamped
    assert rd.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert rd.add_months(date(2026, 3, 15), -3) == date(2025, 12, 15)
    for bad in ("2026-3-15", "2026-02-30", "yesterday"):
        with pytest.raises(InvalidInput):
            rd.day_range_ms(bad)


def _row(recording_id: str, started_at_ms: int, **changes: object) -> rd.RecordingRow:
    row = rd.RecordingRow(
        recording_id,
        "KM",
        f"call_{recording_id}",
        f"sip-{recording_id}",
        ("caller",),
        ("KM-0130",),
        "complaint",
        started_at_ms,
        started_at_ms + 2000,
        2000,
        f"x/{recording_id}.pcap",
        10,
        "0" * 64,
        started_at_ms + 2500,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def test_past_retention_counts_calendar_months_in_beijing() -> None:
    rows = [_row("a", MARCH_15 + 3_600_000), _row("b", MARCH_15 + DAY_MS)]
    june_15 = rd.day_range_ms("2026-06-15")[0]
    assert rd.expires_at_ms(rows[0].started_at_ms, 3) == june_15
    assert rd.past_retention(rows, june_15 - 1, 3) == []
    assert rd.past_retention(rows, june_15, 3) == [rows[0]]
    assert rd.past_retention(rows, june_15 + DAY_MS, 3) == rows
    swept = replace(rows[0], swept_at_ms=june_15)
    assert rd.past_retention([swept], june_15 + DAY_MS, 3) == []  # once
    with pytest.raises(InvalidInput):
        rd.past_retention(rows, june_15, 0)
    # the query bound never leaves out a row due, even when a short month clamps
    nov_30 = rd.day_range_ms("2026-11-30")[0]
    feb_28 = rd.expires_at_ms(nov_30, 3)
    assert rd.beijing_date(feb_28) == date(2027, 2, 28)
    assert rd.sweep_candidates_before_ms(feb_28, 3) > nov_30


def test_reports_refused_with_the_field() -> None:
    good = rd.RecordingReport("call_1", SIP_ID, "KM-0130", 1000, 3000)
    rd.check_report(good)
    for bad, field in (
        (replace(good, call_id=""), "call_id"),
        (replace(good, sip_call_id="has space"), "sip_call_id"),
        (replace(good, agent_id="../x"), "agent_id"),
        (replace(good, started_at_ms=4000), "started_at_ms"),
        (replace(good, legs=("caller", "caller")), "legs"),
        (replace(good, legs=("video",)), "legs"),
    ):
        with pytest.raises(InvalidInput) as err:
            rd.check_report(bad)
        assert err.value.field == field


def test_the_example_province_keeps_recordings_three_months() -> None:
    province = load_province_file(example_province_path())
    assert province.quality.recording_retention_months == 3
    text = example_province_path().read_text()
    line = "recording_retention_months = 3"
    assert line in text
    changed = parse_province(text.replace(line, "recording_retention_months = 6"))
    assert changed.quality.recording_retention_months == 6
    with pytest.raises(ConfigError, match="recording_retention_months"):
        parse_province(text.replace(line, "recording_retention_months = 0"))


# -- the site's service ----------------------------------------------------------------


async def _site(tmp_path: Path) -> tuple[RecordingService, MemorySiteStore, ManualClock]:
    province = load_province_file(example_province_path())
    clock = ManualClock(MARCH_15 / 1000 + 36_000)  # 10:00 Beijing
    store = MemorySiteStore("KM")
    core = SiteCore(province, "KM", store, clock)
    call = CallRecord(
        call_id="call_1",
        site_id="KM",
        entry_site="KM",
        home_site="KM",
        caller_number="19871000001",
        dialed_code="1000",
        business_id="complaint",
        customer_id=None,
        tier="ordinary",
        priority="ordinary",
        state="ended",
        arrival_at_ms=core.now_ms() - 10_000,
        answered_at_ms=core.now_ms() - 3000,
        ended_at_ms=core.now_ms(),
        agent_id="KM-0130",
    )
    await store.commit(UnitOfWork().add(call))
    return RecordingService(core, tmp_path / "recordings"), store, clock


def _relay_writes(service: RecordingService, sip_call_id: str) -> bytes:
    """A pcap as the media relay leaves it (the name %-escaped, a random tail)."""
    service.pcaps.mkdir(parents=True, exist_ok=True)
    data = pcap([rtp(1.0 + i * 0.02, 7, 160 * i, 8, b"\xd5" * 160) for i in range(101)])
    stem = sip_call_id.replace("@", "%40") + "-5f2a9c01d2e3b4a5"
    (service.pcaps / f"{stem}.pcap").write_bytes(data)
    (service.folder / "metadata").mkdir(exist_ok=True)
    (service.folder / "metadata" / f"rtpengine-meta-{stem}.txt").write_text("CALL-ID\n")
    return data


def _audits(store: MemorySiteStore) -> list[AuditRecord]:
    rows: list[AuditRecord] = list(store.tables["audit"].values())
    return sorted(rows, key=lambda a: a.at_ms)


async def test_a_reported_recording_is_filed_with_its_metadata(tmp_path: Path) -> None:
    service, store, clock = await _site(tmp_path)
    report = rd.RecordingReport("call_1", SIP_ID, "KM-0130", 1_000, 3_000)
    with pytest.raises(NotFound):  # the relay has not closed its file yet
        await service.report(report, "edge:sip-KM")
    data = _relay_writes(service, SIP_ID)
    row = await service.report(report, "edge:sip-KM")
    assert row.agents == ("KM-0130",) and row.business_id == "complaint"
    assert row.legs == ("caller",) and row.duration_ms == 2000  # the packets' span
    assert row.size_bytes == len(data) and row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.stored_at_ms == clock.now() * 1000
    assert row.file_path == f"1970-01-01/{row.recording_id}.pcap"  # by its start (Beijing)
    assert (service.folder / row.file_path).read_bytes() == data
    assert not list(service.pcaps.iterdir())  # moved out of the relay's folder
    assert not list((service.folder / "metadata").iterdir())  # the relay's own: not kept
    assert await service.report(report, "edge:sip-KM") == row  # a repeat: the same row
    assert [(a.actor, a.action, a.subject) for a in _audits(store)] == [
        ("edge:sip-KM", "recording_stored", "call_1")
    ]


async def _filed(service: RecordingService, clock: ManualClock) -> rd.RecordingRow:
    now = round(clock.now() * 1000)
    report = rd.RecordingReport("call_1", SIP_ID, "KM-0130", now - 3000, now)
    _relay_writes(service, SIP_ID)
    return await service.report(report, "edge:sip-KM")


async def test_inspectors_list_and_play_audited(tmp_path: Path) -> None:
    service, store, clock = await _site(tmp_path)
    row = await _filed(service, clock)
    qa = "person:KM-QA-0001"
    assert await service.listing(RecordingQuery(agent_id="KM-0130"), "2026-03-15", qa) == [row]
    assert await service.listing(RecordingQuery(business_id="bill"), "", qa) == []
    assert await service.listing(RecordingQuery(), "2026-03-16", qa) == []
    with pytest.raises(InvalidInput):
        await service.listing(RecordingQuery(limit=5000), "", qa)
    wav = b"".join([c async for c in await service.play(row.recording_id, True, qa)])
    assert wav[:4] == b"RIFF" and struct.unpack("<I", wav[40:44])[0] == 2 * 160 * 101
    raw = b"".join([c async for c in await service.play(row.recording_id, False, qa)])
    assert hashlib.sha256(raw).hexdigest() == row.sha256
    with pytest.raises(NotFound):
        await service.play("rec_unknown", True, qa)
    actions = [(a.actor, a.action) for a in _audits(store)][1:]
    assert actions == [(qa, "recordings_listed")] * 3 + [(qa, "recording_played")] * 2


async def test_the_sweep_deletes_files_past_retention_and_marks_rows(tmp_path: Path) -> None:
    service, store, clock = await _site(tmp_path)
    row = await _filed(service, clock)
    path = service.folder / row.file_path
    assert await service.sweep() == 0
    clock.advance((rd.expires_at_ms(row.started_at_ms, 3) - clock.now() * 1000) / 1000 - 1)
    assert await service.sweep() == 0 and path.exists()  # a second before retention ends
    clock.advance(1)
    assert await service.sweep() == 1
    assert not path.exists()
    swept = store.tables["recordings"][(row.recording_id,)]
    assert swept.swept_at_ms == round(clock.now() * 1000)
    assert await service.sweep() == 0  # once
    qa = "person:KM-QA-0001"
    assert await service.listing(RecordingQuery(), "", qa) == []
    assert await service.listing(RecordingQuery(include_swept=True), "", qa) == [swept]
    with pytest.raises(NotFound):
        await service.play(row.recording_id, True, qa)
    sweeps = [a for a in _audits(store) if a.action == "recordings_swept"]
    assert len(sweeps) == 1 and sweeps[0].actor == "retention"


async def _sql_service(tmp_path: Path, clock: ManualClock) -> RecordingService:
    store = await SqlSiteStore.open(f"sqlite:///{tmp_path / 'site-KM.db'}", "KM")
    province = load_province_file(example_province_path())
    return RecordingService(SiteCore(province, "KM", store, clock), tmp_path / "recordings")


async def test_recordings_and_their_rows_survive_a_restart(tmp_path: Path) -> None:
    """On the SQL store (SQLite here; the schema is checked on PostgreSQL in
    test_site_store): filed, the store closed, a new site over the same folder and
    database lists and plays it."""
    clock = ManualClock(MARCH_15 / 1000 + 36_000)
    first = await _sql_service(tmp_path, clock)
    now = round(clock.now() * 1000)
    data = _relay_writes(first, SIP_ID)
    report = rd.RecordingReport("call_9", SIP_ID, "KM-0130", now - 2000, now)
    row = await first.report(report, "edge:sip-KM")
    await first.core.store.close()
    again = await _sql_service(tmp_path, clock)
    try:
        qa = "person:KM-QA-0001"
        assert await again.listing(RecordingQuery(agent_id="KM-0130"), "2026-03-15", qa) == [row]
        clock.advance(1)  # the audit lists by time (then by random ID): played after stored
        raw = b"".join([c async for c in await again.play(row.recording_id, False, qa)])
        assert raw == data
        assert [a.action for a in await again.core.store.audit("call_9")] == [
            "recording_stored",
            "recording_played",
        ]
    finally:
        await again.core.store.close()


# -- the SIP agent's side ---------------------------------------------------------------


def test_the_anchor_tells_the_reporter_once_the_file_is_closed() -> None:
    told: list[tuple[Recording, list[str]]] = []
    ng = FakeNg()
    media = MediaAnchor(ng, clock=lambda: 100.0)
    media.on_recorded = lambda rec: told.append((rec, [c for c, _ in ng.sent]))
    media.anchor(SIP_ID, "caller sdp", "site sdp")
    media.record(SIP_ID, "call_1", "KM-0130")
    assert not told
    media.release(SIP_ID)
    ((rec, sent_before),) = told
    assert sent_before[-1] == "delete"  # after rtpengine closed the pcap
    request = report_request(replace(rec, ended_at=102.25))
    assert (request.call_id, request.sip_call_id, request.agent_id) == ("call_1", SIP_ID, "KM-0130")
    assert (request.started_at_ms, request.ended_at_ms) == (100_000, 102_250)
    assert list(request.legs) == ["caller"]


class _FakeQuality:
    def __init__(self, answers: list[grpc.StatusCode | None]) -> None:
        self.answers = answers
        self.calls = 0

    async def ReportRecording(self, request: Any, **options: Any) -> qp.Recording:
        self.calls += 1
        code = self.answers.pop(0)
        if code is not None:
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no")
        return qp.Recording(recording_id="rec_1", call_id=request.call_id)


@pytest.mark.parametrize(
    ("answers", "calls", "filed"),
    [
        ([grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE, None], 3, True),
        ([grpc.StatusCode.PERMISSION_DENIED, None], 1, False),  # refused: not retried
        ([grpc.StatusCode.NOT_FOUND] * 3, 3, False),  # gave up after its attempts
    ],
)
async def test_the_reporter_retries_while_the_file_closes_or_the_site_is_away(
    monkeypatch: pytest.MonkeyPatch, answers: list[grpc.StatusCode | None], calls: int, filed: bool
) -> None:
    fake = _FakeQuality(answers)
    monkeypatch.setattr(qg, "QualityStub", lambda _channel: fake)
    reporter = RecordingReporter("127.0.0.1:9", attempts=3, first_wait_s=0.001)
    try:
        rec = Recording(SIP_ID, "call_1", "KM-0130", 100.0, 102.0)
        found = await reporter.report(rec)
    finally:
        await reporter.close()
    assert fake.calls == calls and (found is not None) == filed
