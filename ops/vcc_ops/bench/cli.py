"""``vcc bench ...``: performance figures, each named with its unit and percentile."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from vcc_ops.bench.all import bench_all
from vcc_ops.bench.scale_cli import bench_scale
from vcc_ops.bench.table import bench_table
from vcc_ops.progress import working

json_file_option = click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the result as JSON to this file.",
)


def _emit(result: dict[str, Any], json_file: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


@click.group()
def bench() -> None:
    """Measure performance; every figure is named with its unit and percentile."""


@bench.command("route")
@click.option("--agents", type=int, default=2000, show_default=True)
@click.option("--waiting", type=int, default=10000, show_default=True, help="Calls kept waiting.")
@click.option("--businesses", type=int, default=20, show_default=True)
@click.option(
    "--decisions", type=int, default=50000, show_default=True, help="Timed decisions per run."
)
@click.option(
    "--runs", type=int, default=3, show_default=True, help="Runs; the median is reported."
)
@click.option("--seed", type=int, default=1, show_default=True)
@json_file_option
def bench_route(
    agents: int,
    waiting: int,
    businesses: int,
    decisions: int,
    runs: int,
    seed: int,
    json_file: Path | None,
) -> None:
    """Pure ACD routing decisions: decisions_per_s and decision_p50_ms / decision_p99_ms."""
    from vcc_ops.bench.route import median_of_runs

    with working(f"bench route: {runs} run(s)"):
        result = median_of_runs(
            runs=runs,
            agents=agents,
            waiting=waiting,
            businesses=businesses,
            decisions=decisions,
            seed=seed,
        )
    _emit(result, json_file)


@bench.command("site")
@click.option("--calls", type=int, default=3000, show_default=True, help="Measured calls per run.")
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Offered calls per second (open loop). Default: as fast as the site takes them.",
)
@click.option("--agents", type=int, default=150, show_default=True, help="Simulated KM agents.")
@click.option(
    "--talk-ms",
    type=float,
    default=20.0,
    show_default=True,
    help="Each call is talked for a random 0..talk-ms ms.",
)
@click.option(
    "--db",
    default="sqlite",
    show_default=True,
    help="sqlite, postgres (embedded, started for the run) or a SQLAlchemy URL.",
)
@click.option(
    "--runs", type=int, default=3, show_default=True, help="Runs; the median is reported."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--tls/--insecure",
    default=True,
    show_default=True,
    help="gRPC over mutual TLS with a province PKI made for the run (as `vcc up` runs), or "
    "plaintext (the site started --insecure) for the cost of security.",
)
@json_file_option
def bench_site(
    calls: int,
    rate: float | None,
    agents: int,
    talk_ms: float,
    db: str,
    runs: int,
    seed: int,
    tls: bool,
    json_file: Path | None,
) -> None:
    """A real KM site over gRPC with simulated agents: calls_per_s, offer_to_agent_p99_ms."""
    from vcc_ops.bench.site import SECURITY
    from vcc_ops.bench.site import median_of_runs as site_median

    with working(f"bench site ({SECURITY[tls]}): {runs} run(s)"):
        result = site_median(
            runs=runs,
            calls=calls,
            rate=rate,
            agents=agents,
            talk_ms=talk_ms,
            db=db,
            seed=seed,
            tls=tls,
        )
    _emit(result, json_file)


@bench.command("web")
@click.option("--calls", type=int, default=3000, show_default=True, help="Calls per phase.")
@click.option(
    "--rate", type=float, default=300.0, show_default=True, help="Offered calls per second."
)
@click.option("--agents", type=int, default=150, show_default=True, help="gRPC agent bots.")
@click.option(
    "--desktops", type=int, default=200, show_default=True, help="Agent desktop pages (HTTP)."
)
@click.option("--talk-ms", type=float, default=20.0, show_default=True)
@click.option("--warmup", type=int, default=200, show_default=True, help="Unmeasured calls first.")
@click.option(
    "--rounds",
    type=int,
    default=3,
    show_default=True,
    help="Pairs of phases (without desktops, then with), alternating; medians.",
)
@click.option("--runs", type=int, default=1, show_default=True, help="Runs; the median.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--tls/--insecure", default=True, show_default=True, help="The site's gRPC port.")
@click.option(
    "--web-process",
    type=click.Choice(["own", "site"]),
    default="own",
    show_default=True,
    help="The pages in the site's web gateway process (own) or in the site's event loop.",
)
@json_file_option
def bench_web(
    calls: int,
    rate: float,
    agents: int,
    desktops: int,
    talk_ms: float,
    warmup: int,
    rounds: int,
    runs: int,
    seed: int,
    tls: bool,
    web_process: str,
    json_file: Path | None,
) -> None:
    """Agent desktops on the push channel while a KM site takes calls: push_p99_ms, and
    the site's calls_per_s and p99 with and without desktops."""
    from vcc_ops.bench.web import median_of_runs as web_median

    with working(f"bench web: {desktops} desktops ({web_process} process), {runs} run(s)"):
        result = web_median(
            runs=runs,
            calls=calls,
            rate=rate,
            agents=agents,
            desktops=desktops,
            talk_ms=talk_ms,
            warmup=warmup,
            rounds=rounds,
            seed=seed,
            tls=tls,
            web_process=web_process,
        )
    _emit(result, json_file)


