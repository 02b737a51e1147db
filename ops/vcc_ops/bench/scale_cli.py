"""``vcc bench scale``: the command, and the README table made from its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vcc_ops.bench.table import replace_section
from vcc_ops.exits import BadInput
from vcc_ops.progress import working

BEGIN = "<!-- scale:begin -->"
END = "<!-- scale:end -->"

COLUMNS = (
    ("sites", "sites"),
    ("light_site_processes", "light-site processes"),
    ("hub_idle_cpu_pct", "hub idle CPU %"),
    ("hub_cpu_ms_per_event", "hub CPU ms / event"),
    ("hub_cpu_pct_load", "hub CPU % under events"),
    ("events_per_s", "events / s"),
    ("replication_lag_p50_ms", "lag p50 ms"),
    ("replication_lag_p99_ms", "lag p99 ms"),
    ("change_to_first_site_p50_ms", "change → first site p50 ms"),
    ("change_to_all_sites_p50_ms", "change → all sites p50 ms"),
    ("change_to_all_sites_p99_ms", "change → all sites p99 ms"),
    ("hub_cpu_ms_per_change", "hub CPU ms / change"),
    ("routing_map_bytes", "routing map bytes"),
    ("routing_refresh_ms", "map refresh ms"),
    ("routing_compute_ms", "map compute ms"),
    ("hub_saturation_events_per_s", "hub saturates at events / s"),
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


def render_scale_table(doc: dict[str, Any]) -> str:
    """The Markdown table (one row per number of sites) with the command that made it."""
    lines = [
        f"Produced by `{doc.get('command', 'vcc bench scale')}` on {doc.get('started_at', '?')}.",
        "",
        "| " + " | ".join(title for _k, title in COLUMNS) + " |",
        "|" + "---:|" * len(COLUMNS),
    ]
    for row in doc.get("rows", []):
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _t in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


@click.command("scale")
@click.option(
    "--sites",
    default="5,16,64",
    show_default=True,
    help="Numbers of light sites, comma separated (5..99 each).",
)
@click.option(
    "--calls-per-s",
    type=float,
    default=20.0,
    show_default=True,
    help="Answered calls per second of the whole province (five events each), spread "
    "over the sites.",
)
@click.option("--seconds", type=float, default=15.0, show_default=True, help="Event window.")
@click.option("--changes", type=int, default=5, show_default=True, help="Directory changes.")
@click.option(
    "--idle-seconds", "idle_s", type=float, default=5.0, show_default=True, help="Idle window."
)
@click.option(
    "--sites-per-process",
    type=int,
    default=16,
    show_default=True,
    help="Light sites per process (asyncio tasks).",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the result as JSON to this file.",
)
@click.option(
    "--render",
    "render_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Run nothing: print (with --readme, write) the table of an earlier run's JSON.",
)
@click.option(
    "--readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Replace the section between {BEGIN} and {END} in this file with the table.",
)
def bench_scale(
    sites: str,
    calls_per_s: float,
    seconds: float,
    changes: int,
    idle_s: float,
    sites_per_process: int,
    json_file: Path | None,
    render_file: Path | None,
    readme: Path | None,
) -> None:
    """One hub serving N light sites (real gRPC, NATS, etcd; no ACD): hub CPU per event,
    directory change to all sites, routing map size and refresh cost, replication lag."""
    from datetime import UTC, datetime

    from vcc_ops.bench.scale import run_scale

    if render_file is not None:
        _table(json.loads(render_file.read_text()), readme)
        return
    try:
        counts = [int(x) for x in sites.split(",") if x.strip()]
    except ValueError as err:
        raise BadInput(f"--sites: {sites!r} is not a list of numbers") from err
    if not counts or any(not 5 <= n <= 99 for n in counts):
        raise BadInput("--sites: every number of sites must be within 5..99")
    command = (
        f"vcc bench scale --sites {','.join(map(str, counts))} --calls-per-s {calls_per_s:g} "
        f"--seconds {seconds:g} --changes {changes} --idle-seconds {idle_s:g}"
        + (f" --json {json_file}" if json_file else "")
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with working(f"bench scale: {counts} sites"):
        doc = run_scale(
            counts,
            calls_per_s=calls_per_s,
            seconds=seconds,
            changes=changes,
            idle_s=idle_s,
            sites_per_process=sites_per_process,
        )
    doc = {"command": command, "started_at": started, **doc}
    text = json.dumps(doc, indent=2)
    if json_file is not None:
        json_file.write_text(text + "\n")
    click.echo(text)
    _table(doc, readme, err=True)


def _table(doc: dict[str, Any], readme: Path | None, err: bool = False) -> None:
    block = render_scale_table(doc)
    if readme is None:
        click.echo(block, nl=False, err=err)
        return
    try:
        readme.write_text(replace_section(readme.read_text(), block, BEGIN, END))
    except ValueError as exc:
        raise BadInput(f"{readme}: {exc}") from exc
    click.echo(f"updated the scale table of {readme}", err=err)
