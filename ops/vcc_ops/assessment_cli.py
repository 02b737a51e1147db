"""``vcc report assessment``: the month's assessment (考核) per agent, team, site and the
province, with quality inspection, work-order correctness and satisfaction.

::

    vcc report assessment 2026-12            # every registered site, a table
    vcc report assessment 2026-12 --json     # the same as JSON (the demo report's part)

Each site computes its agents' additive figures (``Quality.GetAssessment``); the province
row is their sum judged by the same rules (:mod:`vcc_domain.assessment`). Sites are found
in etcd (``/vcc/sites/<ID>``, or ``--site-endpoints KM=host:port,...``). A site that does
not answer is listed under ``missing_sites`` and left out of the sums.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import grpc

from vcc_domain import assessment as a
from vcc_domain.errors import VccError
from vcc_domain.rating import check_period, period_of
from vcc_failover.lease import get_prefix
from vcc_failover.sites import grpc_of, parse_static
from vcc_ops.exits import Exit
from vcc_ops.target import etcd_endpoints, workdir_option
from vcc_proto.channels import open_channel
from vcc_proto.names import SITE_KEY_PREFIX
from vcc_proto.v1 import quality_pb2 as pb
from vcc_proto.v1 import quality_pb2_grpc as qg

TIMEOUT_S = 60.0
BP = 10_000


async def registered_sites(etcd: list[str]) -> dict[str, str]:
    """site -> gRPC endpoint of every site registered in etcd."""
    found = await get_prefix(etcd, SITE_KEY_PREFIX)
    return {key[len(SITE_KEY_PREFIX) :]: grpc_of(raw) for key, raw in sorted(found.items())}


async def _site(endpoint: str, period: str) -> pb.AssessmentReply:
    async with open_channel(endpoint) as channel:
        reply: pb.AssessmentReply = await qg.QualityStub(channel).GetAssessment(
            pb.PeriodRequest(period=period, actor="vcc-cli"), timeout=TIMEOUT_S
        )
        return reply


async def province_assessment(endpoints: Mapping[str, str], period: str) -> dict[str, Any]:
    """Every site's agents summed into teams, sites and the province, as plain data."""
    # here, not at the top: the site's adapters bring its store, which no other `vcc`
    # command (all of them import this module) needs
    from vcc_site.adapters.grpc_quality import kpi_record

    check_period(period)
    per_agent: dict[str, a.KpiFigures] = {}
    team: dict[str, str] = {}
    site: dict[str, str] = {}
    weights: dict[str, int] = {}
    missing: list[str] = []
    for site_id, endpoint in sorted(endpoints.items()):
        try:
            reply = await _site(endpoint, period)
        except grpc.aio.AioRpcError:
            missing.append(site_id)
            continue
        weights = dict(reply.weights) or weights
        for row in reply.rows:
            if row.level == "agent":
                per_agent[row.subject] = kpi_record(row.figures)
                team[row.subject], site[row.subject] = row.team, site_id
    rows = a.roll_up(per_agent, team.__getitem__, site.__getitem__, a.weights_of(weights))
    out: dict[str, Any] = {"period": period, "weights": a.weights_of(weights)}
    for level in ("agent", "team", "site"):
        out[f"{level}s"] = [r.as_dict() for r in rows if r.level == level]
    out["province"] = next(r.as_dict() for r in rows if r.level == "province")
    out["missing_sites"] = missing
    return out


def _pct(bp: Any) -> str:
    return "-" if bp is None else f"{bp / 100:.1f}%"


def render(data: Mapping[str, Any], levels: tuple[str, ...] = ("site", "team")) -> str:
    """A table: score, quality, satisfaction, correctness and each component's attainment."""
    names = list(a.COMPONENTS)
    head = f"{'level':<9}{'subject':<11}{'score':>8}{'answered':>9}{'qa':>5}{'rated':>6}"
    lines = [head + "".join(f"{n[:10]:>11}" for n in names)]
    rows = [r for lv in levels for r in data.get(f"{lv}s", [])] + [data["province"]]
    for r in rows:
        att = {c["name"]: c["attainment_bp"] for c in r["components"]}
        cells = "".join(f"{_pct(att.get(n)):>11}" for n in names)
        lines.append(
            f"{r['level']:<9}{r['subject'] or 'PROVINCE':<11}{_pct(r['score_bp']):>8}"
            f"{r['answered']:>9}{r['quality_reviews']:>5}{r['ratings']:>6}{cells}"
        )
    if data.get("missing_sites"):
        lines.append(f"MISSING: {', '.join(data['missing_sites'])} did not answer")
    return "\n".join(lines)


@click.command("assessment")
@click.argument("period", default="")
@click.option("--etcd", default="", help="etcd endpoints (default: the running province's)")
@click.option("--site-endpoints", default="", help="KM=host:port,... instead of etcd")
@click.option("--agents", is_flag=True, help="Also one row per agent.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@workdir_option
def assessment(
    period: str, etcd: str, site_endpoints: str, agents: bool, as_json: bool, workdir: Path
) -> None:
    """The month's assessment (PERIOD YYYY-MM, Beijing time; default this month)."""
    period = period or period_of(int(time.time() * 1000))
    try:
        check_period(period)
    except VccError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(Exit.USAGE) from exc

    async def run() -> dict[str, Any]:
        endpoints = parse_static(site_endpoints) or await registered_sites(
            etcd_endpoints(etcd, workdir)
        )
        return await province_assessment(endpoints, period)

    try:
        data = asyncio.run(run())
    except (VccError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(Exit.UNREACHABLE) from exc
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        click.echo(render(data, ("site", "team", "agent") if agents else ("site", "team")))