@bench.command("directory")
@click.option("--sites", type=int, default=4, show_default=True)
@click.option("--changes", type=int, default=200, show_default=True, help="Timed changes per run.")
@click.option(
    "--runs", type=int, default=3, show_default=True, help="Runs; the median is reported."
)
@json_file_option
def bench_directory(sites: int, changes: int, runs: int, json_file: Path | None) -> None:
    """Change at the hub to applied at every site: change_to_all_sites_p50_ms / _p99_ms."""
    from vcc_ops.bench.directory import median_of_runs as directory_median

    with working(f"bench directory: {runs} run(s) of {changes} changes"):
        result = directory_median(runs=runs, sites=sites, changes=changes)
    _emit(result, json_file)


@bench.command("report")
@click.option(
    "--cdrs", type=int, default=10_000_000, show_default=True, help="Generated CDRs of the month."
)
@click.option("--period", default="2026-10", show_default=True, help="The month (YYYY-MM).")
@click.option(
    "--charges/--no-charges",
    default=True,
    show_default=True,
    help="Also store one call_charges row per CDR, as the hub does.",
)
@click.option(
    "--runs",
    type=int,
    default=3,
    show_default=True,
    help="Report runs; the median is reported (ingestion is one pass).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--ingest-sample",
    type=int,
    default=200_000,
    show_default=True,
    help="Calls put through the hub's real aggregation steps (at the month's rate).",
)
@json_file_option
def bench_report(
    cdrs: int,
    period: str,
    charges: bool,
    runs: int,
    seed: int,
    ingest_sample: int,
    json_file: Path | None,
) -> None:
    """Ingestion into aggregates (ingest_cdrs_per_s) and a month's province report (report_s)."""
    from vcc_ops.bench.report import median_of_runs as report_median

    with working(f"bench report: {runs} run(s)"):
        result = report_median(
            cdrs=cdrs, seed=seed, runs=runs, period=period, charges=charges, sample=ingest_sample
        )
    _emit(result, json_file)


@bench.command("replication")
@click.option(
    "--rate",
    type=float,
    default=5000.0,
    show_default=True,
    help="Events committed at the site per second (open loop); 0 = as fast as possible.",
)
@click.option(
    "--seconds", type=float, default=10.0, show_default=True, help="Producing window per run."
)
@click.option(
    "--unit",
    type=int,
    default=50,
    show_default=True,
    help="Events per site commit (one unit of work).",
)
@click.option(
    "--runs", type=int, default=3, show_default=True, help="Runs; the median is reported."
)
@json_file_option
def bench_replication(
    rate: float, seconds: float, unit: int, runs: int, json_file: Path | None
) -> None:
    """Site outbox -> relay -> JetStream -> hub: events_per_s and lag_p50_ms / lag_p99_ms."""
    from vcc_ops.bench.replication import median_of_runs as replication_median

    with working(f"bench replication: {runs} run(s)"):
        result = replication_median(runs=runs, rate=rate, seconds=seconds, unit=unit)
    _emit(result, json_file)


@bench.command("transfer")
@click.option(
    "--rate",
    type=float,
    default=20.0,
    show_default=True,
    help="Background calls per second into KM (open loop).",
)
@click.option(
    "--seconds", type=float, default=10.0, show_default=True, help="Calling window per run."
)
@click.option(
    "--share",
    type=float,
    default=0.3,
    show_default=True,
    help="Share of KM's calls its agents transfer to DL.",
)
@click.option("--km-agents", type=int, default=20, show_default=True)
@click.option("--dl-agents", type=int, default=10, show_default=True)
@click.option("--talk-ms", type=float, default=200.0, show_default=True)
@click.option(
    "--runs", type=int, default=3, show_default=True, help="Runs; the median is reported."
)
@click.option("--seed", type=int, default=1, show_default=True)
@json_file_option
def bench_transfer(
    rate: float,
    seconds: float,
    share: float,
    km_agents: int,
    dl_agents: int,
    talk_ms: float,
    runs: int,
    seed: int,
    json_file: Path | None,
) -> None:
    """KM -> hub -> DL transfers under load: transfer_to_offer_p50_ms / _p99_ms."""
    from vcc_ops.bench.transfer import median_of_runs as transfer_median

    with working(f"bench transfer: {runs} run(s)"):
        result = transfer_median(
            runs=runs,
            rate=rate,
            seconds=seconds,
            share=share,
            km_agents=km_agents,
            dl_agents=dl_agents,
            talk_ms=talk_ms,
            seed=seed,
        )
    _emit(result, json_file)


