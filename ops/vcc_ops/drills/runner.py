"""Run one drill under live traffic: steady state, inject, observe, restore, recover,
check the invariants, and score the measured figures against the objectives."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from vcc_ops.drills.checks import ProvinceDatabases, run_checks, service_level
from vcc_ops.drills.scenarios import DrillContext, Traffic, scenario
from vcc_ops.launch_tls import authz_refusals
from vcc_ops.launcher import SERVICE_KINDS, ProvinceLauncher
from vcc_proto.names import SITE_KEY_PREFIX, site_key

log = logging.getLogger(__name__)


@dataclass
class Objectives:
    """What a drill must achieve; times in seconds."""

    reroute_s: float = 3.0  # new calls of a lost site's area taken elsewhere
    sip_calls_lost: int = 0  # SIP calls lost beyond those in flight at a killed site
    takeover_s: float = 3.0  # a new hub leader after the leader's loss
    events_lost: int = 0
    duplicates: int = 0
    double_assignments: int = 0


@dataclass
class DrillOptions:
    steady_s: float = 5.0  # traffic before the fault
    hold_s: float = 5.0  # how long the fault lasts
    observe_s: float = 20.0  # longest wait for a reaction or a recovery
    after_s: float = 5.0  # traffic after the recovery (service level "after")
    drain_s: float = 20.0  # longest wait for open calls to end when traffic stops
    catch_up_s: float = 30.0  # longest wait for the hub to apply every site event
    params: dict[str, Any] = field(default_factory=dict)  # site=, node=, delay_ms=


class ProvinceTrafficAdapter:
    """:class:`~vcc_ops.traffic.run.ProvinceTraffic` as the drills drive it."""

    def __init__(self, traffic: Any, drain_s: float) -> None:
        self.traffic = traffic
        self.drain_s = drain_s

    @property
    def edge(self) -> Any:
        return self.traffic.edge

    async def start(self) -> Any:
        return await self.traffic.start()

    async def stop(self, drain_s: float = 20.0) -> Any:
        return await self.traffic.stop(drain_s)

    def snapshot(self) -> dict[str, Any]:
        return dict(self.traffic.snapshot())

    async def site_down(self, site: str) -> None:
        await self.traffic.bots.stop_site(site, logout=False)

    async def site_up(self, site: str) -> None:
        await self.traffic.bots.start_site(site)


def make_traffic(
    launcher: ProvinceLauncher,
    *,
    calls_per_s: float = 4.0,
    speed: float = 30.0,
    agents_per_site: int | None = 6,
    seed: int = 1,
    drain_s: float = 20.0,
) -> ProvinceTrafficAdapter:
    """Live traffic for a drill: Poisson callers through the access edge process, agent bots
    logged in at every site (directly, not through the fault proxies)."""
    from vcc_ops.traffic.plan import TrafficConfig
    from vcc_ops.traffic.run import ProvinceTraffic

    assert launcher.infra is not None
    traffic = ProvinceTraffic(
        launcher.province,
        launcher.edge_endpoint,
        lambda site: launcher.node(f"site-{site}").grpc,
        TrafficConfig(calls_per_s=calls_per_s, speed=speed, seed=seed),
        sites=launcher.site_ids,
        agents_per_site=agents_per_site,
        passwords=launcher.initial_secrets(),
    )
    return ProvinceTrafficAdapter(traffic, drain_s)


def province_databases(launcher: ProvinceLauncher) -> ProvinceDatabases:
    """The hub's and every site's database, as the launcher gave them."""
    infra = launcher.infra
    assert infra is not None
    data = launcher.workdir / "data"

    def url(name: str) -> str:
        if infra.postgres is not None:
            return infra.postgres.url_for(name.replace("-", "_").lower())
        return f"sqlite:///{(data / f'{name}.db').resolve()}"

    return ProvinceDatabases(url("hub"), {s: url(f"site-{s}") for s in launcher.site_ids})


def _series(ledger: Any, t0: float, end: float) -> dict[str, list[int]]:
    """Per-second counts of calls offered, lost and refused (from the edge's ledger)."""
    n = max(1, int(end - t0) + 1)
    out = {"offered": [0] * n, "lost": [0] * n, "refused": [0] * n}
    for call in ledger.values():
        i = int(call.offered_at - t0)
        if 0 <= i < n:
            out["offered"][i] += 1
            if call.state in ("lost", "refused"):
                out[call.state][i] += 1
    return out


# a measured figure held to an objective of another name: a caller on the phone network
# (SIP) of a lost site's area is promised the same delay as any other caller
TARGET_OF = {"sip_reroute_s": "reroute_s"}


def score(
    name: str,
    measured: dict[str, Any],
    checks: dict[str, Any],
    objectives: Objectives,
    scored: tuple[str, ...],
) -> dict[str, Any]:
    rows = []
    for key in scored:
        target, value = getattr(objectives, TARGET_OF.get(key, key)), measured.get(key)
        rows.append(
            {
                "objective": key,
                "target": target,
                "measured": value,
                "pass": value is not None and value <= target,
            }
        )
    for key in ("events_lost", "duplicates", "double_assignments"):
        target, value = getattr(objectives, key), checks[key]
        rows.append(
            {"objective": key, "target": target, "measured": value, "pass": value <= target}
        )
    rows.append(
        {
            "objective": "invariants",
            "target": "all hold",
            "measured": "; ".join(checks["failures"]) or "all hold",
            "pass": checks["passed"],
        }
    )
    failed = [r["objective"] for r in rows if not r["pass"]]
    return {
        "scenario": name,
        "verdict": "FAIL" if failed else "PASS",
        "failed": failed,
        "objectives": rows,
    }


def refusals(launcher: ProvinceLauncher) -> dict[str, float]:
    """Calls the authorization table refused at the hubs, sites and edge (since each
    process started)."""
    nodes = launcher.state.nodes if launcher.state is not None else []
    return authz_refusals({n.name: n.metrics for n in nodes if n.kind in SERVICE_KINDS})


async def run_drill(
    launcher: ProvinceLauncher,
    traffic: Traffic,
    name: str,
    objectives: Objectives | None = None,
    options: DrillOptions | None = None,
) -> dict[str, Any]:
    """One drill against a running launcher; returns the report (see :func:`score`)."""
    objectives, options = objectives or Objectives(), options or DrillOptions()
    drill = scenario(name)
    assert launcher.infra is not None
    db = province_databases(launcher)
    params = {"hold_s": options.hold_s, "observe_s": options.observe_s, **options.params}
    ctx = DrillContext(launcher, traffic, list(launcher.infra.etcd_endpoints), params, db)
    try:

        async def ready() -> bool:  # every site registered (routing map built) and a leader
            sites = await ctx.etcd_get(SITE_KEY_PREFIX)
            return bool(await ctx.leader()) and all(
                site_key(site) in sites for site in launcher.site_ids
            )

        waited = await ctx.wait(ready, options.observe_s)
        ctx.mark("province ready" if waited is not None else "province NOT ready", "phase")
        await asyncio.sleep(1.0)  # the routing map follows the registrations
        ctx.mark("traffic starts", "phase")
        await traffic.start()
        await asyncio.sleep(options.steady_s)
        steady = {
            "leader": await ctx.leader(),
            "snapshot": traffic.snapshot(),
            "processes_alive": all(p.alive for p in launcher.processes.values()),
        }
        steady["ok"] = bool(waited is not None and steady["leader"] and steady["processes_alive"])
        ctx.mark("steady state checked", "phase", ok=steady["ok"])
        await drill.inject(ctx)
        t_fault = ctx.timeline[-1]["at"]
        measured = await drill.observe(ctx)
        await drill.restore(ctx)
        t_restore = next(e["at"] for e in ctx.timeline if e["kind"] == "restore")
        measured.update(await drill.recovered(ctx))
        await asyncio.sleep(options.after_s)
        t_after = ctx.mark("traffic stops", "phase")
        summary = await traffic.stop(options.drain_s)
        caught = await ctx.wait(lambda: asyncio.to_thread(db.caught_up), options.catch_up_s)
        ctx.mark("hub caught up" if caught is not None else "hub still behind", "phase")
        ledger = traffic.edge.ledger
        checks = (
            await asyncio.to_thread(run_checks, db, list(ledger.values()), int(time.time() * 1000))
        ).as_dict()
        cdrs = await asyncio.to_thread(db.hub_cdrs)
        calls = list(ledger.values())
        sl = {
            "before": service_level(cdrs, calls, ctx.t0, t_fault),
            "during": service_level(cdrs, calls, t_fault, t_restore),
            "after": service_level(cdrs, calls, t_restore, t_after),
        }
        report = score(name, measured, checks, objectives, drill.objectives)
        if not steady["ok"]:
            report["verdict"] = "FAIL"
            report["failed"].append("steady_state")
        refused = refusals(launcher)
        if refused:  # the province's own calls must all be allowed by the table
            report["verdict"] = "FAIL"
            report["failed"].append("authz_refused")
        report.update(
            {
                "measured": measured,
                "checks": checks,
                "service_level": sl,
                "steady_state": steady,
                "objectives_config": asdict(objectives),
                "calls": {"offered": len(calls), **Counter(c.state for c in calls)},
                "lost_calls_why": checks["lost_reasons"],
                "timeline": [{k: v for k, v in e.items() if k != "at"} for e in ctx.timeline],
                "series": _series(ledger, ctx.t0, t_after),
                "traffic": asdict(summary) if hasattr(summary, "__dataclass_fields__") else {},
                "started_at": ctx.t0,
                "params": {k: v for k, v in params.items()},
                "authz_refused": refused,
            }
        )
        log.info("drill %s: %s %s", name, report["verdict"], report["failed"])
        return report
    finally:
        db.close()
