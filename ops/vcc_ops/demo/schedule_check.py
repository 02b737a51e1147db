"""The demo report's scheduling part: a schedule for the demo's load at one site
(``KM``), its predicted service level per 15-minute interval against what the demo's
traffic achieved there (the hub's interval report).

The schedule is the one the demo actually runs: the site's logged-in agent bots on the
phone every interval, the demo's offered calls of the site per interval (its share of the
province's callers, at the demo's speed), the demo's call model. The prediction is the
scheduling's own (:meth:`vcc_ops.schedule.model.SimStaffing.predict`, a small simulation
so the demo stays quick); the difference per interval is
:func:`vcc_domain.schedule.compare`. The demo's surge, if it hits this site, makes the
actual fall below the prediction: that is what a schedule does not foresee. The
prediction is a steady state; a short demo starts with an empty queue and idle agents, so
in its first interval the actual runs above a prediction for an overloaded site.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import grpc

from vcc_domain.province import Province
from vcc_domain.rating import BEIJING
from vcc_domain.schedule import INTERVAL_MS, compare
from vcc_ops.schedule.model import INTERVAL_S, SimStaffing, demo_model
from vcc_ops.traffic.plan import CallPlanner, TrafficConfig
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

SITE = "KM"
CALLS_SIMULATED = 3000  # ~0.2 s of simulation: the demo report stays quick


def _hhmm(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, BEIJING).strftime("%m-%d %H:%M")


async def interval_rows(
    channel: grpc.aio.Channel, site: str, from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    request = h.GetReportRequest(
        view=h.REPORT_VIEW_INTERVAL,
        from_at_ms=from_ms,
        to_at_ms=to_ms,
        site_ids=[site],
        format=h.REPORT_FORMAT_JSON,
    )
    reply = await hg.ReportsStub(channel).GetReport(request, timeout=60)
    rows: list[dict[str, Any]] = json.loads(reply.content).get("rows", [])
    return [r for r in rows if r.get("site") == site and "interval_start_ms" in r]


def demo_interval_calls(province: Province, config: TrafficConfig, site: str) -> float:
    """The demo's offered calls of ``site`` per 15-minute interval (province time)."""
    share = CallPlanner(province, config).site_share(site)
    return config.calls_per_s / config.speed * share * INTERVAL_S


async def schedule_check(
    channel: grpc.aio.Channel,
    province: Province,
    config: TrafficConfig,
    agents: int,
    from_ms: int,
    to_ms: int,
    site: str = SITE,
) -> dict[str, Any]:
    """Predicted against actual service level per interval of the run at ``site``."""
    calls = demo_interval_calls(province, config, site)
    predicted = SimStaffing(demo_model(config), calls_simulated=CALLS_SIMULATED).predict(
        agents, calls
    )
    rows = await interval_rows(channel, site, from_ms, to_ms)
    starts = sorted(int(r["interval_start_ms"]) for r in rows)
    first = starts[0] if starts else from_ms
    actual = {
        (int(r["interval_start_ms"]) - first) // INTERVAL_MS: (
            int(r.get("offered") or 0),
            float(r.get("service_level") or 0.0),
        )
        for r in rows
    }
    span = max(actual, default=-1) + 1
    checks = compare([predicted] * span, actual)
    return {
        "site": site,
        "agents_on_phone": agents,
        "calls_per_interval": round(calls, 1),
        "intervals": [
            {
                "start_ms": first + c.interval * INTERVAL_MS,
                "offered": c.offered,
                "predicted_sl": round(c.predicted, 4),
                "actual_sl": round(c.actual, 4),
                "points": round(c.points, 1),
            }
            for c in checks
        ],
    }


def schedule_lines(report: dict[str, Any]) -> str:
    s = report.get("schedule") or {}
    if not s:
        return "schedule: not run"
    lines = [
        f"schedule vs. actual at {s['site']} ({s['agents_on_phone']} agents on the phone, "
        f"{s['calls_per_interval']} calls per 15 min planned):"
    ]
    for i in s["intervals"]:
        lines.append(
            f"  {_hhmm(i['start_ms'])}: predicted {i['predicted_sl']:.1%}, actual "
            f"{i['actual_sl']:.1%} ({i['points']:+.1f} points, {i['offered']} calls)"
        )
    return "\n".join(lines)
