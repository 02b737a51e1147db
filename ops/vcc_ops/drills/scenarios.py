"""The drill scenarios: what each injects, what it measures, how it restores.

Every scenario gets a :class:`DrillContext` (the launcher, the live traffic, the
timeline) and implements ``inject`` (the fault, stamped on the timeline), ``observe``
(waits for the province to react and returns measured figures: detection, reroute or
takeover time), ``restore`` (undo the fault) and ``recovered`` (returns the figures of
the recovery once the province is whole again).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vcc_domain.errors import ConfigError
from vcc_failover.lease import get_prefix
from vcc_failover.locator import LEADER_KEY
from vcc_failover.routing_map import SITE_PREFIX, routing_key
from vcc_ops.drills.checks import ProvinceDatabases
from vcc_ops.drills.proxy import FaultNet, Rule
from vcc_ops.launcher import ProvinceLauncher

POLL_S = 0.05


class Traffic(Protocol):
    """What a drill needs of the live traffic (:class:`vcc_ops.traffic.ProvinceTraffic`)."""

    @property
    def edge(self) -> Any: ...  # .ledger: call ID -> EdgeCall

    async def start(self) -> Any: ...

    async def stop(self, drain_s: float = ...) -> Any: ...

    def snapshot(self) -> dict[str, Any]: ...

    async def site_down(self, site: str) -> None: ...  # drop a dead site's bots

    async def site_up(self, site: str) -> None: ...  # log its bots in again


@dataclass
class DrillContext:
    launcher: ProvinceLauncher
    traffic: Traffic
    etcd: list[str]  # direct endpoints, for the drill's own reads
    params: dict[str, Any]
    db: ProvinceDatabases
    t0: float = field(default_factory=time.time)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def mark(self, what: str, kind: str = "event", **extra: Any) -> float:
        now = time.time()
        self.timeline.append({"t_s": round(now - self.t0, 3), "at": now, "what": what,
                              "kind": kind, **extra})
        return now

    @property
    def faults(self) -> FaultNet:
        if self.launcher.faults is None:
            raise ConfigError("this drill cuts links: start the province with faults on",
                              field="faults")
        return self.launcher.faults

    async def etcd_get(self, prefix: str) -> dict[str, str]:
        return await get_prefix(self.etcd, prefix, retry_for_s=2)

    async def leader(self) -> str:
        raw = (await self.etcd_get(LEADER_KEY)).get(LEADER_KEY)
        return str(json.loads(raw)["node"]) if raw else ""

    async def wait(self, check: Callable[[], Awaitable[bool]], within_s: float) -> float | None:
        """Seconds until ``check`` held (from now), or None if it never did."""
        start = time.monotonic()
        while time.monotonic() - start < within_s:
            try:
                if await check():
                    return time.monotonic() - start
            except Exception:  # e.g. an etcd member down: ask again
                pass
            await asyncio.sleep(POLL_S)
        return None

    def hold_s(self) -> float:
        return float(self.params.get("hold_s", 5.0))

    def within_s(self) -> float:
        return float(self.params.get("observe_s", 20.0))


def _since(start: float, elapsed: float | None, now: float) -> float | None:
    """Seconds from ``start`` (wall) to the moment a wait ended ``elapsed`` after ``now``."""
    return None if elapsed is None else round(now + elapsed - start, 3)


class Scenario:
    name = ""
    objectives: tuple[str, ...] = ()  # which measured figures are scored besides checks

    async def inject(self, ctx: DrillContext) -> None:
        raise NotImplementedError

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        await asyncio.sleep(ctx.hold_s())
        return {}

    async def restore(self, ctx: DrillContext) -> None:
        raise NotImplementedError

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return {}


class SiteKill(Scenario):
    name, objectives = "site-kill", ("reroute_s",)

    def site(self, ctx: DrillContext) -> str:
        return str(ctx.params.get("site") or ctx.launcher.site_ids[-1])

    async def inject(self, ctx: DrillContext) -> None:
        site = self.site(ctx)
        await asyncio.to_thread(ctx.launcher.kill_node, f"site-{site}")
        self.killed_at = ctx.mark(f"SIGKILL site-{site}", "fault")
        await ctx.traffic.site_down(site)

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        site, start = self.site(ctx), self.killed_at
        areas = next(s.area_codes for s in ctx.launcher.province.sites if s.id == site)
        ledger = ctx.traffic.edge.ledger

        def rerouted() -> float | None:
            taken = [c.offered_at for c in ledger.values()
                     if c.area_code in areas and c.offered_at >= start and c.site_id
                     and c.site_id != site]
            return min(taken) if taken else None

        async def lease_gone() -> bool:
            return SITE_PREFIX + site not in await ctx.etcd_get(SITE_PREFIX + site)

        async def map_moved() -> bool:
            keys = [routing_key(a) for a in areas]
            found = await ctx.etcd_get("/vcc/routing/")
            return all(site not in json.loads(found.get(k, '{"sites": []}'))["sites"]
                       for k in keys)

        async def call_rerouted() -> bool:
            return rerouted() is not None

        now = time.time()
        detected = _since(start, await ctx.wait(lease_gone, ctx.within_s()), now)
        ctx.mark(f"site-{site} lease lapsed (detected)", "detect")
        now2 = time.time()
        moved = _since(start, await ctx.wait(map_moved, ctx.within_s()), now2)
        ctx.mark(f"routing map moved {'/'.join(areas)} away from {site}", "reroute")
        await ctx.wait(call_rerouted, ctx.within_s())
        first = rerouted()
        if first is not None:
            ctx.timeline.append({"t_s": round(first - ctx.t0, 3), "at": first, "kind": "reroute",
                                 "what": f"first new {'/'.join(areas)} call taken elsewhere"})
        rest = ctx.hold_s() - (time.time() - start)
        if rest > 0:
            await asyncio.sleep(rest)
        # New calls of the area after the loss that failed: refused, or taken by the dead
        # site. From the last of them on, every new call was taken elsewhere.
        after = [c for c in ledger.values() if c.area_code in areas and c.offered_at >= start]
        failed = [c.offered_at for c in after if c.state == "refused" or c.site_id == site]
        reroute = None if first is None else round(max([start, *failed]) - start, 3)
        return {"detection_s": detected, "routing_map_s": moved, "reroute_s": reroute,
                "first_rerouted_call_s": None if first is None else round(first - start, 3),
                "new_area_calls": len(after), "new_area_calls_failed": len(failed)}

    async def restore(self, ctx: DrillContext) -> None:
        site = self.site(ctx)
        self.restored_at = ctx.mark(f"restart site-{site}", "restore")
        await asyncio.to_thread(ctx.launcher.restart_node, f"site-{site}")
        await ctx.traffic.site_up(site)

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        site = self.site(ctx)
        areas = next(s.area_codes for s in ctx.launcher.province.sites if s.id == site)

        async def back() -> bool:
            found = await ctx.etcd_get("/vcc/routing/")
            return all(json.loads(found.get(routing_key(a), '{"sites": [""]}'))["sites"][:1]
                       == [site] for a in areas)

        now = time.time()
        took = _since(self.restored_at, await ctx.wait(back, ctx.within_s()), now)
        ctx.mark(f"{site} serves its area again", "recover")
        return {"recovery_s": took}


class HubLeaderKill(Scenario):
    name, objectives = "hub-leader-kill", ("takeover_s",)

    async def inject(self, ctx: DrillContext) -> None:
        self.old = await ctx.leader()
        if not self.old:
            raise ConfigError("no hub leader in etcd to kill", field="scenario")
        await asyncio.to_thread(ctx.launcher.kill_node, self.old)
        self.killed_at = ctx.mark(f"SIGKILL hub leader {self.old}", "fault")

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        async def new_leader() -> bool:
            return (await ctx.leader()) not in ("", self.old)

        now = time.time()
        took = _since(self.killed_at, await ctx.wait(new_leader, ctx.within_s()), now)
        self.new = await ctx.leader() if took is not None else ""
        ctx.mark(f"{self.new or 'no hub'} took over", "takeover")
        rest = ctx.hold_s() - (time.time() - self.killed_at)
        if rest > 0:
            await asyncio.sleep(rest)
        return {"takeover_s": took, "old_leader": self.old, "new_leader": self.new}

    async def restore(self, ctx: DrillContext) -> None:
        self.restored_at = ctx.mark(f"restart {self.old}", "restore")
        await asyncio.to_thread(ctx.launcher.restart_node, self.old)

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        key = "/vcc/hubs/" + self.old

        async def standby_back() -> bool:
            return key in await ctx.etcd_get(key)

        now = time.time()
        took = _since(self.restored_at, await ctx.wait(standby_back, ctx.within_s()), now)
        ctx.mark(f"{self.old} registered again (standby)", "recover")
        return {"recovery_s": took}


class _Cuts(Scenario):
    """A scenario made of link rules, restored by removing them."""

    def rules(self, ctx: DrillContext) -> list[Rule]:
        raise NotImplementedError

    async def inject(self, ctx: DrillContext) -> None:
        self.applied = await asyncio.to_thread(self.rules, ctx)
        self.cut_at = ctx.mark(self.describe(ctx), "fault")

    def describe(self, ctx: DrillContext) -> str:
        return self.name

    async def restore(self, ctx: DrillContext) -> None:
        for rule in self.applied:
            await asyncio.to_thread(ctx.faults.restore, rule)
        self.restored_at = ctx.mark("links restored", "restore")


class HubPartition(_Cuts):
    """The hub leader loses the sites and the broker (keeps etcd: it stays leader)."""

    name = "hub-partition"

    async def inject(self, ctx: DrillContext) -> None:
        self.hub = await ctx.leader() or ctx.launcher.hub_names[0]
        await super().inject(ctx)

    def describe(self, ctx: DrillContext) -> str:
        return f"cut {self.hub} from the sites and NATS"

    def rules(self, ctx: DrillContext) -> list[Rule]:
        f = ctx.faults
        return [f.cut(src="site-*", dst=self.hub), f.cut(src=self.hub, dst="site-*"),
                f.cut(src=self.hub, dst="nats*")]

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return await caught_up(ctx, self.restored_at)


class SitePartition(_Cuts):
    """A site loses the hubs, the broker and the other sites; its callers still reach it."""

    name = "site-partition"

    def site(self, ctx: DrillContext) -> str:
        return str(ctx.params.get("site") or ctx.launcher.site_ids[-1])

    def describe(self, ctx: DrillContext) -> str:
        return f"cut site-{self.site(ctx)} from the hubs, NATS and the other sites"

    def rules(self, ctx: DrillContext) -> list[Rule]:
        f, me = ctx.faults, f"site-{self.site(ctx)}"
        return [f.cut(src=me, dst="hub-*"), f.cut(src="hub-*", dst=me),
                f.cut(src=me, dst="nats*"), f.cut(src="site-*", dst=me),
                f.cut(src=me, dst="site-*")]

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return await caught_up(ctx, self.restored_at)


class SlowLink(_Cuts):
    name = "slow-link"

    def describe(self, ctx: DrillContext) -> str:
        return f"+{ctx.params.get('delay_ms', 200)} ms on every site's links to hubs and NATS"

    def rules(self, ctx: DrillContext) -> list[Rule]:
        ms = float(ctx.params.get("delay_ms", 200))
        return [ctx.faults.slow(ms, src="site-*", dst="hub-*"),
                ctx.faults.slow(ms, src="site-*", dst="nats*")]

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return await caught_up(ctx, self.restored_at)


class ServerKill(Scenario):
    """SIGKILL one NATS server or etcd member; restart it on the same ports and data."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def server(self, ctx: DrillContext) -> str:
        return str(ctx.params.get("node") or f"{self.kind}0")

    async def inject(self, ctx: DrillContext) -> None:
        name = self.server(ctx)
        self.applied_at_kill = sum((await asyncio.to_thread(ctx.db.hub_contiguous)).values())
        await asyncio.to_thread(ctx.launcher.infra_server(name).kill)
        self.killed_at = ctx.mark(f"SIGKILL {name}", "fault")
        self.sites_before = set((await ctx.etcd_get(SITE_PREFIX)).keys())

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        lapses: set[str] = set()
        leaders: set[str] = set()
        deadline = time.monotonic() + ctx.hold_s()
        resumed: float | None = None
        while time.monotonic() < deadline:
            try:
                now_sites = set((await ctx.etcd_get(SITE_PREFIX)).keys())
                lapses |= self.sites_before - now_sites
                leaders.add(await ctx.leader())
            except Exception:
                pass
            if resumed is None:
                applied = sum((await asyncio.to_thread(ctx.db.hub_contiguous)).values())
                if applied > self.applied_at_kill:
                    resumed = round(time.time() - self.killed_at, 3)
                    ctx.mark("hub applies site events again", "detect")
            await asyncio.sleep(0.2)
        return {"site_leases_lost": sorted(lapses), "leader_changes": len(leaders - {""}) - 1,
                "replication_resumed_s": resumed}

    async def restore(self, ctx: DrillContext) -> None:
        name = self.server(ctx)
        self.restored_at = ctx.mark(f"restart {name}", "restore")
        server = ctx.launcher.infra_server(name)
        await asyncio.to_thread(server.launch)
        await asyncio.to_thread(server.wait_healthy)
        ctx.launcher.reregister_infra(name)
        ctx.mark(f"{name} healthy", "recover")

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return {"recovery_s": round(time.time() - self.restored_at, 3)}


