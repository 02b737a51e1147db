"""The Markdown table of a ``vcc bench all`` JSON, and the README section it fills.

``vcc bench table FILE.json`` prints it; ``--readme README.md`` replaces what lies between
the markers ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` (exactly one pair) and
leaves every other byte of the file as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vcc_ops.bench.security_cost import render as render_security_cost
from vcc_ops.exits import BadInput

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _ratio(row: dict[str, Any]) -> str:
    ratio = row.get("ratio")
    if ratio is None:
        return "—"
    return f"{ratio:.3g}×" if row.get("ratio_kind") == "times" else f"{ratio:.3g}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    load0, load1 = m.get("load_avg_start") or ["?"], m.get("load_avg_end") or ["?"]
    commit = (m.get("git_commit") or "unknown")[:12]
    dirty = " with uncommitted changes" if m.get("git_dirty") else ""
    return (
        f"{m.get('cpu_model', '?')}, {m.get('cores_logical', '?')} logical cores "
        f"({m.get('cores_usable', '?')} usable), {m.get('memory_gib', '?')} GiB, "
        f"Python {m.get('python', '?')}, {m.get('platform', '?')}; 1-min load average "
        f"{load0[0]} at start, {load1[0]} at end; commit `{commit}`{dirty}"
    )


def _province_kinds(record: dict[str, Any]) -> list[str]:
    """The province bench's cost per process kind: CPU per call and idle CPU."""
    result = record.get("result", {}) if record.get("status") == "ok" else {}
    per_call, idle = result.get("cpu_ms_per_call"), result.get("idle_cpu_pct")
    if not isinstance(per_call, dict) or not isinstance(idle, dict):
        return []
    count = result.get("processes", {})
    lines = [
        "",
        "| province: process kind | processes | CPU ms per call | idle CPU % of one core |",
        "|---|---:|---:|---:|",
    ]
    for kind, ms in per_call.items():
        lines.append(
            f"| {kind} | {_num(count.get(kind, 1))} | {_num(ms)} | {_num(idle.get(kind))} |"
        )
    return lines


def render_table(doc: dict[str, Any], source: str = "FILE.json") -> str:
    """The whole Markdown block: provenance, headline table, ceilings, parameters."""
    benches: dict[str, dict[str, Any]] = doc.get("benches", {})
    lines = [
        f"Produced by `{doc.get('command') or 'vcc bench all'}` on {doc.get('started_at')} "
        f"in {_num(doc.get('total_wall_s'))} s; this section is regenerated with "
        f"`vcc bench table {source} --readme README.md`.",
        "",
        f"Machine: {_machine(doc)}.",
        "",
        "| bench | figure | value | ratio | ceiling (same run) | bench wall s (CPU s) |",
        "|---|---|---:|---:|---|---:|",
    ]
    seen: set[str] = set()
    for row in doc.get("headlines", []):
        name = row["bench"]
        record = benches.get(name, {})
        status = record.get("status", "missing")
        value = _num(row.get("value")) if status == "ok" else f"*{status}*"
        ceiling = (
            f"`{row['ceiling']}` = {_num(row.get('ceiling_value'))}" if row.get("ceiling") else "—"
        )
        wall = (
            ""
            if name in seen
            else _num(record.get("wall_s"))
            + (f" ({_num(record['cpu_s'])})" if "cpu_s" in record else "")
        )
        lines.append(
            f"| {name if name not in seen else ''} | `{row['figure']}` | {value} | "
            f"{_ratio(row)} | {ceiling} | {wall} |"
        )
        seen.add(name)
    ceilings = {
        k: v
        for k, v in doc.get("ceilings", {}).items()
        if k.endswith(("_per_s", "_ms")) and isinstance(v, int | float)
    }
    if ceilings:
        lines += ["", "| ceiling | value |", "|---|---:|"]
        lines += [f"| `{k}` | {_num(v)} |" for k, v in ceilings.items()]
    lines += _province_kinds(benches.get("province", {}))
    lines += render_security_cost(doc.get("security_cost"))
    lines += [
        "",
        "Ratios: a plain number is figure / ceiling (the share of the bare "
        "ceiling reached); `N×` is latency / floor (how many bare round trips it is "
        "worth).",
        "",
        "Parameters and anything that did not run:",
        "",
    ]
    for name, record in benches.items():
        note = ""
        if record.get("status") != "ok":
            note = f" — **{record.get('status')}**: {record.get('error') or record.get('reason')}"
        lines.append(f"* {name}: {_params(record.get('params', {}))}{note}")
    for key, text in doc.get("notes", {}).items():
        if not key.startswith("ratio"):
            lines.append(f"* note ({key}): {text}")
    return "\n".join(lines) + "\n"


def replace_section(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` with everything between the markers replaced by ``block``."""
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"expected exactly one {begin} and one {end}")
    head, rest = text.split(begin, 1)
    if end not in rest:
        raise ValueError(f"{end} comes before {begin}")
    _old, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block.rstrip()}\n{end}{tail}"


def update_readme(readme: Path, doc: dict[str, Any], source: str) -> None:
    readme.write_text(replace_section(readme.read_text(), render_table(doc, source)))


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@click.command("table")
@click.argument("json_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Replace the section between {BEGIN} and {END} in this file.",
)
def bench_table(json_file: Path, readme: Path | None) -> None:
    """Print the Markdown table of a `vcc bench all` JSON (or put it in a README)."""
    doc = load(json_file)
    if readme is None:
        click.echo(render_table(doc, str(json_file)), nl=False)
        return
    try:
        update_readme(readme, doc, str(json_file))
    except ValueError as err:
        raise BadInput(f"{readme}: {err}") from err
    click.echo(f"updated the benchmark section of {readme} from {json_file}")
