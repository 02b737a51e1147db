"""The demo's final report: the hub's consolidated figures checked against the edge.

Per site and for the province (JSON fields documented in the README):
``offered, answered, abandoned, service_level, asa_s, aht_s, transfer_rate, overflow_in,
overflow_out, occupancy`` come from the hub's province report over the demo's time range
(province time; ``offered`` counts each site's CDR, so a call that overflowed or was
transferred counts at both sites, while ``calls_placed`` counts the distinct calls the
access edge placed at the site); ``cdrs_at_hub`` counts the hub's CDRs of the calls the access edge placed at the
site, and ``cdrs_missing`` the calls the edge saw end (or lost) with no CDR at the hub,
which must be 0. Times are province seconds; ``wall`` repeats them divided by the speed-up.
The settlement part is the hub's statement of every month the range touches.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc.aio
import sqlalchemy as sa

from vcc_domain.rating import BEIJING
from vcc_ops.demo.schedule_check import schedule_lines
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_site.edge.ledger import EdgeCall

FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "transfer_rate",
    "overflow_in",
    "overflow_out",
    "occupancy",
)
TIMES = ("asa_s", "aht_s")


def periods_between(from_ms: int, to_ms: int) -> list[str]:
    """The settlement months (Beijing time) that [from_ms, to_ms] touches."""
    out: list[str] = []
    for ms in (from_ms, to_ms):
        period = datetime.fromtimestamp(ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m")
        if period not in out:
            out.append(period)
    return out


def hub_cdr_calls(hub_db: Path, from_ms: int) -> dict[str, list[str]]:
    """call ID -> sites with a CDR of it at the hub (CDRs that arrived from ``from_ms``)."""
    engine = sa.create_engine(f"sqlite:///{hub_db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT call_id, site_id FROM cdrs WHERE arrival_at_ms >= :f"),
                {"f": from_ms},
            )
            out: dict[str, list[str]] = defaultdict(list)
            for call_id, site_id in rows:
                out[call_id].append(site_id)
            return dict(out)
    finally:
        engine.dispose()


def cdr_check(ledger: dict[str, EdgeCall], cdrs: dict[str, list[str]]) -> dict[str, Counter[str]]:
    """Per entry site: calls placed, with CDRs at the hub, and ended/lost with none."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for call in ledger.values():
        if not call.site_id:
            continue  # refused: no site ever had it
        row = out[call.site_id]
        row["placed"] += 1
        if call.call_id in cdrs:
            row["cdrs_at_hub"] += 1
        elif call.state in ("ended", "lost"):
            row["cdrs_missing"] += 1
    return out


async def hub_report(
    channel: grpc.aio.Channel,
    from_ms: int,
    to_ms: int,
    fmt: h.ReportFormat.ValueType = h.REPORT_FORMAT_JSON,
) -> bytes:
    reply = await hg.ReportsStub(channel).GetReport(
        h.GetReportRequest(
            view=h.REPORT_VIEW_PROVINCE, from_at_ms=from_ms, to_at_ms=to_ms, format=fmt
        ),
        timeout=60,
    )
    return bytes(reply.content)


async def statements(channel: grpc.aio.Channel, periods: list[str]) -> dict[str, Any]:
    stub = hg.ReportsStub(channel)
    entries: list[dict[str, Any]] = []
    net: Counter[str] = Counter()
    access: Counter[str] = Counter()
    closed = {}
    for period in periods:
        st = await stub.GetStatement(h.SettlementPeriod(period_id=period), timeout=60)
        closed[period] = st.closed
        for e in st.entries:
            entries.append(
                {
                    "period": period,
                    "payer_site": e.payer_site_id,
                    "serving_site": e.serving_site_id,
                    "calls": e.calls,
                    "handling_fee_fen": e.handling_fee_fen,
                }
            )
        for p in st.positions:
            net[p.site_id] += p.net_fen
            access[p.site_id] += p.access_fen
    return {
        "periods": periods,
        "closed": closed,
        "entries": entries,
        "net_positions_fen": dict(net),
        "access_fen": dict(access),
        "net_sum_fen": sum(net.values()),
    }


