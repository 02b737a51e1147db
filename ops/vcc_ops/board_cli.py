"""``vcc board``: the real-time board a team leader watches.

Per site and business, from the queue figures every site reports to the hub leader each
second (``Routing.GetBoard``): calls waiting and the longest wait, the expected wait of a
new caller, agents ready, busy, in wrap-up and away, with the figures' age. Per site, the
day so far from the hub's aggregates (``Reports.GetReport``, province view from 00:00
Beijing time): offered, answered, abandoned, service level, overflow in and out. A site
whose figures are older than a few seconds is flagged STALE.

::

    vcc board                     # every site, once
    vcc board --site KM --watch 2 # Kunming, updated in place every 2 s until Ctrl-C

The hub is ``--hub``, else the leader found in etcd (``--etcd``, else the province that
``vcc up`` runs in ``--workdir``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
import grpc.aio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from vcc_domain.rating import BEIJING
from vcc_ops.report_cli import HubTarget, call_hub, hub_options
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

LIVE = ("waiting", "longest_wait_s", "ewt_s", "ready", "busy", "wrap_up", "away", "age_ms")
TODAY = ("offered", "answered", "abandoned", "service_level", "overflow_in", "overflow_out")


def start_of_today_ms(now: float | None = None) -> int:
    day = datetime.fromtimestamp(now if now is not None else time.time(), BEIJING)
    return int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


async def read_board(channel: grpc.aio.Channel, sites: list[str]) -> dict[str, Any]:
    """The live rows and each site's day so far, as plain data."""
    board: h.Board = await hg.RoutingStub(channel).GetBoard(
        h.GetBoardRequest(site_ids=sites), timeout=10
    )
    report = await hg.ReportsStub(channel).GetReport(
        h.GetReportRequest(
            view=h.REPORT_VIEW_PROVINCE,
            from_at_ms=start_of_today_ms(),
            site_ids=sites,
            format=h.REPORT_FORMAT_JSON,
        ),
        timeout=30,
    )
    today = {
        row["site"]: {k: row.get(k) for k in TODAY}
        for row in json.loads(report.content).get("rows", [])
    }
    live = []
    for row in board.rows:
        f = row.figures
        live.append(
            {
                "site": f.site_id,
                "business": f.business_id,
                "waiting": f.waiting,
                "longest_wait_s": f.longest_wait_ms / 1000,
                "ewt_s": f.ewt_ms / 1000,
                "ready": f.agents_ready,
                "busy": f.agents_busy,
                "wrap_up": f.agents_wrap_up,
                "away": f.agents_not_ready,
                "age_ms": row.age_ms,
            }
        )
    return {
        "as_of_ms": board.as_of_ms,
        "live": live,
        "today": today,
        "stale_sites": list(board.stale_site_ids),
    }


def render(data: dict[str, Any]) -> str:
    lines = [f"{'site':<6}{'business':<14}" + "".join(f"{c:>15}" for c in LIVE)]
    for row in data["live"]:
        cells = "".join(
            f"{row[c]:>15.1f}" if isinstance(row[c], float) else f"{row[c]:>15}" for c in LIVE
        )
        lines.append(f"{row['site']:<6}{row['business']:<14}{cells}")
    lines.append("")
    lines.append(f"{'today':<20}" + "".join(f"{c:>15}" for c in TODAY))
    for site, row in data["today"].items():
        cells = "".join(
            f"{'-':>15}"
            if row[c] is None
            else (f"{row[c]:>15.1%}" if c == "service_level" else f"{row[c]:>15}")
            for c in TODAY
        )
        lines.append(f"{site:<20}{cells}")
    for site in data["stale_sites"]:
        lines.append(f"STALE: {site} has not reported its queue figures recently")
    return "\n".join(lines)


@click.command("board")
@click.option("--site", "sites", multiple=True, help="Only this site (repeatable). Default: all.")
@hub_options
@click.option(
    "--watch", type=float, default=0.0, help="Update in place every this many seconds until Ctrl-C."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def board(sites: tuple[str, ...], target: HubTarget, watch: float, as_json: bool) -> None:
    """The real-time board: queues and agents per site and business, and the day so far."""

    def once() -> dict[str, Any]:
        return call_hub(target, lambda ch: read_board(ch, list(sites)))

    try:
        if watch > 0 and not as_json and Console().is_terminal:
            _watch_live(once, watch)
            return
        while True:
            data = once()
            click.echo(json.dumps(data, indent=1) if as_json else render(data))
            if watch <= 0:
                break
            time.sleep(watch)
            click.echo("")
    except KeyboardInterrupt:
        pass


def _watch_live(once: Callable[[], dict[str, Any]], every_s: float) -> None:
    """The board redrawn in place (rich Live) until Ctrl-C."""
    with Live(Text(render(once())), auto_refresh=False, screen=False) as live:
        while True:
            time.sleep(every_s)
            data = once()
            stamp = datetime.now(BEIJING).strftime("%H:%M:%S")
            live.update(
                Text(f"vcc board at {stamp} (every {every_s:g} s; Ctrl-C stops)\n" + render(data)),
                refresh=True,
            )
