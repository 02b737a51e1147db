"""The Quick start's first line: `vcc up --demo` runs the province with live callers and
agent bots until Ctrl-C, says what to open and how to sign in, and the client commands
find it from its state file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration

VCC = [sys.executable, "-m", "vcc_ops.cli"]


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(1.0)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _board(workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [*VCC, "board", "--json", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout) if out.returncode == 0 else {}


def test_up_demo_runs_callers_until_ctrl_c(tmp_path: Path) -> None:
    workdir, log_path = tmp_path / "run", tmp_path / "up.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *VCC,
                "up",
                "--demo",
                "--rate-scale",
                "0.1",
                "--agents-per-site",
                "6",
                "--workdir",
                str(workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"vcc up --demo exited: {log_path.read_text()[-3000:]}")
            return "the province is up" in log_path.read_text()

        _wait(up, 300, "vcc up --demo to say the province is up")
        text = log_path.read_text()
        assert "initial-secrets.tsv" in text and "People gRPC" in text and "vcc board" in text
        sheet = (workdir / "initial-secrets.tsv").read_text().splitlines()
        assert len(sheet) > 400 and len({row.split("\t")[4] for row in sheet[1:]}) == len(sheet) - 1

        def calls_answered() -> bool:
            today = _board(workdir).get("today", {})
            return any((row.get("answered") or 0) > 0 for row in today.values())

        _wait(calls_answered, 180, "the hub to count answered calls of the demo's callers")
        pids = [
            n["pid"]
            for n in json.loads(
                subprocess.run(
                    [*VCC, "status", "--json", "--workdir", str(workdir)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                ).stdout
            )["nodes"]
        ]
        assert len(pids) >= 8  # NATS, etcd, hub, five sites and the edge
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        _wait(lambda: all(_gone(p) for p in pids), 90, "every process to stop")
        assert not (workdir / "state.json").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
