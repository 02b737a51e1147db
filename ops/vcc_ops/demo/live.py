"""``vcc up --demo``: the example province with live callers and agent bots until Ctrl-C.

The province runs in ``vcc up``'s work folder (its state file is where ``vcc status``,
``vcc board`` and the other client commands find it), with province time ``speed`` times
the wall clock as in ``vcc demo``. Agent bots log in at every site, Poisson callers go
through the access edge and the wallboard shows each site until Ctrl-C stops everything;
there is no final report (``vcc demo --duration S --report F`` makes one).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from vcc_ops.demo.run import BASE_CALLS_PER_S, DemoOptions, wallboard
from vcc_ops.demo.wallboard import ProcessFigures
from vcc_ops.launcher import ProvinceLauncher, RunState
from vcc_ops.people_secrets import SHEET
from vcc_ops.traffic.plan import TrafficConfig
from vcc_ops.traffic.run import ProvinceTraffic
from vcc_ops.web_links import desktop_lines


def sign_in_lines(launcher: ProvinceLauncher, state: RunState, workdir: str) -> list[str]:
    """What to open and how to sign in, printed once the province is up."""
    grpc_of = {n.name: n.grpc for n in state.nodes}
    lines = [
        "the province is up; in another terminal (same folder):",
        f"  .venv/bin/vcc status{_wd(workdir)}  (processes, health, endpoints)",
        f"  .venv/bin/vcc board --watch 2{_wd(workdir)}  (the real-time board)",
        f"  .venv/bin/vcc report province{_wd(workdir)}  (the consolidated figures)",
        f"hub gRPC {grpc_of.get('hub-1', '?')}; callers come in at the access edge "
        f"{grpc_of.get('edge', '?')}; `vcc status` lists every /metrics URL",
        "sign in at a site's People gRPC (SignIn, then ChangePassword) with a person's ID "
        f"and their initial secret from {launcher.workdir / SHEET}:",
    ]
    for site in launcher.province.sites:
        if f"site-{site.id}" not in grpc_of:
            continue
        free = sorted(
            (a for a in launcher.province.agents_at(site.id) if not a.takes_calls),
            key=lambda a: a.role.value == "system_admin",
        )
        free_ids = [a.id for a in free]
        who = f"e.g. {free_ids[0]} (not a bot)" if free_ids else "its agents are all bots"
        lines.append(f"  {site.id} at {grpc_of[f'site-{site.id}']}: {who}")
    people = [f"{p.id} ({p.role})" for p in launcher.province.people]
    if people:
        lines.append(f"  the hub's province console: {', '.join(people)}")
    lines += desktop_lines([(n.name, n.web) for n in state.nodes])
    lines.append("Ctrl-C stops the callers, the bots and every process")
    return lines


def _wd(workdir: str) -> str:
    return "" if workdir in (".vcc", "") else f" --workdir {workdir}"


def run_until_stopped(
    opts: DemoOptions,
    progress: Callable[[str], None],
    announce: Callable[[ProvinceLauncher, RunState], None],
    log_format: str | None = None,
) -> None:
    """Start the province with traffic; return when Ctrl-C (or SIGTERM) stops it."""
    epoch = time.time()
    launcher = ProvinceLauncher(
        opts.province_file,
        opts.workdir,
        progress=progress,
        log_format=log_format,
        insecure=opts.insecure,
        node_env={"VCC_TIME_SPEED": str(opts.speed), "VCC_TIME_EPOCH": repr(epoch)},
    )
    try:
        state = launcher.start()
        asyncio.run(_drive(opts, launcher, state, progress, announce))
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop()


async def _drive(
    opts: DemoOptions,
    launcher: ProvinceLauncher,
    state: RunState,
    progress: Callable[[str], None],
    announce: Callable[[ProvinceLauncher, RunState], None],
) -> None:
    grpc_of = {n.name.removeprefix("site-"): n.grpc for n in state.nodes if n.kind == "site"}
    metrics_of = {n.name.removeprefix("site-"): n.metrics for n in state.nodes if n.kind == "site"}
    hub = next(n for n in state.nodes if n.kind == "hub")
    config = TrafficConfig(
        calls_per_s=BASE_CALLS_PER_S * opts.rate_scale,
        speed=opts.speed,
        seed=opts.seed,
        surge_site="",
        surge_factor=1.0,
    )
    traffic = ProvinceTraffic(
        launcher.province,
        launcher.edge_endpoint,
        grpc_of.__getitem__,
        config,
        agents_per_site=opts.agents_per_site,
        passwords=launcher.initial_secrets(),
    )
    progress("logging agent bots in at every site")
    counts = await traffic.start_agents()
    progress("agents logged in: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    announce(launcher, state)
    traffic.start_callers()
    await wallboard(traffic, ProcessFigures(metrics_of, hub.metrics, opts.speed), math.inf)
