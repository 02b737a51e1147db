"""The HTML report opened in headless Chromium shows its charts.

The page is rendered exactly as the hub's ``Reports.GetReport`` renders it (aggregates from
:func:`aggregate_cdrs` and charges from :func:`rate_cdr` → :func:`views.build` →
:func:`render.render` as ``html``), over a small deterministic month of generated CDRs of
the example province. Chromium (headless) then takes a screenshot — decoded here with the
standard library only (zlib/struct) to check its size, that it is not blank and that the
chart colours are painted — and dumps the rendered DOM, in which the three SVG charts must
be present with their series, points and bars. Skipped when Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from vcc_domain.rating import period_bounds_ms, rate_cdr
from vcc_domain.sqi import SqiConfig
from vcc_domain.stats import AgentFigures, Figures, StatsConfig, aggregate_cdrs, merge_into
from vcc_hub.service.aggregator import target_of, tariff_of
from vcc_hub.service.report_render import render
from vcc_hub.service.report_views import build
from vcc_hub.store.reports import Loaded
from vcc_ops.bench.report import example_province, generate

pytestmark = pytest.mark.integration

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
WIDTH, HEIGHT = 1400, 2000
BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # PALETTE[0] / bars, negative bars


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows (RGB or RGBA, 8 bits) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        else:
            assert ftype == 0, f"bad PNG filter {ftype}"
        rows.append(bytes(line))
        prev = line
    return (
        width,
        height,
        [r if bpp == 3 else bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows],
    )


def report_html() -> bytes:
    """A province report of October 2026 rendered as the Reports service renders it."""
    province = example_province()
    config = StatsConfig()
    lo, hi = period_bounds_ms("2026-10")
    stats: dict[tuple[str, str, str, int], Figures] = {}
    agents: dict[tuple[str, str, int], AgentFigures] = {}
    charges = []
    for chunk in generate(province, "2026-10", 3_000, seed=7):
        s, a = aggregate_cdrs(chunk, target_of(province), config)
        merge_into(stats, s)
        merge_into(agents, a)
        charges += [rate_cdr(c, tariff_of(province)) for c in chunk]
    data = build(
        "province",
        Loaded(stats, agents, charges, hi),
        target_of(province),
        SqiConfig(),
        config.interval_ms,
        lo,
        hi,
    )
    # one point a day per site keeps the line chart legible
    data.charts["service_level"] = {
        site: pts[::96] for site, pts in data.charts["service_level"].items()
    }
    return render(data, "html")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install "
    "chromium); the HTML screenshot test needs it",
)
def test_html_report_charts_render_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(report_html())
    shot = tmp_path / "report.png"
    out = chromium(
        [f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri()],
        tmp_path / "profile-shot",
    )
    assert shot.exists(), out.stderr[-2000:]
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    pixels: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        pixels.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    assert len(pixels) > 50, f"blank page? only {len(pixels)} colours"
    white = pixels[(255, 255, 255)]
    assert white < WIDTH * HEIGHT * 0.97, "almost all white"
    assert pixels[BLUE] > 2_000, f"bars / series not painted: {pixels[BLUE]} blue pixels"
    assert pixels[RED] > 200, f"negative net positions not painted: {pixels[RED]}"

    out = chromium(["--dump-dom", page.as_uri()], tmp_path / "profile-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", dom, flags=re.S)
    ids = {m for s in svgs for m in re.findall(r'id="([^"]+)"', s[:200])}
    assert {"chart-sl", "chart-volume", "chart-net"} <= ids, ids
    by_id = {
        re.search(r'id="([^"]+)"', s[:200]).group(1): s  # type: ignore[union-attr]
        for s in svgs
    }
    assert "<title>Service level per site</title>" in by_id["chart-sl"]
    assert by_id["chart-sl"].count('class="series"') == len(example_province().sites)
    assert by_id["chart-sl"].count("<circle") > 20
    province = example_province()
    assert by_id["chart-volume"].count('class="bar"') == len(province.businesses)
    assert by_id["chart-net"].count('class="bar"') == len(province.sites)
    assert "<script" not in dom
