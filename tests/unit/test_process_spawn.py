"""A child started from a short-lived thread outlives that thread (but not the parent).

Linux ties the parent-death signal to the thread that forked the child; a child started
from ``asyncio.to_thread`` used to be killed as soon as that worker thread ended.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from vcc_ops.infra.process import ManagedProcess

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
