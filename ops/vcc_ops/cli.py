"""The ``vcc`` command line: run, inspect and measure a province."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from vcc_domain.errors import VccError
from vcc_ops.bench.all import bench_all
from vcc_ops.bench.table import bench_table
from vcc_ops.board_cli import board
from vcc_ops.campaign_cli import campaign
from vcc_ops.compose_check import compose
from vcc_ops.demo.cli import demo
from vcc_ops.directory_cli import directory
from vcc_ops.drills.cli import drill
from vcc_ops.events_cli import events
from vcc_ops.pki_cli import pki_group
from vcc_ops.report_cli import report, settle
from vcc_ops.settings_cli import settings, settings_options, take_flags
from vcc_ops.simulate.cli import simulate
from vcc_ops.workorders_cli import workorders
from vcc_site.edge.settings import EdgeSettings
from vcc_site.settings import SiteSettings

EXAMPLE_PROVINCE = "yunnan.toml"


def example_province_path() -> Path:
    """The realistic example province shipped with the package."""
    return Path(str(resources.files("vcc_ops") / "examples" / EXAMPLE_PROVINCE))


province_option = click.option(
    "--province",
    "province_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Province file (TOML). Default: the shipped example province (Yunnan).",
)


def _province(path: Path | None) -> Path:
    return path if path is not None else example_province_path()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vcc")
def main() -> None:
    """vcc: a provincial virtual call center (hub + city site nodes)."""


# -- province ---------------------------------------------------------------------------


@main.group()
def province() -> None:
    """Inspect and validate province files."""


@province.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def province_check(path: Path | None, as_json: bool) -> None:
    """Validate a province file and summarise it (default: the example)."""
    from vcc_domain.province import load_province_file

    prov = load_province_file(_province(path))
    summary = {
        "name": prov.name,
        "sites": {s.id: {"seats": s.seats, "agents": len(prov.agents_at(s.id))} for s in prov.sites},
        "businesses": len(prov.businesses),
        "agents": len(prov.agents),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"{prov.name}: {len(prov.sites)} sites, {summary['agents']} agents, "
                   f"{summary['businesses']} businesses")
        for sid, s in summary["sites"].items():  # type: ignore[attr-defined]
            click.echo(f"  {sid}: {s['seats']} seats, {s['agents']} agents")


# -- processes --------------------------------------------------------------------------


def _node_options(func: Any) -> Any:
    """Options every service process takes; each can also come from a VCC_* variable."""
    return _process_options(func, messaging=True)


def _edge_options(func: Any) -> Any:
    """The edge's process options: no NATS, database or stream options."""
    return _process_options(func, messaging=False)


