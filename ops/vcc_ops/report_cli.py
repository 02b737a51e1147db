"""``vcc report ...`` and ``vcc settle ...``: reports and settlement at the hub.

::

    vcc report province --from 2026-11-01 --to 2026-12-01 --format html --out nov.html
    vcc report site --site KM --format csv
    vcc report agent --site KM
    vcc report interval --from "2026-11-03 08:00" --to "2026-11-03 12:00"
    vcc report reconcile 2026-11        # exit 1 on any difference
    vcc settle close 2026-11
    vcc settle statement 2026-11

Times are Beijing time (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM``) or epoch milliseconds.
The hub is ``--hub host:port`` or the leader found in etcd (``--etcd``); NOT_LEADER is
followed to the leader. Refused input exits 2; an unreachable hub exits 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc.aio

from vcc_domain.errors import ErrorKind, VccError
from vcc_domain.rating import BEIJING
from vcc_failover.hub_client import call_leader
from vcc_failover.leadership import HubLocator, StaticHubLocator
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

T = TypeVar("T")
VIEWS = {"province": h.REPORT_VIEW_PROVINCE, "site": h.REPORT_VIEW_SITE,
         "agent": h.REPORT_VIEW_AGENT, "interval": h.REPORT_VIEW_INTERVAL}
FORMATS = {"table": h.REPORT_FORMAT_TABLE, "csv": h.REPORT_FORMAT_CSV,
           "json": h.REPORT_FORMAT_JSON, "html": h.REPORT_FORMAT_HTML}


def parse_time(text: str) -> int:
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            dt = datetime.strptime(text, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
        return int(dt.timestamp() * 1000)
    raise click.BadParameter(f"not a time: {text!r} (YYYY-MM-DD[ HH:MM] or epoch ms)")


def _locator(hub: str, etcd: str) -> HubLocator:
    if hub:
        return StaticHubLocator(hub)
    endpoints = [e for e in etcd.split(",") if e]
    if not endpoints:
        raise click.UsageError("give --hub host:port or --etcd to find the hub leader")
    from vcc_failover.locator import EtcdHubLocator

    return EtcdHubLocator(endpoints)


def _call(ctx_obj: dict[str, str], fn: Callable[[hg.ReportsStub], Awaitable[T]]) -> T:
    async def run(channel: grpc.aio.Channel) -> T:
        return await fn(hg.ReportsStub(channel))

    try:
        return asyncio.run(call_leader(_locator(ctx_obj["hub"], ctx_obj["etcd"]), run))
    except VccError as exc:
        code = 1 if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.INTERNAL) else 2
        click.echo(f"error: {exc}", err=True)
        sys.exit(code)


def hub_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--etcd", default="", envvar="VCC_ETCD",
                     help="etcd endpoints (comma separated) to find the hub leader")(f)
    return click.option("--hub", default="", envvar="VCC_HUB", help="hub host:port")(f)


def _report(view: str, hub: str, etcd: str, from_: str, to: str, sites: tuple[str, ...],
            agent: str, fmt: str, out: str) -> None:
    request = h.GetReportRequest(view=VIEWS[view], from_at_ms=parse_time(from_),
                                 to_at_ms=parse_time(to), site_ids=list(sites),
                                 format=FORMATS[fmt], agent_id=agent)

    async def fn(stub: hg.ReportsStub) -> h.Report:
        reply: h.Report = await stub.GetReport(request, timeout=60)
        return reply

    report = _call({"hub": hub, "etcd": etcd}, fn)
    if out:
        Path(out).write_bytes(report.content)
        click.echo(f"wrote {out} ({len(report.content)} bytes, {report.content_type})")
    else:
        sys.stdout.buffer.write(report.content)
        sys.stdout.flush()


@click.group("report")
def report() -> None:
    """Province, site, agent and interval reports; reconciliation."""


def _view_command(view: str) -> click.Command:
    @hub_options
    @click.option("--from", "from_", default="0", help="start (inclusive), Beijing time")
    @click.option("--to", default="", help="end (exclusive), Beijing time; default now")
    @click.option("--site", "sites", multiple=True, help="only this site (repeatable)")
    @click.option("--agent", default="", help="only this agent (agent view)")
    @click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="table")
    @click.option("--out", default="", help="write to this file instead of stdout")
    def command(hub: str, etcd: str, from_: str, to: str, sites: tuple[str, ...], agent: str,
                fmt: str, out: str) -> None:
        _report(view, hub, etcd, from_, to, sites, agent, fmt, out)

    command.__doc__ = f"The {view} report."
    return click.command(view)(command)


for _view in VIEWS:
    report.add_command(_view_command(_view))


def _period_call(hub: str, etcd: str, method: str, period: str) -> Any:
    request = h.SettlementPeriod(period_id=period, actor=c.Actor(operator="vcc-cli"))

    async def fn(stub: hg.ReportsStub) -> Any:
        return await getattr(stub, method)(request, timeout=120)

    return _call({"hub": hub, "etcd": etcd}, fn)


@report.command("reconcile")
@hub_options
@click.argument("period")
def reconcile(hub: str, etcd: str, period: str) -> None:
    """Recompute PERIOD (YYYY-MM) from raw CDRs; exit 1 on any difference."""
    reply: h.ReconcileReply = _period_call(hub, etcd, "Reconcile", period)
    for d in reply.differences:
        click.echo(f"DIFF {d.item}: stored {d.statement_fen} computed {d.computed_fen}"
                   + (f" ({d.cdr_id})" if d.cdr_id else ""))
    if not reply.balanced:
        click.echo(f"{period}: {len(reply.differences)} difference(s)", err=True)
        sys.exit(1)
    click.echo(f"{period}: balanced")


def statement_dict(st: h.Statement) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(st, preserving_proto_field_name=True,
                         always_print_fields_with_no_presence=True)


@click.group("settle")
def settle() -> None:
    """Settlement periods between sites."""


@settle.command("close")
@hub_options
@click.argument("period")
def close(hub: str, etcd: str, period: str) -> None:
    """Close PERIOD (YYYY-MM); closing again prints the same statement."""
    st: h.Statement = _period_call(hub, etcd, "CloseSettlement", period)
    click.echo(json.dumps(statement_dict(st), indent=1, sort_keys=True))


@settle.command("statement")
@hub_options
@click.argument("period")
def statement(hub: str, etcd: str, period: str) -> None:
    """The statement of PERIOD (closed, or provisional while open), as JSON."""
    st: h.Statement = _period_call(hub, etcd, "GetStatement", period)
    click.echo(json.dumps(statement_dict(st), indent=1, sort_keys=True))