@bench.command("province")
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Offered calls per wall second."
)
@click.option(
    "--seconds", type=float, default=30.0, show_default=True, help="Wall seconds of offering."
)
@click.option(
    "--speed",
    type=float,
    default=30.0,
    show_default=True,
    help="Province seconds per wall second (as in vcc demo).",
)
@click.option(
    "--agents-per-site",
    type=int,
    default=None,
    help="Log in at most this many agent bots per site (default: all who take calls).",
)
@click.option(
    "--idle-seconds",
    "idle_s",
    type=float,
    default=10.0,
    show_default=True,
    help="Idle window measured before the load.",
)
@click.option(
    "--capacity-scale",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run the example with K times its agents, seats, trunks and IVR ports (at speed 30 "
    "its 410 agents answer at most about 85 calls/s).",
)
@click.option("--runs", type=int, default=1, show_default=True, help="Runs; medians reported.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--quick", is_flag=True, help="A few seconds of light load (a smoke run, about a minute)."
)
@json_file_option
def bench_province(
    rate: float,
    seconds: float,
    speed: float,
    agents_per_site: int | None,
    idle_s: float,
    capacity_scale: int,
    runs: int,
    seed: int,
    quick: bool,
    json_file: Path | None,
) -> None:
    """The whole province (edge, hub, sites, NATS, etcd) end to end: province_calls_per_s,
    offer_to_agent_p99_ms, replication_lag_p99_ms, CPU ms per call per process kind."""
    from vcc_ops.bench.province import QUICK
    from vcc_ops.bench.province import median_of_runs as province_median

    params: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "speed": speed,
        "agents_per_site": agents_per_site,
        "idle_s": idle_s,
        "capacity_scale": capacity_scale,
        "runs": runs,
        "seed": seed,
    }
    if quick:
        params.update(QUICK)
    with working(f"bench province: {params['runs']} run(s)"):
        result = province_median(**params)
    _emit(result, json_file)


@bench.command("sip")
@click.option("--start", type=float, default=20.0, show_default=True, help="First rate (calls/s).")
@click.option("--step", type=float, default=20.0, show_default=True, help="Rate added per step.")
@click.option("--top", type=float, default=140.0, show_default=True, help="Highest rate tried.")
@click.option("--step-s", type=float, default=10.0, show_default=True, help="Seconds per step.")
@click.option("--agents", type=int, default=80, show_default=True, help="Agent phones.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A new or empty folder for the bench's province (default: a new temporary one, kept).",
)
@click.option(
    "--tls/--insecure",
    default=True,
    show_default=True,
    help="Mutual TLS and identities for every process (--insecure: plaintext, to compare).",
)
@json_file_option
def bench_sip(
    start: float,
    step: float,
    top: float,
    step_s: float,
    agents: int,
    workdir: Path | None,
    tls: bool,
    json_file: Path | None,
) -> None:
    """SIPp callers keying the IVR through the SIP edge to one site with SIPp agent phones,
    the rate stepped up until the site no longer keeps up (needs Kamailio and SIPp; see
    README, "SIP edge")."""
    from vcc_ops.bench.sip import run_sip_bench
    from vcc_ops.bench.sip_ramp import ramp_rates

    try:
        rates = ramp_rates(start, step, top)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="vcc-bench-sip-"))
    elif workdir.exists() and any(workdir.iterdir()):
        # a kept province's secrets, databases and etcd users do not match a new start
        raise click.BadParameter(f"{workdir} is not empty: give a new or empty folder")
    result = run_sip_bench(
        workdir.resolve(), rates, step_s, agents,
        progress=lambda m: click.echo(f"vcc bench sip: {m}", err=True),
        insecure=not tls,
    )  # fmt: skip
    text = json.dumps(result, indent=2)
    click.echo(text)
    if json_file is not None:
        json_file.write_text(text + "\n")


bench.add_command(bench_all)
bench.add_command(bench_scale)
bench.add_command(bench_table)
