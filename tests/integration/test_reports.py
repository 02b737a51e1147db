"""Statistics and settlement at a real hub fed site events over JetStream.

A hub process (real NATS, etcd) receives CDR and agent-state events of two sites; the
``Reports`` service and the ``vcc report`` / ``vcc settle`` CLI answer from the
aggregates. Closing a period twice gives the same statement; a late CDR becomes an
adjustment of the next period; re-delivering every event changes nothing; reconciliation
passes, and fails after an aggregate row is tampered with. Reports read roll-ups: on
SQLite and PostgreSQL they equal a recomputation from the raw CDRs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.site import example_province_path, until
from tests.integration.test_event_replication import HubProcess, _publish_all
from vcc_domain.clock import ManualClock
from vcc_domain.province import Province, load_province_file
from vcc_domain.rating import build_statement, period_bounds_ms, rate_cdr, settle_into
from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import AgentStateRow, Cdr, StatsConfig, recompute
from vcc_failover.leadership import StaticLeadership
from vcc_hub.adapters.events_apply import apply_batch, load_tracker
from vcc_hub.service.aggregator import Aggregator, target_of, tariff_of
from vcc_hub.service.report_render import render
from vcc_hub.service.report_views import build
from vcc_hub.store import report_tables as rt
from vcc_hub.store import reports as store
from vcc_hub.store.reports import Loaded
from vcc_ops.bench.report import generate
from vcc_ops.bench.report_ingest import create_hub_db, site_events
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.channels import open_channel
from vcc_proto.v1 import events_pb2 as pb
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_replication.db import make_engine
from vcc_replication.events import SiteEvent, event
from vcc_replication.jetstream import connect
from vcc_replication.streams import SITE_EVENTS_STREAM

pytestmark = pytest.mark.integration

OCT_START, OCT_END = period_bounds_ms("2026-10")
NATS_URL: list[str] = []


class Feed:
    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.events: list[SiteEvent] = []
        self.cdrs: list[dict[str, Any]] = []

    def emit(self, site: str, kind: str, aggregate: str, at_ms: int, body: Message) -> None:
        seq = self.seq[site] = self.seq.get(site, 0) + 1
        self.events.append(event(site, seq, f"evt_{site}_{seq:06d}", kind, aggregate, at_ms, body))

    def call(
        self,
        i: int,
        site: str,
        home: str,
        at: int,
        *,
        outcome: str = "answered",
        wait_ms: int = 8_000,
        talk_ms: int = 100_000,
        tier: str = "ordinary",
        business: str = "general",
    ) -> None:
        answered = outcome == "answered"
        agent = f"{site}-{i % 3:04d}"
        call_id = f"call_{site}_{i:04d}"
        end = at + wait_ms + (talk_ms if answered else 0)
        cdr = {
            "cdr_id": f"cdr_{site}_{i:04d}",
            "call_id": call_id,
            "site_id": site,
            "home_site": home,
            "entry_site": home,
            "business_id": business,
            "tier": tier,
            "caller_masked": "137****0000",
            "outcome": outcome,
            "arrival_at_ms": at,
            "answered_at_ms": at + wait_ms if answered else 0,
            "ended_at_ms": end,
            "wait_ms": wait_ms,
            "ring_ms": 3_000 if answered else 0,
            "talk_ms": talk_ms if answered else 0,
            "hold_ms": 0,
            "agent_id": agent if answered else "",
            "transferred": False,
            "overflowed": site != home,
            "ivr_path": [],
        }
        if answered:
            self.emit(
                site,
                "agent.state",
                agent,
                at + wait_ms,
                pb.AgentStateChanged(agent_id=agent, state="busy", call_id=call_id),
            )
            self.emit(
                site,
                "agent.state",
                agent,
                end,
                pb.AgentStateChanged(agent_id=agent, state="wrap_up", call_id=call_id),
            )
            self.emit(
                site,
                "agent.state",
                agent,
                end + 20_000,
                pb.AgentStateChanged(agent_id=agent, state="ready", call_id=""),
            )
        self.emit(
            site,
            "cdr.created",
            call_id,
            end,
            pb.CdrCreated(call=pb.CallInfo(call_id=call_id, state="ended"), cdr=pb.Cdr(**cdr)),
        )
        self.cdrs.append(cdr)


def reports_snapshot(hub: HubProcess) -> dict[str, Any]:
    return {
        "intervals": hub.rows("SELECT * FROM report_intervals ORDER BY 1, 2, 3, 4"),
        "agents": hub.rows("SELECT * FROM report_agents ORDER BY 1, 2, 3"),
        "open": hub.rows("SELECT * FROM report_agent_open ORDER BY 1, 2"),
        "cursor": hub.rows("SELECT site, seq FROM report_cursor ORDER BY 1"),
        "charges": hub.rows(
            "SELECT site_id, call_id, period_id, access_fen, handling_fee_fen, "
            "adjustment FROM call_charges ORDER BY 1, 2"
        ),
        "periods": hub.rows(
            "SELECT period_id, closed_at_ms, statement FROM settlement_periods ORDER BY 1"
        ),
    }


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcc_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=test_tls.ops_env(),
    )


async def reached(hub: HubProcess, feed: Feed) -> bool:
    try:
        got = dict(hub.rows("SELECT site, seq FROM report_cursor"))
    except sqlite3.OperationalError:
        return False
    return all(got.get(s, 0) >= n for s, n in feed.seq.items())


async def test_reports_settlement_and_reconciliation(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> None:
    NATS_URL[:] = [nats_server.url]
    province = load_province_file(example_province_path())
    feed = Feed()
    base = OCT_START + 9 * 3_600_000  # 2026-10-01 09:00 Beijing
    for i in range(12):
        feed.call(i, "KM", "KM", base + i * 120_000, talk_ms=60_000 + i * 10_000)
    feed.call(20, "KM", "KM", base + 5_000, outcome="abandoned", wait_ms=4_999, talk_ms=0)
    feed.call(21, "KM", "KM", base + 6_000, outcome="abandoned", wait_ms=5_000, talk_ms=0)
    for i in range(6):  # QJ serves KM's and DL's callers (overflow)
        feed.call(
            100 + i,
            "QJ",
            "KM" if i % 2 else "DL",
            base + 900_000 + i * 60_000,
            talk_ms=181_000,
            tier="vip",
        )
    hub = HubProcess(tmp_path, nats_server.url, etcd_server.endpoint)
    await hub.astart()
    try:
        await _publish_all(nats_server.url, [(e, e.event_id) for e in feed.events])
        await until(lambda: reached(hub, feed), "aggregation", timeout_s=60)

        async with open_channel(hub.target) as channel:
            stub = hg.ReportsStub(channel)
            rep = await stub.GetReport(
                h.GetReportRequest(
                    view=h.REPORT_VIEW_PROVINCE,
                    from_at_ms=OCT_START,
                    to_at_ms=OCT_END,
                    format=h.REPORT_FORMAT_JSON,
                ),
                timeout=30,
            )
            data = json.loads(rep.content)
            rows = {r["site"]: r for r in data["rows"]}
            assert rows["KM"]["offered"] == 14 and rows["KM"]["answered"] == 12
            assert (rows["KM"]["short_abandoned"], rows["KM"]["abandoned"]) == (1, 1)
            assert rows["QJ"]["overflow_in"] == 6
            assert rows["PROVINCE"]["offered"] == 20
            assert rows["KM"]["avg_acw_s"] == 20.0
            assert data["sqi"]["PROVINCE"]["components"][0]["name"] == "service_level"
            csv_rep = await stub.GetReport(
                h.GetReportRequest(
                    view=h.REPORT_VIEW_SITE,
                    from_at_ms=OCT_START,
                    to_at_ms=OCT_END,
                    format=h.REPORT_FORMAT_CSV,
                ),
                timeout=30,
            )
            assert csv_rep.content.decode().splitlines()[0].startswith("site,business,tier")
            html_rep = await stub.GetReport(
                h.GetReportRequest(
                    view=h.REPORT_VIEW_PROVINCE,
                    from_at_ms=OCT_START,
                    to_at_ms=OCT_END,
                    format=h.REPORT_FORMAT_HTML,
                ),
                timeout=30,
            )
            page = html_rep.content.decode()
            assert "<svg" in page and 'id="chart-sl"' in page and "<script" not in page

            expected = build_statement(
                "2026-10",
                [rate_cdr(Cdr.from_mapping(c), province.tariff_on) for c in feed.cdrs],
                [s.id for s in province.sites],
            )
            first = await stub.CloseSettlement(h.SettlementPeriod(period_id="2026-10"), timeout=30)
            again = await stub.CloseSettlement(h.SettlementPeriod(period_id="2026-10"), timeout=30)
            assert first == again and first.closed
            assert first.total_access_fen == expected.total_access_fen
            assert first.total_handling_fee_fen == expected.total_handling_fee_fen > 0
            assert sum(p.net_fen for p in first.positions) == 0

        # CLI: report formats and statement
        out = cli(
            "report",
            "province",
            "--hub",
            hub.target,
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            "--format",
            "csv",
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("site,offered")
        page_file = tmp_path / "report.html"
        out = cli(
            "report",
            "province",
            "--hub",
            hub.target,
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            "--format",
            "html",
            "--out",
            str(page_file),
        )
        assert out.returncode == 0 and "<svg" in page_file.read_text()
        out = cli("settle", "statement", "2026-10", "--hub", hub.target)
        assert out.returncode == 0 and json.loads(out.stdout)["closed"] is True
        out = cli("settle", "close", "2026-10", "--hub", hub.target)
        assert json.loads(out.stdout)["closed_at_ms"] == str(first.closed_at_ms)

        # a late CDR of October → adjustment in November
        before = len(feed.events)
        feed.call(300, "QJ", "KM", base + 3_600_000, talk_ms=30_000)
        await _publish_all(nats_server.url, [(e, e.event_id) for e in feed.events[before:]])
        await until(lambda: reached(hub, feed), "the late CDR", timeout_s=60)
        late = hub.rows(
            "SELECT period_id, adjustment, original_period FROM call_charges "
            "WHERE call_id = 'call_QJ_0300'"
        )
        assert late == [("2026-11", 1, "2026-10")]
        async with open_channel(hub.target) as channel:
            stub = hg.ReportsStub(channel)
            oct_again = await stub.GetStatement(h.SettlementPeriod(period_id="2026-10"), timeout=30)
            nov = await stub.GetStatement(h.SettlementPeriod(period_id="2026-11"), timeout=30)
        assert oct_again == first
        assert nov.adjustments_fen > 0 and not nov.closed and nov.calls == 1

        # re-delivering every event changes nothing
        snap = reports_snapshot(hub)
        await _publish_all(nats_server.url, [(e, e.event_id + "~again") for e in feed.events])
        await until(lambda: _inbox_settled(hub), "re-delivery consumed", timeout_s=60)
        assert reports_snapshot(hub) == snap

        for period in ("2026-10", "2026-11"):
            out = cli("report", "reconcile", period, "--hub", hub.target)
            assert out.returncode == 0, out.stdout + out.stderr
        hub.rows("UPDATE report_intervals SET answered = answered + 1 WHERE site_id = 'KM'")
        out = cli("report", "reconcile", "2026-10", "--hub", hub.target)
        assert out.returncode == 1 and "DIFF figure KM" in out.stdout
    finally:
        hub.stop()


async def _inbox_settled(hub: HubProcess) -> bool:
    """Every re-delivered message has been handled: the hub's durable consumer has nothing
    pending or unacknowledged (then one more poll interval for the aggregator)."""
    nc = await connect(NATS_URL[0], "test-pending")
    try:
        info = await nc.jetstream().consumer_info(SITE_EVENTS_STREAM, "vcc-hub-events")
    finally:
        await nc.drain()
    if info.num_pending or info.num_ack_pending:
        return False
    await asyncio.sleep(1.0)
    return True


# -- roll-ups against a recomputation from raw CDRs ------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("postgres_server").create_database(
        f"reports_{uuid.uuid4().hex[:12]}"
    )
    return url


def _with_id(e: SiteEvent, event_id: str) -> SiteEvent:
    copy = SiteEvent()
    copy.CopyFrom(e)
    copy.event_id = event_id
    return copy


async def _apply(engine: AsyncEngine, events: list[SiteEvent]) -> int:
    """Apply events as the hub's consumer does (batches, one fenced transaction each)."""
    async with engine.connect() as conn:
        tracker = await load_tracker(conn, 0.0)
    applied = 0
    for i in range(0, len(events), 1_000):
        async with engine.begin() as conn:
            new = await apply_batch(conn, 1, events[i : i + 1_000], tracker, 0)
        for e in new:
            tracker.observe(e.site, e.seq, 0.0)
        applied += len(new)
    return applied