def _process_options(func: Any, messaging: bool) -> Any:
    def if_messaging(option: Any) -> list[Any]:  # hub and site: NATS, database, streams
        return [option] if messaging else []

    opts = [
        click.option("--province", "province_file", envvar="VCC_PROVINCE",
                     type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Province file (TOML). Default: the shipped example province."),
        click.option("--data-dir", envvar="VCC_DATA_DIR", type=click.Path(file_okay=False, path_type=Path),
                     default=Path(".vcc/data"), show_default=True, help="Where the node keeps its files."),
        *if_messaging(click.option("--nats", "nats", envvar="VCC_NATS",
                                default="nats://127.0.0.1:4222", show_default=True,
                                help="NATS server URL(s), comma separated.")),
        click.option("--etcd", "etcd", envvar="VCC_ETCD", default="127.0.0.1:2379", show_default=True,
                     help="etcd endpoint(s) host:port, comma separated."),
        *if_messaging(click.option("--db", "db", envvar="VCC_DB", default=None,
                                help="SQLAlchemy database URL. Default: a SQLite file in --data-dir.")),
        click.option("--host", envvar="VCC_HOST", default="127.0.0.1", show_default=True,
                     help="Address to listen on."),
        click.option("--advertise-host", envvar="VCC_ADVERTISE_HOST", default=None,
                     help="Host name other processes use to reach this one. Default: --host."),
        click.option("--grpc-port", envvar="VCC_GRPC_PORT", type=int, default=0, show_default=True,
                     help="gRPC port (0 = any free port)."),
        click.option("--metrics-port", envvar="VCC_METRICS_PORT", type=int, default=0,
                     show_default=True, help="Prometheus /metrics port (0 = do not expose)."),
        *if_messaging(click.option("--stream-replicas", envvar="VCC_STREAM_REPLICAS", type=int,
                                default=1, show_default=True,
                                help="JetStream replicas for the province's streams.")),
        click.option("--node-id", envvar="VCC_NODE_ID", default="", help="Stable name of this process."),
        click.option("--log-file", envvar="VCC_LOG_FILE", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Write logs here instead of stderr."),
        click.option("--log-level", envvar="VCC_LOG_LEVEL", default="INFO", show_default=True,
                     help="Logging level: DEBUG, INFO, WARNING or ERROR."),
        click.option("--log-format", envvar="VCC_LOG_FORMAT", type=click.Choice(["text", "json"]),
                     default="text", show_default=True, help="Log lines as text or JSON lines."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _node_config(kw: dict[str, Any]) -> Any:
    from vcc_proto.nodeconfig import NodeConfig

    return NodeConfig(
        province_file=_province(kw["province_file"]),
        data_dir=kw["data_dir"],
        nats_urls=tuple(u for u in kw.get("nats", "").split(",") if u),
        etcd_endpoints=tuple(e for e in kw["etcd"].split(",") if e),
        database_url=kw.get("db"),
        host=kw["host"],
        advertise_host=kw["advertise_host"] or kw["host"],
        stream_replicas=kw.get("stream_replicas", 1),
        grpc_port=kw["grpc_port"],
        metrics_port=kw["metrics_port"],
        node_id=kw["node_id"],
        log_file=kw["log_file"],
        log_level=kw["log_level"],
        log_format=kw["log_format"],
    )


@main.command()
@_node_options
def hub(**kw: Any) -> None:
    """Run a provincial hub process in the foreground (settings: `vcc settings`)."""
    from vcc_hub.app import run_hub
    from vcc_hub.settings import load_hub_settings

    settings = load_hub_settings()  # a bad VCC_* value stops the process here
    asyncio.run(run_hub(_node_config(kw), settings))


@main.command()
@click.option("--site", "site_id", envvar="VCC_SITE", required=True,
              help="Site ID from the province file, e.g. KM.")
@settings_options(SiteSettings)
@_node_options
def site(site_id: str, **kw: Any) -> None:
    """Run one city site node in the foreground (settings: `vcc settings`)."""
    from vcc_site.app import run_site
    from vcc_site.settings import load_site_settings

    settings = load_site_settings(flags=take_flags(SiteSettings, kw))
    asyncio.run(run_site(_node_config(kw), site_id, settings))


@main.command()
@settings_options(EdgeSettings)
@_edge_options
def edge(**kw: Any) -> None:
    """Run the access edge in the foreground: callers reach the nearest live site
    (settings: `vcc settings`)."""
    from vcc_site.edge.app import run_edge
    from vcc_site.edge.settings import load_edge_settings

    settings = load_edge_settings(flags=take_flags(EdgeSettings, kw))
    asyncio.run(run_edge(_node_config(kw), settings))


@main.command()
@province_option
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".vcc"),
              show_default=True, help="Where logs, data and the state file go.")
@click.option("--postgres", is_flag=True, help="Give every node a PostgreSQL database instead of SQLite.")
@click.option("--nats-sync", default=None, help="JetStream fsync interval, e.g. 'always' or '2m'.")
@click.option("--sites", default=None, help="Only these sites (comma separated). Default: all.")
@click.option("--cluster", is_flag=True, help="3 NATS servers (R3 streams) and 3 etcd members.")
@click.option("--hubs", type=int, default=1, show_default=True, help="Hub processes (one leads).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log lines of every process as text or JSON. Default: VCC_LOG_FORMAT or text.")
def up(province_file: Path | None, workdir: Path, postgres: bool, nats_sync: str | None,
       sites: str | None, cluster: bool = False, hubs: int = 1,
       log_format: str | None = None) -> None:
    """Start NATS, etcd, the hub, every site and the access edge as separate processes;
    Ctrl-C stops all."""
    from vcc_ops.launcher import ProvinceLauncher

    launcher = ProvinceLauncher(
        _province(province_file), workdir, postgres=postgres, nats_sync_interval=nats_sync,
        sites=sites.split(",") if sites else None,
        progress=lambda msg: click.echo(f"vcc up: {msg}", err=True),
        cluster=cluster, hubs=hubs, log_format=log_format,
    )
    stopping = False

    def _request_stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _request_stop)
    try:
        state = launcher.start()
        click.echo(f"vcc up: province running ({len(state.nodes)} processes); "
                   f"`vcc status --workdir {workdir}` lists them. Ctrl-C stops everything.")
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop()
        click.echo("vcc up: stopped", err=True)


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".vcc"),
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(workdir: Path, as_json: bool) -> None:
    """List the processes of a running province with their health and endpoints."""
    from vcc_ops.status import collect_status, render_status

    report = collect_status(workdir)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        render_status(report)
    if not report["running"]:
        sys.exit(1)


