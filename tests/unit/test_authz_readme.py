"""``vcc authz`` prints the authorization table, and the README's copy is up to date."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vcc_ops.authz_cli import readme_block
from vcc_ops.cli import main
from vcc_ops.settings_cli import replace_section
from vcc_proto.authz import BEGIN, END, TABLE

README = Path(__file__).resolve().parents[2] / "README.md"


def test_vcc_authz_prints_text_json_and_markdown() -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["authz"])
    assert text.exit_code == 0, text.output
    assert "Routing.ReportQueueFigures" in text.output and "own_site=site_id" in text.output
    shown = runner.invoke(main, ["authz", "--json"])
    rows = json.loads(shown.output)
    assert [r["rpc"] for r in rows] == list(TABLE)
    close = next(r for r in rows if r["rpc"] == "Reports.CloseSettlement")
    assert close["nodes"] == ["ops"] and close["roles"] == ["province_manager"]
    table = runner.invoke(main, ["authz", "--markdown"])
    assert "| `Routing.ReportQueueFigures` | site |  | site: `site_id` |" in table.output


def test_readme_authz_table_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    expected = replace_section(text, readme_block(), BEGIN, END)
    assert text == expected, (
        "the README's authorization table is out of date: run `vcc authz --readme README.md`"
    )


def test_readme_option_refuses_a_file_without_markers(tmp_path: Path) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("no markers here\n")
    result = CliRunner().invoke(main, ["authz", "--readme", str(plain)])
    assert result.exit_code != 0 and plain.read_text() == "no markers here\n"
