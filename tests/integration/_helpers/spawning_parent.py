"""Start a long-running child through ManagedProcess, print its pid, then wait forever.

Usage: spawning_parent.py LOG_PATH
Prints ``CHILD <pid>``.
"""

from __future__ import annotations

import sys
import time

from vcc_ops.infra.process import ManagedProcess


def main(log_path: str) -> None:
    child = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(3600)"], log_path
    )
    child.start()
    print(f"CHILD {child.pid}", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1])
