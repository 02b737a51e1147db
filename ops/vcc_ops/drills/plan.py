"""Running drills on a province the drill starts itself, alone or as a game-day plan.

A plan is a TOML file::

    [province]            # all optional
    sites = ["KM", "QJ", "DL"]
    cluster = true        # 3 NATS + 3 etcd
    hubs = 2
    postgres = false

    [objectives]          # defaults: see runner.Objectives
    reroute_s = 3.0
    takeover_s = 3.0

    [traffic]
    calls_per_s = 4.0
    agents_per_site = 6

    [[drill]]
    scenario = "site-kill"
    site = "DL"
    hold_s = 5

A plan naming a SIP drill (``sip-site-kill``) starts the province with its SIP parts (as
``vcc up --sip``); where Kamailio or SIPp are not installed that drill is skipped, its
report naming what to install.

The game day is scored as the share of the drills run that passed; it passes when all
did.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_ops.drills.runner import DrillOptions, Objectives, make_traffic, run_drill
from vcc_ops.drills.scenarios import SCENARIOS, SIP_SCENARIOS
from vcc_ops.drills.sip_calls import sip_tools_missing
from vcc_ops.infra import free_port
from vcc_ops.infra.ports import HOST
from vcc_ops.launcher import ProvinceLauncher
from vcc_ops.sip_launch import start_sip

OPTION_KEYS = {f.name for f in fields(DrillOptions)} - {"params"}


@dataclass
class ProvinceSetup:
    province_file: Path
    workdir: Path
    sites: list[str] | None = None
    cluster: bool = True
    hubs: int = 2
    postgres: bool = False
    node_env: dict[str, str] = field(default_factory=dict)
    insecure: bool = False  # plaintext gRPC (default: mutual TLS)

    def launcher(self, progress: Callable[[str], None]) -> ProvinceLauncher:
        return ProvinceLauncher(
            self.province_file,
            self.workdir,
            postgres=self.postgres,
            sites=self.sites,
            progress=progress,
            node_env=self.node_env,
            cluster=self.cluster,
            hubs=self.hubs,
            faults=True,
            insecure=self.insecure,
        )


@dataclass
class DrillSpec:
    scenario: str
    options: DrillOptions = field(default_factory=DrillOptions)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> DrillSpec:
        raw = dict(raw)
        name = str(raw.pop("scenario", ""))
        if name not in SCENARIOS:
            raise ConfigError(
                f"unknown scenario {name!r}; one of {sorted(SCENARIOS)}", field="drill.scenario"
            )
        opts = {k: float(raw.pop(k)) for k in list(raw) if k in OPTION_KEYS}
        return cls(name, DrillOptions(**opts, params=raw))


def load_plan(path: Path) -> tuple[dict[str, Any], Objectives, dict[str, Any], list[DrillSpec]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read plan {path}: {exc}", field="plan") from exc
    try:
        objectives = Objectives(**raw.get("objectives", {}))
    except TypeError as exc:
        raise ConfigError(f"bad [objectives]: {exc}", field="objectives") from exc
    drills = [DrillSpec.parse(d) for d in raw.get("drill", [])]
    if not drills:
        raise ConfigError("a plan needs at least one [[drill]]", field="drill")
    return raw.get("province", {}), objectives, raw.get("traffic", {}), drills


async def run_drills(
    launcher: ProvinceLauncher,
    drills: list[DrillSpec],
    objectives: Objectives,
    traffic: dict[str, Any],
) -> dict[str, Any]:
    """Run ``drills`` in sequence on a started launcher; the scored game day."""
    reports = []
    for spec in drills:
        missing = sip_tools_missing() if spec.scenario in SIP_SCENARIOS else ""
        if missing:
            reports.append(skipped(spec, missing))
            continue
        live = make_traffic(launcher, drain_s=spec.options.drain_s, **traffic)
        reports.append(await run_drill(launcher, live, spec.scenario, objectives, spec.options))
    ran = [r for r in reports if r["verdict"] != "SKIP"]
    passed = sum(1 for r in ran if r["verdict"] == "PASS")
    return {
        "verdict": "PASS" if ran and passed == len(ran) else "FAIL",
        "score": f"{passed}/{len(ran)}",
        "score_pct": round(100 * passed / len(ran), 1) if ran else 0.0,
        "finished_at": time.time(),
        "drills": reports,
        "skipped": [r["scenario"] for r in reports if r["verdict"] == "SKIP"],
    }


def skipped(spec: DrillSpec, why: str) -> dict[str, Any]:
    """The report of a drill that cannot run on this machine (not scored)."""
    return {
        "scenario": spec.scenario,
        "verdict": "SKIP",
        "skipped": why,
        "failed": [],
        "objectives": [],
        "measured": {},
        "checks": {},
        "started_at": time.time(),
        "params": dict(spec.options.params),
    }


def start_sip_parts(launcher: ProvinceLauncher, drills: list[DrillSpec]) -> None:
    """The SIP edge and each site's SIP agent, when a drill needs them and can run."""
    if any(d.scenario in SIP_SCENARIOS for d in drills) and not sip_tools_missing():
        launcher.progress(f"SIP edge at {start_sip(launcher, f'{HOST}:{free_port()}')}")


def run_standalone(
    setup: ProvinceSetup,
    drills: list[DrillSpec],
    objectives: Objectives,
    traffic: dict[str, Any],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Start a province (with fault proxies), run the drills, stop it."""
    launcher = setup.launcher(progress)
    try:
        launcher.start()
        start_sip_parts(launcher, drills)
        return asyncio.run(run_drills(launcher, drills, objectives, traffic))
    finally:
        launcher.stop()
