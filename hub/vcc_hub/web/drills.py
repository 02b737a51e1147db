"""The drill reports the province console shows: the JSON reports of ``vcc drill`` kept in
one folder the hub is given (``VCC_CONSOLE_DRILL_REPORTS``).

Operations run drills on a province started for them and file each report there (``vcc
drill SCENARIO --json <folder>/<name>.json``, or a game day's ``vcc drill plan``); the
console only reads them. A report is named by its file name, which must be a plain name
in that folder (no path, no hidden file, no link leading out of it), and is read only up to
:data:`MAX_BYTES`. Both shapes ``vcc drill`` writes are understood: a run (``verdict``,
``score``, ``drills``) and one drill's report (``scenario``, ``verdict``, ``objectives``).
A file that is not a drill report is listed as unreadable, saying why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc_domain.errors import InvalidInput, NotFound

Json = dict[str, Any]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.json$")
MAX_BYTES = 4_000_000  # a game day of eight drills is about 50 kB
MAX_REPORTS = 500  # the newest shown
#: what one drill's page shows besides its objectives (the rest stays in the file)
DETAIL = ("measured", "service_level", "calls", "lost_calls_why", "timeline", "params")


class NotADrillReport(ValueError):
    """The file is not a report ``vcc drill`` wrote."""


def _drills_of(data: Any) -> list[Json]:
    drills: list[Json]
    if isinstance(data, dict) and isinstance(data.get("drills"), list):
        drills = data["drills"]
    elif isinstance(data, dict) and "scenario" in data:
        drills = [data]
    else:
        raise NotADrillReport("neither a drill run nor one drill's report")
    for drill in drills:
        if not isinstance(drill, dict) or not isinstance(drill.get("objectives"), list):
            raise NotADrillReport("a drill without its objectives")
        if not all(isinstance(o, dict) and "objective" in o for o in drill["objectives"]):
            raise NotADrillReport("an objective without its name")
    return drills


def objective(row: Json) -> Json:
    return {
        "objective": str(row.get("objective", "")),
        "target": row.get("target"),
        "measured": row.get("measured"),
        "pass": bool(row.get("pass")),
    }


def drill_summary(drill: Json) -> Json:
    return {
        "scenario": str(drill.get("scenario", "")),
        "verdict": str(drill.get("verdict", "")),
        "failed": [str(f) for f in drill.get("failed", []) or []],
        "objectives": [objective(o) for o in drill["objectives"]],
    }


def run_verdict(drills: list[Json], data: Json) -> tuple[str, str]:
    passed = sum(1 for d in drills if d.get("verdict") == "PASS")
    verdict = str(data.get("verdict") or ("PASS" if passed == len(drills) else "FAIL"))
    return verdict, str(data.get("score") or f"{passed}/{len(drills)}")


@dataclass(frozen=True, slots=True)
class DrillReports:
    """The reports folder (None: the hub was given none)."""

    folder: Path | None

    def _path(self, name: str) -> Path:
        if self.folder is None:
            raise NotFound("this hub keeps no drill reports (VCC_CONSOLE_DRILL_REPORTS)")
        if not NAME.match(name):
            raise InvalidInput(f"{name!r} is not a drill report's name", field="name")
        path = self.folder / name
        root = self.folder.resolve()
        if not path.is_file() or path.resolve().parent != root:
            raise NotFound(f"no drill report {name!r}", field="name")
        return path

    def _load(self, path: Path) -> tuple[Json, list[Json]]:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise NotADrillReport(f"larger than {MAX_BYTES} bytes")
        try:
            data = json.loads(raw)
        except ValueError:
            raise NotADrillReport("not JSON") from None
        drills = _drills_of(data)
        return data, drills

    def names(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        root = self.folder.resolve()
        files = [
            p
            for p in self.folder.iterdir()
            if NAME.match(p.name) and p.is_file() and p.resolve().parent == root
        ]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        return files[:MAX_REPORTS]

    def listing(self) -> Json:
        """Every report, newest first: its verdict and each drill's, or why unreadable."""
        reports = []
        for path in self.names():
            entry: Json = {"name": path.name, "modified_ms": int(path.stat().st_mtime * 1000)}
            try:
                data, drills = self._load(path)
            except (OSError, NotADrillReport) as err:
                reports.append({**entry, "verdict": "", "unreadable": str(err)})
                continue
            verdict, score = run_verdict(drills, data)
            reports.append(
                {
                    **entry,
                    "verdict": verdict,
                    "score": score,
                    "finished_at_ms": _ms(data.get("finished_at") or drills[0].get("started_at")),
                    "drills": [
                        {"scenario": d["scenario"], "verdict": d["verdict"], "failed": d["failed"]}
                        for d in map(drill_summary, drills)
                    ],
                }
            )
        return {"configured": self.folder is not None, "reports": reports}

    def report(self, name: str) -> Json:
        """One report: per drill its objectives (target, measured, pass) and figures."""
        path = self._path(name)
        try:
            data, drills = self._load(path)
        except NotADrillReport as err:
            raise InvalidInput(f"{name} is not a drill report: {err}", field="name") from None
        verdict, score = run_verdict(drills, data)
        return {
            "name": name,
            "verdict": verdict,
            "score": score,
            "finished_at_ms": _ms(data.get("finished_at") or drills[0].get("started_at")),
            "drills": [{**drill_summary(d), **{k: d[k] for k in DETAIL if k in d}} for d in drills],
        }


def _ms(seconds: Any) -> int:
    return int(float(seconds) * 1000) if isinstance(seconds, int | float) else 0
