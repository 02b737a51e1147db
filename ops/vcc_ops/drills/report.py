"""Drill reports: JSON as is, and one self-contained HTML page with an inline SVG
timeline per drill (calls offered/lost/refused per second, fault and recovery marks)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

W, H, PAD = 900, 220, 40
COLORS = {
    "fault": "#c0392b",
    "restore": "#2471a3",
    "detect": "#d68910",
    "reroute": "#7d3c98",
    "takeover": "#7d3c98",
    "recover": "#229954",
    "phase": "#888",
}
SERIES = {"offered": "#2e86c1", "lost": "#c0392b", "refused": "#d68910"}


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def timeline_svg(report: dict[str, Any]) -> str:
    series: dict[str, list[int]] = report.get("series", {})
    n = max((len(v) for v in series.values()), default=1)
    top = max((max(v, default=0) for v in series.values()), default=0) or 1

    def x(t: float) -> float:
        return PAD + (W - 2 * PAD) * t / max(n, 1)

    def y(v: float) -> float:
        return H - PAD - (H - 2 * PAD) * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'role="img" aria-label="drill timeline">',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<text x="{PAD}" y="{H - 8}" font-size="11">0 s</text>',
        f'<text x="{W - PAD - 30}" y="{H - 8}" font-size="11">{n} s</text>',
        f'<text x="4" y="{PAD}" font-size="11">{top}/s</text>',
    ]
    marks = report.get("timeline", [])
    fault = next((e["t_s"] for e in marks if e["kind"] == "fault"), None)
    restore = next((e["t_s"] for e in marks if e["kind"] == "restore"), None)
    if fault is not None and restore is not None:
        parts.append(
            f'<rect x="{x(fault):.1f}" y="{PAD}" width="{max(1.0, x(restore) - x(fault)):.1f}" '
            f'height="{H - 2 * PAD}" fill="#f5b7b1" opacity="0.4"/>'
        )
    for name, values in series.items():
        pts = " ".join(f"{x(i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{SERIES.get(name, "#555")}" '
            f'stroke-width="1.5" points="{pts}"><title>{name} per s</title></polyline>'
        )
    for i, e in enumerate(marks):
        xe = x(float(e["t_s"]))
        color = COLORS.get(str(e["kind"]), "#555")
        parts.append(
            f'<line x1="{xe:.1f}" y1="{PAD - 10}" x2="{xe:.1f}" y2="{H - PAD}" '
            f'stroke="{color}" stroke-dasharray="3,2"><title>{html.escape(str(e["t_s"]))} s: '
            f"{html.escape(str(e['what']))}</title></line>"
        )
        parts.append(
            f'<text x="{xe + 2:.1f}" y="{PAD - 12 + 10 * (i % 3)}" font-size="9" '
            f'fill="{color}">{i + 1}</text>'
        )
    legend = " ".join(f'<tspan fill="{c}">■ {k}</tspan>' for k, c in SERIES.items())
    parts.append(f'<text x="{W - 260}" y="14" font-size="11">{legend}</text></svg>')
    return "".join(parts)


def _table(rows: list[list[Any]], head: list[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def drill_html(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    color = "#229954" if verdict == "PASS" else "#c0392b"
    objectives = _table(
        [
            [o["objective"], o["target"], o["measured"], "PASS" if o["pass"] else "FAIL"]
            for o in report["objectives"]
        ],
        ["objective", "target", "measured", "result"],
    )
    measured = _table([[k, v] for k, v in report.get("measured", {}).items()], ["figure", "value"])
    sl = _table(
        [
            [k, v["offered"], v["service_level_pct"]]
            for k, v in report.get("service_level", {}).items()
        ],
        ["window", "calls offered", "service level %"],
    )
    checks = report.get("checks", {})
    check_rows = [[k, v] for k, v in checks.items() if k not in ("examples", "failures")]
    timeline = _table(
        [[i + 1, e["t_s"], e["kind"], e["what"]] for i, e in enumerate(report.get("timeline", []))],
        ["#", "t (s)", "kind", "what"],
    )
    return (
        f"<section><h2>{html.escape(report['scenario'])}: "
        f'<span style="color:{color}">{verdict}</span></h2>'
        f"{timeline_svg(report)}<h3>Objectives</h3>{objectives}"
        f"<h3>Measured</h3>{measured}<h3>Service level</h3>{sl}"
        f"<h3>Invariant checks</h3>{_table(check_rows, ['check', 'value'])}"
        f"<pre>{html.escape(json.dumps(checks.get('examples', {}), indent=1))}</pre>"
        f"<h3>Timeline</h3>{timeline}</section>"
    )


def html_page(reports: list[dict[str, Any]], title: str, summary: str = "") -> str:
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}"
    )
    body = "".join(drill_html(r) for r in reports)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(summary)}</p>{body}</body></html>"
    )


def write_html(reports: list[dict[str, Any]], path: Path, title: str, summary: str = "") -> None:
    path.write_text(html_page(reports, title, summary), encoding="utf-8")
