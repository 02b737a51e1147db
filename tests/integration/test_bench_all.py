"""``vcc bench all --quick`` and the README table made from its JSON.

Correctness only: every section is present and every figure positive (real servers, real
processes, tiny loads); no figure is compared with a speed target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration._helpers.bench import BenchAll
from vcc_ops.bench.all import BENCHES, run_one
from vcc_ops.bench.table import BEGIN, END
from vcc_ops.cli import main


@pytest.fixture(scope="module", autouse=True)
def _operator_credentials() -> None:
    """None: a benchmark starts its own nodes (in plaintext, measured without TLS, where it
    says so) and chooses the credentials it calls them with."""


CEILINGS = (
    "grpc_echo_calls_per_s",
    "grpc_echo_p99_ms",
    "grpc_echo_serial_p99_ms",
    "js_publish_msgs_per_s",
    "js_publish_batch_p99_ms",
    "sqlite_commits_per_s",
    "sqlite_raw_commits_per_s",
    "py_calls_per_s",
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _number(value) and bool(value > 0)


def _check_document(doc: dict[str, Any]) -> None:
    assert doc["schema"] == "vcc-bench-all/1" and doc["quick"] is True
    assert _positive(doc["total_wall_s"])
    machine = doc["machine"]
    assert machine["cpu_model"] and machine["python"] and machine["platform"]
    assert _positive(machine["cores_logical"]) and _positive(machine["memory_bytes"])
    assert len(machine["load_avg_start"]) == 3 and len(machine["load_avg_end"]) == 3
    assert "git_commit" in machine
    for name in CEILINGS:
        assert _positive(doc["ceilings"][name]), (name, doc["ceilings"].get(name))
    assert doc["ceilings"]["grpc_echo_errors"] == 0
    assert doc["ceilings"]["js_publish_refused"] == 0
    for bench in BENCHES:
        record = doc["benches"][bench.name]
        assert record["status"] == "ok", (bench.name, record)
        assert _positive(record["wall_s"]) and record["params"] == bench.quick
    assert {h["bench"] for h in doc["headlines"]} == {b.name for b in BENCHES if b.headlines}
    for row in doc["headlines"]:
        assert _positive(row["value"]), row
        if row["ceiling"] is not None:
            assert _positive(row["ceiling_value"]) and _positive(row["ratio"]), row
    for name, security in (
        ("site", "mutual TLS"),
        ("site_insecure", "plaintext"),
        ("site_capacity", "mutual TLS"),
        ("site_capacity_insecure", "plaintext"),
    ):
        assert doc["benches"][name]["result"]["grpc_security"] == security, name
    cost = doc["security_cost"]
    for key in ("tls_cost_calls_per_s_pct", "tls_cost_p99_pct"):
        assert _number(cost[key]), (key, cost)  # a cost may be negative on a noisy machine
    assert len(cost["pairs"]) == 4 and all(_number(p["cost_pct"]) for p in cost["pairs"])


def test_quick_run_writes_every_section_and_the_readme_table(
    tmp_path: Path, bench_all_quick: BenchAll
) -> None:
    assert bench_all_quick.exit_code == 0, bench_all_quick.output
    out, doc = bench_all_quick.path, bench_all_quick.doc
    assert json.loads(out.read_text()) == doc
    _check_document(doc)

    before = "# Title\n\nText before.\n\n"
    after = "\n\n## Next section\n\nText after, with a table:\n\n| a | b |\n|---|---|\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"{before}{BEGIN}\nthe old table\n{END}{after}")
    runner = CliRunner()
    run = runner.invoke(main, ["bench", "table", str(out), "--readme", str(readme)])
    assert run.exit_code == 0, run.output
    text = readme.read_text()
    assert text.startswith(before + BEGIN + "\n") and text.endswith("\n" + END + after)
    section = text[len(before) + len(BEGIN) : -len(END + after)]
    assert "the old table" not in section
    assert doc["command"] in section and "| bench | figure |" in section
    for bench in BENCHES:
        assert f"| {bench.name} |" in section or not bench.headlines
    assert "| cost of mutual TLS |" in section
    assert "`tls_cost_calls_per_s_pct`" in section and "`tls_cost_p99_pct`" in section
    printed = runner.invoke(main, ["bench", "table", str(out)])
    assert printed.exit_code == 0 and printed.output.strip() == section.strip()
    again = runner.invoke(main, ["bench", "table", str(out), "--readme", str(readme)])
    assert again.exit_code == 0 and readme.read_text() == text  # regenerating is idempotent


def test_readme_without_markers_is_refused_and_left_alone(tmp_path: Path) -> None:
    doc = tmp_path / "latest.json"
    doc.write_text(json.dumps({"benches": {}, "headlines": [], "ceilings": {}}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# No markers\n{BEGIN}\nonly the start\n")
    run = CliRunner().invoke(main, ["bench", "table", str(doc), "--readme", str(readme)])
    assert run.exit_code != 0 and "exactly one" in run.output
    assert readme.read_text() == f"# No markers\n{BEGIN}\nonly the start\n"


def test_a_failing_bench_is_recorded_as_an_error(tmp_path: Path) -> None:
    out = tmp_path / "route.json"
    assert run_one("route", {"runs": 1, "no_such_parameter": 1}, out) == 0
    record = json.loads(out.read_text())
    assert record["status"] == "error" and "no_such_parameter" in record["error"]
