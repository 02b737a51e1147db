"""What a shared ``vcc bench all --quick`` run left (see ``bench_all_quick`` in the
integration tests' conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchAll:
    """One ``vcc bench all --quick`` run: its exit code, output, JSON file and document."""

    exit_code: int
    output: str
    path: Path
    doc: dict[str, Any]
