"""``vcc demo``: a living province on this machine, then its consolidated report.

Starts NATS JetStream, etcd, the hub and every site (SQLite, the embedded default) with
province time running ``speed`` times faster than the wall (every process gets
``VCC_TIME_SPEED`` and the same ``VCC_TIME_EPOCH``), logs agent bots in at every site,
offers Poisson callers through the access edge for ``duration`` wall seconds while a
wallboard shows each site, lets the calls drain, waits until the hub holds a CDR of
every call the edge saw end, then prints and writes the report and stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.live import Live

from vcc_domain.errors import InvalidInput
from vcc_ops.demo import report as rep
from vcc_ops.demo.quality import quality_round
from vcc_ops.demo.schedule_check import SITE, schedule_check, schedule_lines
from vcc_ops.demo.wallboard import ProcessFigures, board_rows, plain, render
from vcc_ops.launch_tls import authz_refusals
from vcc_ops.launcher import SERVICE_KINDS, ProvinceLauncher, RunState
from vcc_ops.progress import Steps, steps
from vcc_ops.traffic.plan import TrafficConfig
from vcc_ops.traffic.run import ProvinceTraffic
from vcc_proto.channels import open_channel
from vcc_proto.v1 import hub_pb2 as h

INTERVAL_MS = 15 * 60 * 1000
BASE_CALLS_PER_S = 55.0  # offered calls per wall second at --rate-scale 1


@dataclass(frozen=True)
class DemoOptions:
    province_file: Path
    workdir: Path
    duration_s: float = 120.0
    rate_scale: float = 1.0
    speed: float = 30.0
    seed: int = 1
    report_json: Path | None = None
    report_html: Path | None = None
    agents_per_site: int | None = None
    drain_s: float = 60.0
    # a fault storm at one city in the middle half of the run, so that calls overflow
    surge_site: str = "QJ"
    surge_factor: float = 3.0
    insecure: bool = False  # plaintext gRPC (default: mutual TLS)

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise InvalidInput("--duration must be positive", field="--duration")
        if not self.rate_scale > 0:
            raise InvalidInput("--rate-scale must be positive", field="--rate-scale")
        if not self.speed >= 1:
            raise InvalidInput("--speed must be at least 1", field="--speed")


def run_demo(opts: DemoOptions, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the whole demo; returns the report (also written where asked)."""
    epoch = time.time()
    launcher = ProvinceLauncher(
        opts.province_file,
        opts.workdir,
        progress=progress,
        insecure=opts.insecure,
        node_env={"VCC_TIME_SPEED": str(opts.speed), "VCC_TIME_EPOCH": repr(epoch)},
    )
    known = [x.id for x in launcher.province.sites]
    if opts.surge_site and opts.surge_site not in known:
        raise InvalidInput(
            f"unknown site {opts.surge_site!r}; the province has {known}", field="--surge"
        )
    try:
        state = launcher.start()
        return asyncio.run(_drive(opts, launcher, state, epoch, progress))
    finally:
        launcher.stop()


def province_ms(epoch: float, speed: float) -> int:
    """Now in province time (what every process's clock says), ms."""
    return int((epoch + (time.time() - epoch) * speed) * 1000)


