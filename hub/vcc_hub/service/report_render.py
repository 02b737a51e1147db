"""Render a :class:`ReportData` as a plain-text table, CSV, JSON or self-contained HTML.

The HTML has no external scripts or styles: charts are inline SVG (service level over
time per site, volume per business, settlement net positions), and the service-quality
index is explained component by component.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from vcc_hub.service.report_views import ReportData, fmt_time

CONTENT_TYPES = {
    "table": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return str(value)


def render(data: ReportData, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(data).encode()
    if fmt == "json":
        return to_json(data).encode()
    if fmt == "html":
        return to_html(data).encode()
    return to_table(data).encode()


def to_table(data: ReportData) -> str:
    grid = [data.columns] + [[cell(r.get(c)) for c in data.columns] for r in data.rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(data.columns))]
    lines = [data.title, ""]
    for n, row in enumerate(grid):
        lines.append(
            "  ".join(v.rjust(w) if n else v.ljust(w) for v, w in zip(row, widths, strict=True))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for label, s in data.sqi.items():
        lines += ["", f"SQI {label}: {cell(s['value'])}"]
        lines += [
            f"  {c['name']:<14} measured {cell(c['measured']):>8}  target "
            f"{cell(c['target']):>6}  attainment {cell(c['attainment']):>6}  weight "
            f"{cell(c['weight']):>4}  points {cell(c['points'])}"
            for c in s["components"]
        ]
    lines += ["", *data.notes, ""]
    return "\n".join(lines)


def to_csv(data: ReportData) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(data.columns)
    for r in data.rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in data.columns])
    return out.getvalue()


def to_json(data: ReportData) -> str:
    return json.dumps(
        {
            "view": data.view,
            "title": data.title,
            "from_ms": data.from_ms,
            "to_ms": data.to_ms,
            "columns": data.columns,
            "rows": data.rows,
            "sqi": data.sqi,
            "charts": data.charts,
            "notes": data.notes,
        },
        ensure_ascii=False,
        indent=1,
        sort_keys=True,
    )


# -- HTML --------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(cell(value))


MAX_CHART_POINTS = 200  # per series; a month of 15-minute intervals is ~2,900


def _thin(pts: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most MAX_CHART_POINTS points: consecutive points averaged into buckets (the chart
    is a picture of the trend; every number in the tables stays exact)."""
    if len(pts) <= MAX_CHART_POINTS:
        return pts
    size = -(-len(pts) // MAX_CHART_POINTS)
    out = []
    for i in range(0, len(pts), size):
        chunk = pts[i : i + size]
        out.append((chunk[0][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def line_chart(series: dict[str, list[tuple[int, float]]], title: str) -> str:
    w, h, pad = 640, 240, 40
    series = {site: _thin(sorted(pts)) for site, pts in series.items()}
    points = [p for s in series.values() for p in s]
    parts = [
        f'<svg class="chart" id="chart-sl" xmlns="http://www.w3.org/2000/svg" '
        f'width="{w}" height="{h}" role="img"><title>{html.escape(title)}</title>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 10}" y2="{h - pad}" stroke="#333"/>',
        f'<line x1="{pad}" y1="10" x2="{pad}" y2="{h - pad}" stroke="#333"/>',
        f'<text x="4" y="14" font-size="10">100%</text>'
        f'<text x="4" y="{h - pad}" font-size="10">0%</text>',
    ]
    if points:
        t0 = min(p[0] for p in points)
        t1 = max(p[0] for p in points)
        span = max(1, t1 - t0)
        for i, (site, pts) in enumerate(sorted(series.items())):
            color = PALETTE[i % len(PALETTE)]
            xy = [
                (pad + (t - t0) / span * (w - pad - 20), h - pad - v * (h - pad - 10))
                for t, v in pts
            ]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(
                f'<polyline class="series" data-site="{html.escape(site)}" '
                f'fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
            if len(xy) <= 60:  # dots only where they can be told apart
                parts += [
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in xy
                ]
            parts.append(
                f'<text x="{w - 120}" y="{20 + 14 * i}" font-size="12" '
                f'fill="{color}">{html.escape(site)}</text>'
            )
        parts.append(
            f'<text x="{pad}" y="{h - 20}" font-size="10">{_e(fmt_time(t0))}</text>'
            f'<text x="{w - 120}" y="{h - 20}" font-size="10">{_e(fmt_time(t1))}'
            f"</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(values: dict[str, int], title: str, chart_id: str, signed: bool = False) -> str:
    w, bar_h, label_w = 640, 22, 160
    h = 20 + bar_h * max(1, len(values))
    top = max([abs(v) for v in values.values()] + [1])
    zero = label_w + ((w - label_w - 80) / 2 if signed else 0)
    scale = (w - label_w - 80) / (2 * top if signed else top)
    parts = [
        f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{w}" height="{h}" role="img"><title>{html.escape(title)}</title>'
    ]
    for i, (label, v) in enumerate(values.items()):
        y = 10 + i * bar_h
        length = abs(v) * scale
        x = zero - length if v < 0 else zero
        color = "#d62728" if v < 0 else "#1f77b4"
        parts.append(
            f'<text x="4" y="{y + 15}" font-size="12">{html.escape(label)}</text>'
            f'<rect class="bar" x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" '
            f'height="{bar_h - 6}" fill="{color}"/>'
            f'<text x="{zero + (length if v >= 0 else 0) + 4:.1f}" y="{y + 15}" '
            f'font-size="11">{v}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


STYLE = (
    "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
    "margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}"
    "section{margin-bottom:28px}.note{color:#555;font-size:13px}"
)


def to_html(data: ReportData) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in data.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in data.columns) + "</tr>"
        for r in data.rows
    )
    sqi_parts = []
    for label, s in data.sqi.items():
        comp_rows = "".join(
            f"<tr><td>{_e(c['name'])}</td><td>{_e(c['measured'])}</td><td>{_e(c['target'])}"
            f"</td><td>{_e(c['attainment'])}</td><td>{_e(c['weight'])}</td>"
            f"<td>{_e(c['points'])}</td></tr>"
            for c in s["components"]
        )
        sqi_parts.append(
            f"<h3>SQI {html.escape(label)}: {_e(s['value'])}</h3><table class='sqi'><tr>"
            "<th>component</th><th>measured</th><th>target</th><th>attainment</th>"
            f"<th>weight</th><th>points</th></tr>{comp_rows}</table>"
        )
    charts = data.charts
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(data.title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(data.title)}</h1>"
        f"<section><table class='report'><tr>{head}</tr>{body}</table></section>"
        "<section><h2>Service level over time per site</h2>"
        f"{line_chart(charts.get('service_level', {}), 'Service level per site')}</section>"
        "<section><h2>Volume per business (offered calls)</h2>"
        f"{bar_chart(charts.get('volume_by_business', {}), 'Volume', 'chart-volume')}"
        "</section><section><h2>Settlement net positions (fen)</h2>"
        f"{bar_chart(charts.get('net_positions_fen', {}), 'Net', 'chart-net', signed=True)}"
        "</section><section><h2>Service-quality index explained</h2>"
        + "".join(sqi_parts)
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in data.notes)
        + "</section></body></html>"
    )