def build(
    *,
    province: str,
    speed: float,
    wall_s: float,
    from_ms: int,
    to_ms: int,
    hub_json: dict[str, Any],
    checks: dict[str, Counter[str]],
    settlement: dict[str, Any],
    traffic: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rows = {row["site"]: row for row in hub_json.get("rows", [])}
    sites: dict[str, Any] = {}
    for site, row in rows.items():
        if site == "PROVINCE":
            continue
        sites[site] = _figures(row, checks.get(site, Counter()), speed)
    total: Counter[str] = Counter()
    for c in checks.values():
        total.update(c)
    report = {
        "province": province,
        "time_speed": speed,
        "time_note": (
            f"province time runs {speed:g}x the wall clock: times are province "
            f"seconds; 'wall' gives them in wall seconds"
        ),
        "wall_s": round(wall_s, 1),
        "province_s": round(wall_s * speed, 1),
        "range_ms": [from_ms, to_ms],
        "sites": sites,
        "province_totals": _figures(rows.get("PROVINCE", {}), total, speed),
        "settlement": settlement,
        "traffic": traffic,
        "sqi": hub_json.get("sqi", {}),
    }
    report.update(extra or {})
    return report


def _figures(row: dict[str, Any], check: Counter[str], speed: float) -> dict[str, Any]:
    out: dict[str, Any] = {k: row.get(k) for k in FIGURES}
    out["calls_placed"] = check.get("placed", 0)  # distinct calls the edge placed here
    out["cdrs_at_hub"] = check.get("cdrs_at_hub", 0)
    out["cdrs_missing"] = check.get("cdrs_missing", 0)
    out["wall"] = {k: (None if row.get(k) is None else round(row[k] / speed, 3)) for k in TIMES}
    return out


def text_table(report: dict[str, Any]) -> str:
    cols = (
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "asa_s",
        "aht_s",
        "transfer_rate",
        "overflow_in",
        "overflow_out",
        "cdrs_at_hub",
        "cdrs_missing",
        "net_fen",
    )
    lines = [f"{'site':<9}" + "".join(f"{c:>14}" for c in cols)]
    nets = report["settlement"]["net_positions_fen"]
    for site, fig in [*report["sites"].items(), ("PROVINCE", report["province_totals"])]:
        cells = []
        for c in cols:
            v = (
                nets.get(site, 0)
                if c == "net_fen" and site != "PROVINCE"
                else report["settlement"]["net_sum_fen"]
                if c == "net_fen"
                else fig.get(c)
            )
            cells.append(f"{'-' if v is None else (f'{v:.3f}' if isinstance(v, float) else v):>14}")
        lines.append(f"{site:<9}" + "".join(cells))
    return "\n".join(lines)


def _pct(bp: Any) -> str:
    return "-" if bp is None else f"{bp / 100:.1f}%"


def quality_lines(report: dict[str, Any]) -> str:
    """Per site: the month's inspection, work-order correctness, ratings and the
    assessment's score; then the province's score."""
    q = report.get("quality") or {}
    if not q:
        return "quality: not run"
    scores = {r["subject"]: r["score_bp"] for r in q["assessment"].get("sites", [])}
    lines = [f"quality and assessment, {q['period']} (scores and rates in %):"]
    for site, f in q["sites"].items():
        i = f["inspection"]
        avg = f["rating_avg_centi"]
        lines.append(
            f"  {site}: sampled {i.get('sampled', 0)}, scored {i.get('scored', 0)}, "
            f"disputed {i.get('disputed', 0)}; orders checked {f['work_orders_checked']}, "
            f"correct {_pct(f['work_orders_correct'])}, key fields "
            f"{_pct(f['key_fields_right'])}; ratings {f['ratings']} (average "
            f"{'-' if avg is None else avg / 100:}); assessment {_pct(scores.get(site))}"
        )
    lines.append(f"  province assessment: {_pct(q['assessment']['province']['score_bp'])}")
    return "\n".join(lines)


def write_html(path: Path, report: dict[str, Any], hub_html: bytes) -> None:
    body = html.escape(text_table(report))
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>vcc demo report: {html.escape(report["province"])}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} pre{{background:#f4f4f4;padding:1em}}
iframe{{width:100%;height:1400px;border:1px solid #ccc}}</style></head><body>
<h1>vcc demo: {html.escape(report["province"])}</h1>
<p>{html.escape(report["time_note"])}. Ran {report["wall_s"]} wall seconds
= {report["province_s"]} province seconds.</p>
<h2>Per site (province times; CDRs checked against the access edge)</h2><pre>{body}</pre>
<h2>Quality inspection, satisfaction and assessment</h2>
<pre>{html.escape(quality_lines(report))}</pre>
<h2>The schedule's predicted against the actual service level</h2>
<pre>{html.escape(schedule_lines(report))}</pre>
<h2>Settlement</h2><pre>{html.escape(json.dumps(report["settlement"], indent=1))}</pre>
<h2>The hub's consolidated report</h2>
<iframe title="hub report" srcdoc="{html.escape(hub_html.decode(errors="replace"), quote=True)}"></iframe>
</body></html>"""
    path.write_text(doc, encoding="utf-8")
