"""An invalid province file stops `vcc up` before anything starts, naming the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vcc_ops.cli import example_province_path

VCC = [sys.executable, "-m", "vcc_ops.cli"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = example_province_path().read_text()
    assert old in text, f"example province no longer contains {old!r}"
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def _run_up(tmp_path: Path, province: Path) -> subprocess.CompletedProcess[str]:
    workdir = tmp_path / "run"
    result = subprocess.run(
        [*VCC, "up", "--province", str(province), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not workdir.exists(), "nothing may start for an invalid province"
    return result


def test_malformed_toml_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(example_province_path().read_text() + "\nthis is = = not toml\n")
    result = _run_up(tmp_path, path)
    assert result.returncode != 0
    assert "line" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("seats = 200", "seats = -5", "sites[0].seats"),
        ('home_site = "KM"', 'home_site = "XX"', "home_site: unknown site 'XX'"),
        ('dialed_codes = ["114"]', 'dialed_codes = ["112"]', "dialed_codes"),
    ],
)
def test_invalid_field_is_named(tmp_path: Path, old: str, new: str, field: str) -> None:
    result = _run_up(tmp_path, _broken(tmp_path, old, new))
    assert result.returncode != 0
    assert field in result.stderr


def test_example_province_checks_clean() -> None:
    result = subprocess.run(
        [*VCC, "province", "check", "--json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert '"KM"' in result.stdout
