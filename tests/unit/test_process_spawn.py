"""A child started from a short-lived thread outlives that thread (but not the parent).

Linux ties the parent-death signal to the thread that forked the child; a child started
from ``asyncio.to_thread`` used to be killed as soon as that worker thread ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from vcc_ops.infra.process import ManagedProcess, _parent_guard

# The kernel sends the parent-death signal as the starting thread exits; give it that long.
WATCH_S = 3.0


def test_a_child_started_from_a_thread_that_ended_keeps_running(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "out"
    )
    starter = threading.Thread(target=proc.start)
    starter.start()
    starter.join()
    try:
        assert proc.pid is not None
        deadline = time.monotonic() + WATCH_S
        while time.monotonic() < deadline:
            assert proc.alive, f"killed when its starting thread ended: {proc.returncode}"
            time.sleep(0.1)
    finally:
        proc.kill()


def test_the_guard_runs_nothing_when_the_parent_is_not_the_one_expected(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    orphaned = subprocess.run([*_parent_guard(os.getpid() + 100_000), *command], check=False)
    assert orphaned.returncode == 1 and not marker.exists()
    ours = subprocess.run([*_parent_guard(os.getpid()), *command], check=False)
    assert ours.returncode == 0 and marker.exists()
