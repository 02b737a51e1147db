"""The week's schedule published to a site's team leaders, through the public gRPC API of
the package's real province (see ``conftest``): at Kunming (SQLite) and Dali (PostgreSQL).

The operator tool publishes; a team leader signed in reads it back whole; an agent reads
only their own shifts and may not publish; a bad schedule is refused with the field named
and leaves the published one as it was.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.linked import LinkedSite, Province
from tests.integration._helpers.site import signed_in
from vcc_domain.schedule import INTERVAL_MS, WEEK
from vcc_ops.cli import main
from vcc_proto.channels import open_channel
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import quality_pb2 as q
from vcc_proto.v1 import quality_pb2_grpc as qg

WEEK_MS = 1_796_572_800_000  # Monday 2026-12-07 00:00 Beijing
# site: team leader, two call takers (another test's leaders and agents are others)
PEOPLE = {"KM": ("KM-0192", "KM-0137", "KM-0001"), "DL": ("DL-0060", "DL-0037", "DL-0001")}
HOUR = 4 * INTERVAL_MS
SITES = pytest.mark.parametrize("site_id", ["KM", "DL"])  # SQLite, PostgreSQL


def _shift(agent: str, start_h: int) -> q.ScheduleShift:
    start = WEEK_MS + start_h * HOUR
    return q.ScheduleShift(
        agent_id=agent,
        start_ms=start,
        end_ms=start + 8 * HOUR,
        break_start_ms=start + 4 * HOUR,
        break_end_ms=start + 4 * HOUR + 2 * INTERVAL_MS,
    )


def _week(*shifts: q.ScheduleShift, week: int = WEEK_MS) -> q.Schedule:
    return q.Schedule(
        week_start_ms=week,
        shifts=list(shifts),
        on_phone=[1] * WEEK,
        predicted_sl_bp=[8500] * WEEK,
    )


@pytest.fixture
def site(province: Province, site_id: str) -> LinkedSite:
    return province.km if site_id == "KM" else province.dl


@pytest.fixture
async def channel(site: LinkedSite) -> AsyncIterator[grpc.aio.Channel]:
    async with open_channel(site.target) as ch:
        yield ch


async def _refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value


@SITES
async def test_published_schedule_is_read_by_the_team_leader_and_bad_ones_change_nothing(
    channel: grpc.aio.Channel, site: LinkedSite, site_id: str
) -> None:
    LEADER, AGENT, OTHER = PEOPLE[site_id]
    stub, people = qg.QualityStub(channel), pg.PeopleStub(channel)
    published = await stub.PublishSchedule(
        _week(_shift(AGENT, 8), _shift(AGENT, 32), _shift(OTHER, 8), _shift("", 16))
    )
    assert published.site_id == site_id and published.published_at_ms > 0

    leader = await signed_in(people, site.target, LEADER)
    read = await stub.GetSchedule(q.GetScheduleRequest(week_start_ms=WEEK_MS), metadata=leader)
    assert len(read.shifts) == 4 and list(read.shifts) == list(published.shifts)
    assert len(read.predicted_sl_bp) == WEEK and read.predicted_sl_bp[40] == 8500

    agent = await signed_in(people, site.target, AGENT)
    mine = await stub.GetSchedule(q.GetScheduleRequest(week_start_ms=WEEK_MS), metadata=agent)
    assert {s.agent_id for s in mine.shifts} == {AGENT} and len(mine.shifts) == 2
    denied = await _refused(stub.PublishSchedule(_week(), metadata=agent))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED

    bad = {
        "shifts[1]": _week(_shift(AGENT, 8), _shift(AGENT, 12)),  # overlapping
        "shifts[0]": _week(_shift("NOBODY-1", 8)),  # not an agent of the site
        "week_start_ms": _week(week=WEEK_MS + 86_400_000),  # a Tuesday
        "on_phone": q.Schedule(week_start_ms=WEEK_MS, on_phone=[1] * (WEEK + 1)),
    }
    for field, schedule in bad.items():
        err = await _refused(stub.PublishSchedule(schedule))
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in (err.details() or ""), (field, err.details())
    again = await stub.GetSchedule(q.GetScheduleRequest(week_start_ms=WEEK_MS), metadata=leader)
    assert again == read


@SITES
def test_vcc_schedule_publish_sends_a_planned_week_and_reports_a_refusal(
    site: LinkedSite, site_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VCC_TLS_DIR", str(test_tls.cert_dir("ops", test_tls.OPS_ID)))
    week = WEEK_MS + 7 * 86_400_000  # the week after the other test's
    shift = {
        "agent_id": PEOPLE[site_id][2],
        "start_ms": week,
        "end_ms": week + 8 * HOUR,
        "break_start_ms": week + 4 * HOUR,
        "break_end_ms": week + 4 * HOUR + 2 * INTERVAL_MS,
    }
    plan = {
        "site": site_id,
        "week_start_ms": week,
        "shifts": [shift],
        "intervals": [{"on_phone": 1, "predicted_sl": 0.85}] * WEEK,
    }
    good, bad = tmp_path / "week.json", tmp_path / "bad.json"
    good.write_text(json.dumps(plan))
    bad.write_text(json.dumps({**plan, "shifts": [{**shift, "agent_id": "NOBODY-1"}]}))
    args = ["schedule", "publish", "--site-endpoint", site.target, "--workdir", str(tmp_path)]
    done = CliRunner().invoke(main, [*args, str(good)])
    assert done.exit_code == 0, done.output
    assert f"published week {week} at {site_id}: 1 shifts" in done.output
    refused = CliRunner().invoke(main, [*args, str(bad)])
    assert refused.exit_code == 2, refused.output
    assert "INVALID_ARGUMENT" in refused.output and "shifts[0]" in refused.output
