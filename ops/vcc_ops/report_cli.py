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
followed to the leader; without either, the etcd of the province that ``vcc up`` runs
in ``--workdir`` (default ``.vcc``). Refused input exits 2, a reconciliation difference
1, an unreachable hub 3 (``vcc_ops.exits``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc.aio

from vcc_domain.errors import Unavailable, VccError
from vcc_domain.rating import BEIJING
from vcc_failover.hub_client import call_leader
from vcc_failover.leadership import HubLocator, StaticHubLocator
from vcc_ops.exits import Exit
from vcc_ops.progress import working
from vcc_ops.target import DEFAULT_WORKDIR, describe, etcd_endpoints, workdir_option
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

T = TypeVar("T")
VIEWS = {
    "province": h.REPORT_VIEW_PROVINCE,
    "site": h.REPORT_VIEW_SITE,
    "agent": h.REPORT_VIEW_AGENT,
    "interval": h.REPORT_VIEW_INTERVAL,
}
FORMATS = {
    "table": h.REPORT_FORMAT_TABLE,
    "csv": h.REPORT_FORMAT_CSV,
    "json": h.REPORT_FORMAT_JSON,
    "html": h.REPORT_FORMAT_HTML,
}


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


@dataclass(frozen=True)
class HubTarget:
    """``--hub``, ``--etcd`` and ``--workdir`` of a client command."""

    hub: str = ""
    etcd: str = ""
    workdir: Path = DEFAULT_WORKDIR


def hub_locator(target: HubTarget) -> HubLocator:
    """The fixed hub, else the leader found in etcd (the flag's, else the running province's)."""
    if target.hub:
        return StaticHubLocator(target.hub)
    from vcc_failover.locator import EtcdHubLocator

    return EtcdHubLocator(etcd_endpoints(target.etcd, target.workdir))


def call_hub(target: HubTarget, fn: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
    """Run ``fn`` at the hub leader; an unreachable hub or etcd is :class:`Unavailable`."""
    try:
        return asyncio.run(call_leader(hub_locator(target), fn))
    except VccError:
        raise
    except (OSError, grpc.RpcError, TimeoutError) as exc:
        raise Unavailable(f"hub not reachable ({describe(target.workdir)}): {exc}") from exc


def _call(target: HubTarget, fn: Callable[[hg.ReportsStub], Awaitable[T]]) -> T:
    async def run(channel: grpc.aio.Channel) -> T:
        return await fn(hg.ReportsStub(channel))

    return call_hub(target, run)


def _pack_target(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, hub: str, etcd: str, workdir: Path, **kw: Any) -> Any:
        return f(*args, target=HubTarget(hub, etcd, workdir), **kw)

    return wrapper


def hub_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--hub``, ``--etcd`` and ``--workdir``, given to the command as ``target``."""
    f = _pack_target(f)
    f = workdir_option(f)
    f = click.option(
        "--etcd",
        default="",
        envvar="VCC_ETCD",
        help="etcd endpoints (comma separated) to find the hub leader",
    )(f)
    return click.option("--hub", default="", envvar="VCC_HUB", help="hub host:port")(f)


def _report(
    view: str,
    target: HubTarget,
    from_: str,
    to: str,
    sites: tuple[str, ...],
    agent: str,
    fmt: str,
    out: str,
) -> None:
    request = h.GetReportRequest(
        view=VIEWS[view],
        from_at_ms=parse_time(from_),
        to_at_ms=parse_time(to),
        site_ids=list(sites),
        format=FORMATS[fmt],
        agent_id=agent,
    )

    async def fn(stub: hg.ReportsStub) -> h.Report:
        reply: h.Report = await stub.GetReport(request, timeout=60)
        return reply

    with working(f"the {view} report from the hub"):
        report = _call(target, fn)
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
    def command(
        target: HubTarget,
        from_: str,
        to: str,
        sites: tuple[str, ...],
        agent: str,
        fmt: str,
        out: str,
    ) -> None:
        _report(view, target, from_, to, sites, agent, fmt, out)

    command.__doc__ = f"The {view} report."
    return click.command(view)(command)


for _view in VIEWS:
    report.add_command(_view_command(_view))


def _period_call(target: HubTarget, method: str, period: str) -> Any:
    request = h.SettlementPeriod(period_id=period, actor=c.Actor(operator="vcc-cli"))

    async def fn(stub: hg.ReportsStub) -> Any:
        return await getattr(stub, method)(request, timeout=120)

    with working(f"{method} {period} at the hub"):
        return _call(target, fn)


@report.command("reconcile")
@hub_options
@click.argument("period")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def reconcile(target: HubTarget, period: str, as_json: bool) -> None:
    """Recompute PERIOD (YYYY-MM) from raw CDRs; exit 1 on any difference."""
    reply: h.ReconcileReply = _period_call(target, "Reconcile", period)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "period": period,
                    "balanced": reply.balanced,
                    "differences": [
                        {
                            "item": d.item,
                            "statement_fen": d.statement_fen,
                            "computed_fen": d.computed_fen,
                            "cdr_id": d.cdr_id,
                        }
                        for d in reply.differences
                    ],
                },
                indent=1,
            )
        )
    else:
        for d in reply.differences:
            click.echo(
                f"DIFF {d.item}: stored {d.statement_fen} computed {d.computed_fen}"
                + (f" ({d.cdr_id})" if d.cdr_id else "")
            )
    if not reply.balanced:
        click.echo(f"{period}: {len(reply.differences)} difference(s)", err=True)
        sys.exit(Exit.DIFFERENCE)
    if not as_json:
        click.echo(f"{period}: balanced")


def statement_dict(st: h.Statement) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(
        st, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


@click.group("settle")
def settle() -> None:
    """Settlement periods between sites."""


@settle.command("close")
@hub_options
@click.argument("period")
def close(target: HubTarget, period: str) -> None:
    """Close PERIOD (YYYY-MM); closing again prints the same statement."""
    st: h.Statement = _period_call(target, "CloseSettlement", period)
    click.echo(json.dumps(statement_dict(st), indent=1, sort_keys=True))


@settle.command("statement")
@hub_options
@click.argument("period")
def statement(target: HubTarget, period: str) -> None:
    """The statement of PERIOD (closed, or provisional while open), as JSON."""
    st: h.Statement = _period_call(target, "GetStatement", period)
    click.echo(json.dumps(statement_dict(st), indent=1, sort_keys=True))
