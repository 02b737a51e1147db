"""The ``vcc`` command line: run, inspect and measure a province."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from vcc_domain.errors import ConfigError, VccError
from vcc_hub.web.settings import ConsoleSettings
from vcc_ops.assessment_cli import assessment
from vcc_ops.authz_cli import authz
from vcc_ops.bench.cli import bench
from vcc_ops.board_cli import board
from vcc_ops.campaign_cli import campaign
from vcc_ops.compose_check import compose
from vcc_ops.demo.cli import demo
from vcc_ops.directory_cli import directory
from vcc_ops.drills.cli import drill
from vcc_ops.env_file import EnvFileError, load_env_file
from vcc_ops.events_cli import events
from vcc_ops.exits import Exit, fail, fail_click, fail_vcc, json_requested
from vcc_ops.launch_tls import INSECURE_HELP
from vcc_ops.people_cli import hash_password
from vcc_ops.pki_cli import pki_group
from vcc_ops.progress import set_quiet, steps
from vcc_ops.recordings_cli import recordings
from vcc_ops.report_cli import report, settle
from vcc_ops.schedule.cli import schedule
from vcc_ops.settings_cli import settings, settings_options, take_flags
from vcc_ops.simulate.cli import simulate
from vcc_ops.sip_cli import sip_agent, sip_edge
from vcc_ops.site_web_cli import site_web
from vcc_ops.workorders_cli import workorders
from vcc_proto.transport import TlsSettings
from vcc_site.edge.settings import EdgeSettings
from vcc_site.settings import SiteSettings
from vcc_site.web.settings import WebSettings

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
    try:
        load_env_file()  # VCC_ENV_FILE: secrets an init job wrote (the compose province)
    except (OSError, EnvFileError) as exc:
        raise click.ClickException(f"VCC_ENV_FILE: {exc}") from exc


# -- province ---------------------------------------------------------------------------


@main.group()
def province() -> None:
    """Inspect and validate province files."""


@province.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def province_check(path: Path | None, as_json: bool) -> None:
    """Validate a province file and summarise it (default: the example); exit 1 naming the
    wrong field when it is not valid."""
    from vcc_domain.province import load_province_file

    try:
        prov = load_province_file(_province(path))
    except ConfigError as err:
        fail(err.message, Exit.DIFFERENCE, as_json=as_json, field=err.field)
    summary = {
        "name": prov.name,
        "sites": {
            s.id: {"seats": s.seats, "agents": len(prov.agents_at(s.id))} for s in prov.sites
        },
        "businesses": len(prov.businesses),
        "agents": len(prov.agents),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"{prov.name}: {len(prov.sites)} sites, {summary['agents']} agents, "
            f"{summary['businesses']} businesses"
        )
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
        click.option(
            "--province",
            "province_file",
            envvar="VCC_PROVINCE",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Province file (TOML). Default: the shipped example province.",
        ),
        click.option(
            "--data-dir",
            envvar="VCC_DATA_DIR",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(".vcc/data"),
            show_default=True,
            help="Where the node keeps its files.",
        ),
        *if_messaging(
            click.option(
                "--nats",
                "nats",
                envvar="VCC_NATS",
                default="nats://127.0.0.1:4222",
                show_default=True,
                help="NATS server URL(s), comma separated.",
            )
        ),
        click.option(
            "--etcd",
            "etcd",
            envvar="VCC_ETCD",
            default="127.0.0.1:2379",
            show_default=True,
            help="etcd endpoint(s) host:port, comma separated.",
        ),
        *if_messaging(
            click.option(
                "--db",
                "db",
                envvar="VCC_DB",
                default=None,
                help="SQLAlchemy database URL. Default: a SQLite file in --data-dir.",
            )
        ),
        click.option(
            "--host",
            envvar="VCC_HOST",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on.",
        ),
        click.option(
            "--advertise-host",
            envvar="VCC_ADVERTISE_HOST",
            default=None,
            help="Host name other processes use to reach this one. Default: --host.",
        ),
        click.option(
            "--grpc-port",
            envvar="VCC_GRPC_PORT",
            type=int,
            default=0,
            show_default=True,
            help="gRPC port (0 = any free port).",
        ),
        click.option(
            "--metrics-port",
            envvar="VCC_METRICS_PORT",
            type=int,
            default=0,
            show_default=True,
            help="Prometheus /metrics port (0 = do not expose).",
        ),
        *if_messaging(
            click.option(
                "--stream-replicas",
                envvar="VCC_STREAM_REPLICAS",
                type=int,
                default=1,
                show_default=True,
                help="JetStream replicas for the province's streams.",
            )
        ),
        click.option(
            "--node-id", envvar="VCC_NODE_ID", default="", help="Stable name of this process."
        ),
        click.option(
            "--log-file",
            envvar="VCC_LOG_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write logs here instead of stderr.",
        ),
        click.option(
            "--log-level",
            envvar="VCC_LOG_LEVEL",
            default="INFO",
            show_default=True,
            help="Logging level: DEBUG, INFO, WARNING or ERROR.",
        ),
        click.option(
            "--log-format",
            envvar="VCC_LOG_FORMAT",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Log lines as text or JSON lines.",
        ),
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
@settings_options(TlsSettings)
@settings_options(ConsoleSettings)
@_node_options
def hub(**kw: Any) -> None:
    """Run a provincial hub process in the foreground (settings: `vcc settings`)."""
    from vcc_hub.app import run_hub
    from vcc_hub.settings import load_hub_settings

    # a bad VCC_* value stops the process here
    flags = {**take_flags(TlsSettings, kw), **take_flags(ConsoleSettings, kw)}
    settings = load_hub_settings(flags=flags)
    asyncio.run(run_hub(_node_config(kw), settings))


@main.command()
@click.option(
    "--site",
    "site_id",
    envvar="VCC_SITE",
    required=True,
    help="Site ID from the province file, e.g. KM.",
)
@settings_options(SiteSettings)
@settings_options(TlsSettings)
@settings_options(WebSettings)
@_node_options
def site(site_id: str, **kw: Any) -> None:
    """Run one city site node in the foreground (settings: `vcc settings`)."""
    from vcc_site.app import run_site
    from vcc_site.settings import load_site_settings

    flags = {
        **take_flags(SiteSettings, kw),
        **take_flags(TlsSettings, kw),
        **take_flags(WebSettings, kw),
    }
    settings = load_site_settings(flags=flags)
    asyncio.run(run_site(_node_config(kw), site_id, settings))


@main.command()
@settings_options(EdgeSettings)
@settings_options(TlsSettings)
@_edge_options
def edge(**kw: Any) -> None:
    """Run the access edge in the foreground: callers reach the nearest live site
    (settings: `vcc settings`)."""
    from vcc_site.edge.app import run_edge
    from vcc_site.edge.settings import load_edge_settings

    flags = {**take_flags(EdgeSettings, kw), **take_flags(TlsSettings, kw)}
    settings = load_edge_settings(flags=flags)
    asyncio.run(run_edge(_node_config(kw), settings))


@main.command()
@province_option
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".vcc"),
    show_default=True,
    help="Where logs, data and the state file go.",
)
@click.option(
    "--postgres", is_flag=True, help="Give every node a PostgreSQL database instead of SQLite."
)
@click.option("--nats-sync", default=None, help="JetStream fsync interval, e.g. 'always' or '2m'.")
@click.option("--sites", default=None, help="Only these sites (comma separated). Default: all.")
@click.option("--cluster", is_flag=True, help="3 NATS servers (R3 streams) and 3 etcd members.")
@click.option("--hubs", type=int, default=1, show_default=True, help="Hub processes (one leads).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines of every process as text or JSON. Default: VCC_LOG_FORMAT or text.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Also run the demo's callers and agent bots (province time 30x the wall "
    "clock) with a live wallboard, until Ctrl-C.",
)
@click.option(
    "--rate-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="With --demo: multiplies the offered load (55 calls per wall second at 1).",
)
@click.option(
    "--agents-per-site",
    type=int,
    default=None,
    help="With --demo: log in at most this many bots per site (default: all who take calls).",
)
@click.option("--insecure", is_flag=True, help=INSECURE_HELP)
@click.option(
    "--sip",
    is_flag=True,
    help="Also start the SIP edge (Kamailio) and every site's SIP agent.",
)
@click.option(
    "--sip-trunk",
    default="127.0.0.1:5090",
    show_default=True,
    help="With --sip: host:port of the trunk (e.g. SIPp -p 5090) allowed to offer calls.",
)
def up(
    province_file: Path | None,
    workdir: Path,
    postgres: bool,
    nats_sync: str | None,
    sites: str | None,
    cluster: bool = False,
    hubs: int = 1,
    log_format: str | None = None,
    demo: bool = False,
    rate_scale: float = 1.0,
    agents_per_site: int | None = None,
    insecure: bool = False,
    sip: bool = False,
    sip_trunk: str = "127.0.0.1:5090",
) -> None:
    """Start NATS, etcd, the hub, every site and the access edge as separate processes;
    Ctrl-C stops all."""
    from vcc_ops.launcher import ProvinceLauncher
    from vcc_ops.web_links import DRILL_REPORTS, desktop_lines

    signal.signal(signal.SIGTERM, _raise_interrupt)
    if demo:
        if postgres or cluster or hubs != 1 or sites or nats_sync:
            raise click.UsageError(
                "--demo runs the whole province on SQLite with one hub; "
                "leave out --postgres, --cluster, --hubs, --sites, --nats-sync"
            )
        _up_demo(
            _province(province_file), workdir, rate_scale, agents_per_site, log_format, insecure
        )
        return
    launcher = ProvinceLauncher(
        _province(province_file),
        workdir,
        postgres=postgres,
        nats_sync_interval=nats_sync,
        sites=sites.split(",") if sites else None,
        progress=lambda msg: click.echo(f"vcc up: {msg}", err=True),
        cluster=cluster,
        hubs=hubs,
        log_format=log_format,
        insecure=insecure,
    )
    try:
        state = launcher.start()
        if sip:
            from vcc_ops.sip_launch import start_sip

            click.echo(f"vcc up: SIP edge at {start_sip(launcher, sip_trunk)} (trunk {sip_trunk})")
        for line in desktop_lines([(n.name, n.web) for n in state.nodes]):
            click.echo(f"vcc up: {line}")
        click.echo(
            f"vcc up: the province console lists the drill reports filed in "
            f"{workdir / DRILL_REPORTS} (`vcc drill ... --json` there)"
        )
        click.echo(
            f"vcc up: province running ({len(state.nodes)} processes); "
            f"`vcc status --workdir {workdir}` lists them. Ctrl-C stops everything."
        )
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop()
        click.echo("vcc up: stopped", err=True)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _up_demo(
    province_file: Path,
    workdir: Path,
    rate_scale: float,
    agents_per_site: int | None,
    log_format: str | None,
    insecure: bool = False,
) -> None:
    from vcc_ops.demo.live import run_until_stopped, sign_in_lines
    from vcc_ops.demo.run import DemoOptions

    opts = DemoOptions(
        province_file,
        workdir,
        duration_s=math.inf,
        rate_scale=rate_scale,
        agents_per_site=agents_per_site,
        insecure=insecure,
    )
    with steps("vcc up") as progress:

        def announce(launcher: Any, state: Any) -> None:
            progress.done()  # the wallboard takes the terminal from here
            for line in sign_in_lines(launcher, state, str(workdir)):
                click.echo(f"vcc up: {line}")

        run_until_stopped(opts, progress, announce, log_format=log_format)
    click.echo("vcc up: stopped", err=True)


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".vcc"),
    show_default=True,
)
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


main.add_command(authz)
main.add_command(bench)
main.add_command(board)
main.add_command(campaign)
main.add_command(compose)
main.add_command(directory)
main.add_command(drill)
main.add_command(events)
main.add_command(hash_password)
main.add_command(sip_agent)
main.add_command(sip_edge)
main.add_command(demo)
main.add_command(pki_group)
report.add_command(assessment)
main.add_command(recordings)
main.add_command(report)
main.add_command(schedule)
main.add_command(settle)
main.add_command(settings)
main.add_command(simulate)
main.add_command(site_web)
main.add_command(workorders)


def run(argv: list[str] | None = None) -> None:
    """Entry point: one place maps failures to exit codes (see ``vcc_ops.exits``) and, for a
    command given ``--json``, prints them as JSON."""
    args = sys.argv[1:] if argv is None else argv
    as_json = json_requested(main, args)
    set_quiet(as_json)
    try:
        code = main.main(args, prog_name="vcc", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted!", err=True)
        sys.exit(130)
    except click.ClickException as err:
        fail_click(err, as_json=as_json)
    except VccError as err:
        fail_vcc(err, as_json=as_json)
    except OSError as err:
        fail(
            f"{err.strerror or err}: {err.filename or ''}".rstrip(": "),
            Exit.USAGE if err.filename else Exit.UNREACHABLE,
            as_json=as_json,
        )
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()