async def _drive(
    opts: DemoOptions,
    launcher: ProvinceLauncher,
    state: RunState,
    epoch: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    nodes = {n.name: n for n in state.nodes}
    grpc_of = {n.name.removeprefix("site-"): n.grpc for n in state.nodes if n.kind == "site"}
    metrics_of = {n.name.removeprefix("site-"): n.metrics for n in state.nodes if n.kind == "site"}
    hub = nodes["hub-1"]
    surge = opts.surge_site
    config = TrafficConfig(
        calls_per_s=BASE_CALLS_PER_S * opts.rate_scale,
        speed=opts.speed,
        seed=opts.seed,
        surge_site=surge,
        surge_factor=opts.surge_factor,
        surge_from_s=opts.duration_s * 0.25,
        surge_to_s=opts.duration_s * 0.75,
    )
    traffic = ProvinceTraffic(
        launcher.province,
        launcher.edge_endpoint,
        grpc_of.__getitem__,
        config,
        agents_per_site=opts.agents_per_site,
        passwords=launcher.initial_secrets(),
    )
    progress("logging agent bots in at every site")
    counts = await traffic.start_agents()
    progress("agents logged in: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    figures = ProcessFigures(metrics_of, hub.metrics, opts.speed)
    from_ms = province_ms(epoch, opts.speed)
    traffic.start_callers()
    if isinstance(progress, Steps):
        progress.done()  # the wallboard takes the terminal from here
    await wallboard(traffic, figures, opts.duration_s)
    progress("no more callers; waiting for the calls in progress to end")
    summary = await traffic.stop(drain_s=opts.drain_s)
    cpu = cpu_seconds(state)
    to_ms = province_ms(epoch, opts.speed)
    hub_db = opts.workdir / "data" / "hub.db"
    progress("waiting for the hub to hold a CDR of every call")
    cdrs = await _wait_cdrs(traffic, hub_db, from_ms, timeout_s=90.0)
    checks = rep.cdr_check(traffic.edge.ledger, cdrs)
    to_ms = max(to_ms, province_ms(epoch, opts.speed))
    # whole 15-minute intervals around the run (the data are this run's only: fresh databases)
    lo, hi = from_ms - from_ms % INTERVAL_MS, to_ms - to_ms % INTERVAL_MS + INTERVAL_MS
    async with open_channel(hub.grpc) as channel:
        hub_json = json.loads(await rep.hub_report(channel, lo, hi))
        hub_html = await rep.hub_report(channel, lo, hi, fmt=h.REPORT_FORMAT_HTML)
        settlement = await rep.statements(channel, rep.periods_between(from_ms, to_ms))
        sched = await schedule_check(
            channel, launcher.province, config, counts.get(SITE, 0), lo, hi
        )
    progress("quality desk: the month's sample scored, work orders checked, the assessment")
    quality = await quality_round(
        launcher.province, grpc_of, rep.periods_between(from_ms, to_ms)[-1], opts.seed
    )
    report = rep.build(
        province=launcher.province.name,
        speed=opts.speed,
        wall_s=summary.wall_s,
        from_ms=from_ms,
        to_ms=to_ms,
        hub_json=hub_json,
        checks=checks,
        settlement=settlement,
        traffic={
            **asdict(summary),
            "agents_logged_in": counts,
            "surge": {
                "site": surge,
                "factor": opts.surge_factor,
                "extra_calls": traffic.surge_calls,
            },
            "offered_calls_per_s_wall": round(summary.offered / opts.duration_s, 2),
            "config": {k: v for k, v in asdict(config).items() if k != "code_mix"},
        },
        extra={
            "work_orders": traffic.work_orders,
            "quality": quality,
            "schedule": sched,
            "cpu_s": cpu,
            "grpc_security": "mutual TLS" if state.tls else "plaintext (--insecure)",
            "authz_refused": authz_refusals(
                {n.name: n.metrics for n in state.nodes if n.kind in SERVICE_KINDS}
            ),
        },
    )
    if opts.report_json is not None:
        opts.report_json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    html_path = opts.report_html or (
        opts.report_json.with_suffix(".html") if opts.report_json is not None else None
    )
    if html_path is not None:
        rep.write_html(html_path, report, hub_html)
    return report


def cpu_seconds(state: RunState) -> dict[str, float]:
    """CPU seconds used so far by each process of the province and by this one."""
    out: dict[str, float] = {}
    for node in state.nodes:
        with contextlib.suppress(Exception):
            if node.pid:
                times = psutil.Process(node.pid).cpu_times()
                out[node.name] = round(times.user + times.system, 2)
    me = psutil.Process().cpu_times()
    out["demo (callers and bots)"] = round(me.user + me.system, 2)
    return out


async def wallboard(traffic: ProvinceTraffic, figures: ProcessFigures, duration_s: float) -> None:
    console = Console()
    started = time.monotonic()
    title = "vcc demo wallboard (wall clock figures)"
    if console.is_terminal:
        with Live(
            render(board_rows(traffic.snapshot(), figures), title),
            console=console,
            refresh_per_second=2,
        ) as live:
            while time.monotonic() - started < duration_s:
                await asyncio.sleep(1.0)
                await figures.refresh_async()
                live.update(render(board_rows(traffic.snapshot(), figures), title))
        return
    last = 0.0
    while (elapsed := time.monotonic() - started) < duration_s:
        await asyncio.sleep(1.0)
        if elapsed - last >= 10:
            last = elapsed
            await figures.refresh_async()
            print(plain(board_rows(traffic.snapshot(), figures), elapsed), flush=True)


async def _wait_cdrs(
    traffic: ProvinceTraffic, hub_db: Path, from_ms: int, timeout_s: float
) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        cdrs: dict[str, list[str]] = {}
        with contextlib.suppress(Exception):
            cdrs = await asyncio.to_thread(rep.hub_cdr_calls, hub_db, from_ms - 3_600_000)
        missing = sum(c["cdrs_missing"] for c in rep.cdr_check(traffic.edge.ledger, cdrs).values())
        if missing == 0 or time.monotonic() > deadline:
            return cdrs
        await asyncio.sleep(1.0)


def exit_status(report: dict[str, Any]) -> int:
    """0 when every call has its CDR at the hub, the net positions sum to zero and no call
    the province's processes made to each other was refused by the authorization table."""
    missing = report["province_totals"]["cdrs_missing"]
    refused = report.get("authz_refused", {})
    return 0 if missing == 0 and report["settlement"]["net_sum_fen"] == 0 and not refused else 1


def main_entry(opts: DemoOptions) -> int:
    with steps("demo") as progress:
        report = run_demo(opts, progress)
    print(rep.text_table(report))
    t = report["traffic"]
    print(
        f"\n{t['offered']} calls offered in {report['wall_s']} s "
        f"({t['offered_calls_per_s_wall']}/s wall) = {report['province_s'] / 3600:.2f} h "
        f"of province time at {report['time_speed']:g}x; edge: {t['states']}"
    )
    wo = report.get("work_orders", {})
    print(
        f"work orders: {wo.get('created', 0)} created, {wo.get('replied', 0)} answered, "
        f"{wo.get('callbacks_done', 0)} callbacks made"
    )
    sites = [x for x in wo.get("sites", {}).values() if isinstance(x, dict)]
    print(
        "callbacks (offered to agents): "
        + ", ".join(
            f"{sum(int(x.get(f'callbacks_{k}', 0)) for x in sites)} {k.replace('_', ' ')}"
            for k in ("required", "done", "on_time", "late", "missed")
        )
        + f"; middle-tier abandoned: "
        f"{sum(int(x.get('abandoned_callbacks', {}).get('required', 0)) for x in sites)}"
    )
    print(
        f"settlement: net positions {report['settlement']['net_positions_fen']} fen, "
        f"sum {report['settlement']['net_sum_fen']}"
    )
    print(rep.quality_lines(report))
    print(schedule_lines(report))
    refused = report.get("authz_refused", {})
    print(
        f"gRPC: {report.get('grpc_security', '?')}; calls refused by the authorization "
        f"table: {refused or 'none'}"
    )
    return exit_status(report)
