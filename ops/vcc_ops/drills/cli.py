"""``vcc drill SCENARIO`` and ``vcc drill plan FILE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from vcc_ops.launch_tls import INSECURE_HELP

# the names of vcc_ops.drills.scenarios.SCENARIOS (not imported: keeps `vcc --help` quick)
SCENARIO_NAMES = (
    "db-restart",
    "etcd-member-kill",
    "hub-leader-kill",
    "hub-partition",
    "nats-node-kill",
    "site-kill",
    "site-partition",
    "sip-site-kill",
    "slow-link",
)


@click.command("drill")
@click.argument("scenario", type=click.Choice([*SCENARIO_NAMES, "plan"]))
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--province",
    "province_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Province file. Default: the example (Yunnan).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".vcc-drill"),
    show_default=True,
)
@click.option("--sites", default="KM,QJ,DL", show_default=True, help="Sites to run.")
@click.option(
    "--cluster/--single", default=True, show_default=True, help="3 NATS + 3 etcd, or one of each."
)
@click.option("--hubs", type=int, default=2, show_default=True)
@click.option("--postgres", is_flag=True, help="PostgreSQL instead of SQLite (db-restart).")
@click.option(
    "--site",
    default="",
    help="The site a site drill hits (default: the last; sip-site-kill: KM).",
)
@click.option("--node", default="", help="The server a kill hits, e.g. nats1 or etcd2.")
@click.option("--delay-ms", type=float, default=200.0, show_default=True, help="slow-link delay.")
@click.option("--steady-s", type=float, default=5.0, show_default=True)
@click.option("--hold-s", type=float, default=5.0, show_default=True, help="Fault duration.")
@click.option("--calls-per-s", type=float, default=4.0, show_default=True)
@click.option("--reroute-s", type=float, default=3.0, show_default=True, help="Objective.")
@click.option("--takeover-s", type=float, default=3.0, show_default=True, help="Objective.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--defect-drop-event",
    type=int,
    default=0,
    hidden=True,
    help="TEST ONLY: every site drops the event of this outbox sequence.",
)
@click.option("--insecure", is_flag=True, help=INSECURE_HELP)
def drill(
    scenario: str,
    plan_file: Path | None,
    province_file: Path | None,
    workdir: Path,
    sites: str,
    cluster: bool,
    hubs: int,
    postgres: bool,
    site: str,
    node: str,
    delay_ms: float,
    steady_s: float,
    hold_s: float,
    calls_per_s: float,
    reroute_s: float,
    takeover_s: float,
    json_file: Path | None,
    html_file: Path | None,
    defect_drop_event: int,
    insecure: bool = False,
) -> None:
    """Run a failover drill (or a game-day PLAN file) on a province started for it, under
    live traffic; print the scored report; exit 1 on FAIL."""
    from vcc_ops.cli import example_province_path
    from vcc_ops.drills.plan import (
        DrillSpec,
        ProvinceSetup,
        load_plan,
        run_standalone,
    )
    from vcc_ops.drills.report import write_html, write_json
    from vcc_ops.drills.runner import Objectives
    from vcc_ops.progress import steps
    from vcc_site.sync.relay import DROP_EVENT_ENV

    setup = ProvinceSetup(
        province_file or example_province_path(),
        workdir,
        sites.split(",") if sites else None,
        cluster,
        hubs,
        postgres,
        insecure=insecure,
    )
    if defect_drop_event:
        setup.node_env[DROP_EVENT_ENV] = str(defect_drop_event)
    traffic: dict[str, Any] = {"calls_per_s": calls_per_s}
    if scenario == "plan":
        if plan_file is None:
            raise click.UsageError("vcc drill plan FILE")
        prov, objectives, traffic, drills = load_plan(plan_file)
        for key in ("sites", "cluster", "hubs", "postgres"):
            if key in prov:
                setattr(setup, key, prov[key])
    else:
        objectives = Objectives(reroute_s=reroute_s, takeover_s=takeover_s)
        params = {k: v for k, v in {"site": site, "node": node, "delay_ms": delay_ms}.items() if v}
        drills = [
            DrillSpec.parse(
                {"scenario": scenario, "steady_s": steady_s, "hold_s": hold_s, **params}
            )
        ]
    with steps("vcc drill") as progress:
        result = run_standalone(setup, drills, objectives, traffic, progress)
    if json_file is not None:
        write_json(result, json_file)
    if html_file is not None:
        write_html(
            result["drills"],
            html_file,
            f"vcc drill {scenario}",
            f"{result['verdict']}: {result['score']} drills passed",
        )
    for report in result["drills"]:
        click.echo(f"{report['scenario']}: {report['verdict']} {report.get('skipped', '')}")
        for row in report["objectives"]:
            click.echo(
                f"  {'ok  ' if row['pass'] else 'FAIL'} {row['objective']}: "
                f"{row['measured']} (target {row['target']})"
            )
    click.echo(json.dumps({"verdict": result["verdict"], "score": result["score"]}))
    if result["verdict"] != "PASS" and len(result["skipped"]) < len(result["drills"]):
        sys.exit(1)