main.add_command(board)
main.add_command(campaign)
main.add_command(compose)
main.add_command(directory)
main.add_command(drill)
main.add_command(events)
main.add_command(demo)
main.add_command(pki_group)
main.add_command(report)
main.add_command(settle)
main.add_command(settings)
main.add_command(simulate)
main.add_command(workorders)


# -- benchmarks -------------------------------------------------------------------------


@main.group()
def bench() -> None:
    """Measure performance; every figure is named with its unit and percentile."""


@bench.command("route")
@click.option("--agents", type=int, default=2000, show_default=True)
@click.option("--waiting", type=int, default=10000, show_default=True, help="Calls kept waiting.")
@click.option("--businesses", type=int, default=20, show_default=True)
@click.option("--decisions", type=int, default=50000, show_default=True, help="Timed decisions per run.")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs; the median is reported.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result as JSON to this file.")
def bench_route(agents: int, waiting: int, businesses: int, decisions: int, runs: int, seed: int,
                json_file: Path | None) -> None:
    """Pure ACD routing decisions: decisions_per_s and decision_p50_ms / decision_p99_ms."""
    from vcc_ops.bench.route import median_of_runs

    result = median_of_runs(runs=runs, agents=agents, waiting=waiting, businesses=businesses,
                            decisions=decisions, seed=seed)
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


@bench.command("site")
@click.option("--calls", type=int, default=3000, show_default=True, help="Measured calls per run.")
@click.option("--rate", type=float, default=None,
              help="Offered calls per second (open loop). Default: as fast as the site takes them.")
@click.option("--agents", type=int, default=150, show_default=True, help="Simulated KM agents.")
@click.option("--talk-ms", type=float, default=20.0, show_default=True,
              help="Each call is talked for a random 0..talk-ms ms.")
@click.option("--db", default="sqlite", show_default=True,
              help="sqlite, postgres (embedded, started for the run) or a SQLAlchemy URL.")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs; the median is reported.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result as JSON to this file.")
def bench_site(calls: int, rate: float | None, agents: int, talk_ms: float, db: str, runs: int,
               seed: int, json_file: Path | None) -> None:
    """A real KM site over gRPC with simulated agents: calls_per_s, offer_to_agent_p99_ms."""
    from vcc_ops.bench.site import median_of_runs as site_median

    result = site_median(runs=runs, calls=calls, rate=rate, agents=agents, talk_ms=talk_ms,
                         db=db, seed=seed)
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


