"""The README's drill table is the one generated from the committed game day's JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vcc_ops.drills.table import BEGIN, END, SCENARIOS, render

ROOT = Path(__file__).resolve().parents[2]


def test_readme_drill_table_is_generated_from_bench_gameday() -> None:
    doc = json.loads((ROOT / "bench" / "gameday.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    assert found, "README has no drills markers"
    assert found.group(1) == render(doc, "bench/gameday.json"), (
        "stale: run `python -m vcc_ops.drills.table bench/gameday.json --readme README.md`"
    )


def test_every_scenario_has_a_row_and_a_failure_is_named() -> None:
    doc = json.loads((ROOT / "bench" / "gameday.json").read_text(encoding="utf-8"))
    doc["drills"][0] = {**doc["drills"][0], "verdict": "FAIL", "failed": ["calls_open"]}
    doc["score"] = "7/8"
    text = render(doc, "x.json")
    assert text.count("\n| `") == len(SCENARIOS)  # a scenario not in the run: no figures
    assert all(f"| `{name}` |" in text for name in SCENARIOS)
    assert "**FAIL**: calls_open" in text and "scored **7/8** (failed: site-kill)" in text