class DbRestart(Scenario):
    name = "db-restart"

    async def inject(self, ctx: DrillContext) -> None:
        pg = ctx.launcher.infra.postgres if ctx.launcher.infra is not None else None
        if pg is None:
            raise ConfigError("db-restart needs the province on PostgreSQL (--postgres)",
                              field="scenario")
        await asyncio.to_thread(pg.kill)
        ctx.mark("SIGKILL PostgreSQL", "fault")

    async def restore(self, ctx: DrillContext) -> None:
        assert ctx.launcher.infra is not None and ctx.launcher.infra.postgres is not None
        pg = ctx.launcher.infra.postgres
        self.restored_at = ctx.mark("restart PostgreSQL", "restore")
        await asyncio.to_thread(pg.launch)
        await asyncio.to_thread(pg.wait_healthy)

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return await caught_up(ctx, self.restored_at)


async def caught_up(ctx: DrillContext, since: float) -> dict[str, Any]:
    """Wait until the hub applied every site event; the seconds since ``since``."""

    async def done() -> bool:
        return await asyncio.to_thread(ctx.db.caught_up)

    now = time.time()
    took = _since(since, await ctx.wait(done, ctx.within_s()), now)
    ctx.mark("hub caught up with every site", "recover")
    return {"recovery_s": took}


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "site-kill": SiteKill,
    "site-partition": SitePartition,
    "hub-leader-kill": HubLeaderKill,
    "hub-partition": HubPartition,
    "nats-node-kill": lambda: ServerKill("nats-node-kill", "nats"),
    "etcd-member-kill": lambda: ServerKill("etcd-member-kill", "etcd"),
    "db-restart": DbRestart,
    "slow-link": SlowLink,
}


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}; one of {sorted(SCENARIOS)}",
                          field="scenario")
    return SCENARIOS[name]()