ROLLUP_TABLES = (
    "report_intervals",
    "report_agents",
    "report_agent_open",
    "report_cursor",
    "report_days",
    "report_site_intervals",
    "report_agent_days",
    "report_site_agent_intervals",
    "charge_days",
    "charge_buckets",
)


async def _snapshot(engine: AsyncEngine, tables: tuple[str, ...]) -> dict[str, list[Any]]:
    async with engine.connect() as conn:
        return {
            name: sorted(tuple(r) for r in await conn.execute(text(f"SELECT * FROM {name}")))
            for name in tables
        }


def _renamed(cdrs: list[Cdr], prefix: str) -> list[Cdr]:
    return [replace(c, call_id=prefix + c.call_id, cdr_id=prefix + c.cdr_id) for c in cdrs]


async def test_report_from_rollups_equals_recomputation_from_raw_cdrs(hub_url: str) -> None:
    """Generated calls of September (rated after September closed: adjustments) and
    October go through the hub's apply and aggregation steps; every view, over whole
    months, ragged ranges, sites and one agent, rendered from the roll-ups equals the same
    view rendered from figures and charges recomputed from the raw CDRs and agent states.
    Statements and reconciliation agree; re-applying changes nothing; the migration's
    backfill gives the same roll-ups as the aggregator; a tampered roll-up is reported."""
    province = load_province_file(example_province_path())
    config = StatsConfig()
    sep = _renamed([c for ch in generate(province, "2026-09", 300, seed=11) for c in ch], "s")
    oct_ = [c for ch in generate(province, "2026-10", 2_500, seed=12) for c in ch]
    cdrs = sep + oct_
    by_site = site_events(cdrs)
    events = sorted((e for es in by_site.values() for e in es), key=lambda e: (e.seq, e.site))
    await create_hub_db(hub_url)
    engine = make_engine(hub_url)
    leader = StaticLeadership()

    async def source() -> Province:
        return province

    aggregator = Aggregator(engine, lambda: leader, ManualClock(1_790_000_000.0), source, config)
    try:
        await store.close_period(aggregator, "2026-09", "test", province, 1)
        assert await _apply(engine, events) == len(events)
        while await aggregator.step():
            pass

        states = [
            AgentStateRow(e.site, e.seq, e.agent_state.agent_id, e.agent_state.state, e.at_ms)
            for e in events
            if e.kind == "agent.state"
        ]
        again = recompute(cdrs, states, target_of(province), config)
        charges = [settle_into(rate_cdr(c, tariff_of(province)), {"2026-09"}) for c in cdrs]
        assert sum(c.adjustment for c in charges) == len(sep)
        agent = next(k[1] for k in sorted(again.agents) if k[0] == "QJ")
        sep0, _ = period_bounds_ms("2026-09")
        day = 86_400_000
        ragged = (OCT_START + 2 * day + 83_123, OCT_START + 16 * day + 49_012_345)
        inside = (OCT_START + 5 * day + 7_777_777, OCT_START + 5 * day + 30_000_000)
        cases: list[tuple[str, int, int, list[str], str]] = [
            (v, OCT_START, OCT_END, [], "") for v in ("province", "site", "agent", "interval")
        ]
        cases += [
            ("province", sep0, OCT_END, [], ""),
            ("province", *ragged, [], ""),
            ("interval", *ragged, [], ""),
            ("agent", *ragged, ["KM", "QJ"], ""),
            ("site", *inside, [], ""),
            ("interval", *inside, ["DL"], ""),
            ("province", OCT_START, OCT_END, ["QJ"], agent),
            ("interval", *ragged, [], agent),
            ("province", *inside, ["HH", "YX"], ""),
        ]
        for view, lo, hi, sites, who in cases:
            async with engine.connect() as conn:
                got = await store.load(
                    conn, lo, hi, sites, who, per_interval_agents=view == "interval"
                )

            def keep(site: str, at: int) -> bool:
                return lo <= at < hi and (not sites or site in sites)  # noqa: B023

            want = Loaded(
                {k: f for k, f in again.stats.items() if keep(k[0], k[3])},
                {
                    k: a
                    for k, a in again.agents.items()
                    if keep(k[0], k[2]) and (not who or k[1] == who)
                },
                [
                    c
                    for c in charges
                    if lo <= c.arrival_at_ms < hi
                    and (not sites or c.site_id in sites or c.home_site in sites)
                ],
                got.as_of_ms,
            )
            rendered = [
                render(
                    build(view, d, target_of(province), SqiConfig(), config.interval_ms, lo, hi),
                    "json",
                )
                for d in (got, want)
            ]
            assert rendered[0] == rendered[1], (view, lo, hi, sites, who)
            assert json.loads(rendered[0])["rows"], (view, lo, hi, sites, who)

        sites = [s.id for s in province.sites]
        async with engine.connect() as conn:
            assert await store.statement(conn, "2026-10", province) == build_statement(
                "2026-10", charges, sites
            )
            for period in ("2026-09", "2026-10"):
                assert await store.reconcile(conn, period, province, config) == []

        snap = await _snapshot(engine, ROLLUP_TABLES)
        again_ids = [_with_id(e, e.event_id + "~again") for e in events]
        assert await _apply(engine, events + again_ids) == 0
        assert await aggregator.step() == 0
        assert await _snapshot(engine, ROLLUP_TABLES) == snap

        # the 0002 backfill gives the same roll-ups; 0003's ready/staffed times are lost
        # by going below it and come back as 0 (occupancy unknown for those rows)
        async with engine.begin() as conn:
            for table in ("report_agents", "report_agent_days", "report_site_agent_intervals"):
                await conn.execute(text(f"UPDATE {table} SET ready_ms = 0, staffed_ms = 0"))
        snap = await _snapshot(engine, ROLLUP_TABLES)
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda c: command.downgrade(rt.MIGRATIONS.config(c), "reports_0001")
            )
        await rt.MIGRATIONS.upgrade(engine)
        assert await _snapshot(engine, ROLLUP_TABLES) == snap

        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE report_days SET offered = offered + 1 WHERE site_id = 'QJ'")
            )
            await conn.execute(
                text("UPDATE charge_buckets SET calls = calls + 1 WHERE site_id = 'DL'")
            )
        async with engine.connect() as conn:
            items = [d.item for d in await store.reconcile(conn, "2026-10", province, config)]
        assert any(i.startswith("rollup day QJ/") and i.endswith(" offered") for i in items)
        assert any(i.startswith("rollup charge bucket DL/") for i in items)
    finally:
        await engine.dispose()
