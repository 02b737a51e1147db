"""The ``vcc demo`` command."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from vcc_ops.launch_tls import INSECURE_HELP


@click.command("demo")
@click.option(
    "--province",
    "province_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Province file (TOML). Default: the example province (Yunnan).",
)
@click.option(
    "--duration",
    type=float,
    default=120.0,
    show_default=True,
    help="Wall seconds of calling (then the calls in progress drain).",
)
@click.option(
    "--rate-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiplies the offered load (55 calls per wall second at 1).",
)
@click.option(
    "--speed",
    type=float,
    default=30.0,
    show_default=True,
    help="Province seconds per wall second: handle times, patience, wrap-up and "
    "ring limits all run this much faster.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--report",
    "report_json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as JSON here (and as HTML beside it).",
)
@click.option(
    "--agents-per-site",
    type=int,
    default=None,
    help="Log in at most this many agents per site (default: all who take calls).",
)
@click.option(
    "--surge",
    default="QJ:3",
    show_default=True,
    help="SITE:FACTOR: that city's callers arrive FACTOR times as often in the middle "
    "half of the run (a fault storm), so calls overflow; 'none' to turn off.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Logs and data (default: a fresh temporary directory).",
)
@click.option("--insecure", is_flag=True, help=INSECURE_HELP)
def demo(
    province_file: Path | None,
    duration: float,
    rate_scale: float,
    speed: float,
    seed: int,
    report_json: Path | None,
    agents_per_site: int | None,
    surge: str,
    workdir: Path | None,
    insecure: bool = False,
) -> None:
    """Run a living province: callers, agents, overflow and transfers between cities, a
    live wallboard, then the consolidated report and settlement. Exit 0 when every call
    has its CDR at the hub and the net positions sum to zero."""
    from vcc_ops.cli import example_province_path
    from vcc_ops.demo.run import DemoOptions, main_entry

    def _term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    surge_site, surge_factor = "", 1.0
    if surge.lower() != "none":
        site, _, factor = surge.partition(":")
        try:
            surge_site, surge_factor = site.strip(), float(factor or "3")
        except ValueError:
            raise click.BadParameter(f"not SITE:FACTOR: {surge!r}", param_hint="--surge") from None
    work = workdir or Path(tempfile.mkdtemp(prefix="vcc-demo-"))
    opts = DemoOptions(
        province_file or example_province_path(),
        work,
        duration,
        rate_scale,
        speed,
        seed,
        report_json,
        None,
        agents_per_site,
        surge_site=surge_site,
        surge_factor=surge_factor,
        insecure=insecure,
    )
    click.echo(f"vcc demo: logs and data under {work}", err=True)
    sys.exit(main_entry(opts))