@bench.command("directory")
@click.option("--sites", type=int, default=4, show_default=True)
@click.option("--changes", type=int, default=200, show_default=True, help="Timed changes per run.")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs; the median is reported.")
def bench_directory(sites: int, changes: int, runs: int) -> None:
    """Change at the hub to applied at every site: change_to_all_sites_p50_ms / _p99_ms."""
    from vcc_ops.bench.directory import median_of_runs as directory_median

    click.echo(json.dumps(directory_median(runs=runs, sites=sites, changes=changes), indent=2))



@bench.command("report")
@click.option("--cdrs", type=int, default=10_000_000, show_default=True,
              help="Generated CDRs of the month.")
@click.option("--period", default="2026-10", show_default=True, help="The month (YYYY-MM).")
@click.option("--charges/--no-charges", default=True, show_default=True,
              help="Also store one call_charges row per CDR, as the hub does.")
@click.option("--runs", type=int, default=3, show_default=True,
              help="Report runs; the median is reported (ingestion is one pass).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--ingest-sample", type=int, default=200_000, show_default=True,
              help="Calls put through the hub's real aggregation steps (at the month's rate).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result as JSON to this file.")
def bench_report(cdrs: int, period: str, charges: bool, runs: int, seed: int,
                 ingest_sample: int, json_file: Path | None) -> None:
    """Ingestion into aggregates (ingest_cdrs_per_s) and a month's province report (report_s)."""
    from vcc_ops.bench.report import median_of_runs as report_median

    result = report_median(cdrs=cdrs, seed=seed, runs=runs, period=period, charges=charges,
                           sample=ingest_sample)
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


@bench.command("replication")
@click.option("--rate", type=float, default=5000.0, show_default=True,
              help="Events committed at the site per second (open loop); 0 = as fast as possible.")
@click.option("--seconds", type=float, default=10.0, show_default=True,
              help="Producing window per run.")
@click.option("--unit", type=int, default=50, show_default=True,
              help="Events per site commit (one unit of work).")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs; the median is reported.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result as JSON to this file.")
def bench_replication(rate: float, seconds: float, unit: int, runs: int,
                      json_file: Path | None) -> None:
    """Site outbox -> relay -> JetStream -> hub: events_per_s and lag_p50_ms / lag_p99_ms."""
    from vcc_ops.bench.replication import median_of_runs as replication_median

    result = replication_median(runs=runs, rate=rate, seconds=seconds, unit=unit)
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


@bench.command("transfer")
@click.option("--rate", type=float, default=20.0, show_default=True,
              help="Background calls per second into KM (open loop).")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Calling window per run.")
@click.option("--share", type=float, default=0.3, show_default=True,
              help="Share of KM's calls its agents transfer to DL.")
@click.option("--km-agents", type=int, default=20, show_default=True)
@click.option("--dl-agents", type=int, default=10, show_default=True)
@click.option("--talk-ms", type=float, default=200.0, show_default=True)
@click.option("--runs", type=int, default=3, show_default=True, help="Runs; the median is reported.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result as JSON to this file.")
def bench_transfer(rate: float, seconds: float, share: float, km_agents: int, dl_agents: int,
                   talk_ms: float, runs: int, seed: int, json_file: Path | None) -> None:
    """KM -> hub -> DL transfers under load: transfer_to_offer_p50_ms / _p99_ms."""
    from vcc_ops.bench.transfer import median_of_runs as transfer_median

    result = transfer_median(runs=runs, rate=rate, seconds=seconds, share=share,
                             km_agents=km_agents, dl_agents=dl_agents, talk_ms=talk_ms,
                             seed=seed)
    text = json.dumps(result, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)


bench.add_command(bench_all)
bench.add_command(bench_table)


def run() -> None:
    """Entry point that turns our errors into a clear message and exit code 2."""
    try:
        main(standalone_mode=True)
    except VccError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:
        click.echo(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
