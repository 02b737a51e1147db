"""Drill scenarios that SIGKILL a process: a site, the hub leader, one NATS server or
etcd member, the PostgreSQL server. Each restarts it on the same ports and data."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_failover.routing_map import routing_key
from vcc_ops.drills.context import DrillContext, Scenario, caught_up, since, states
from vcc_ops.infra.postgres import PostgresServer
from vcc_proto.names import ROUTING_PREFIX, SITE_KEY_PREFIX, hub_key, site_key


class SiteKill(Scenario):
    name = "site-kill"
    objectives: tuple[str, ...] = ("reroute_s",)

    async def inject(self, ctx: DrillContext) -> None:
        site = ctx.site()
        await asyncio.to_thread(ctx.launcher.kill_node, f"site-{site}")
        self.killed_at = ctx.mark(f"SIGKILL site-{site}", "fault")
        await ctx.traffic.site_down(site)

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        site, start = ctx.site(), self.killed_at
        areas = ctx.areas(site)
        ledger = ctx.traffic.edge.ledger

        def rerouted() -> float | None:
            taken = [
                c.offered_at
                for c in ledger.values()
                if c.area_code in areas
                and c.offered_at >= start
                and c.site_id
                and c.site_id != site
            ]
            return min(taken) if taken else None

        async def lease_gone() -> bool:
            return site_key(site) not in await ctx.etcd_get(site_key(site))

        async def map_moved() -> bool:
            keys = [routing_key(a) for a in areas]
            found = await ctx.etcd_get(ROUTING_PREFIX)
            return all(site not in json.loads(found.get(k, '{"sites": []}'))["sites"] for k in keys)

        async def call_rerouted() -> bool:
            return rerouted() is not None

        now = time.time()
        detected = since(start, await ctx.wait(lease_gone, ctx.within_s()), now)
        ctx.mark(f"site-{site} lease lapsed (detected)", "detect")
        now2 = time.time()
        moved = since(start, await ctx.wait(map_moved, ctx.within_s()), now2)
        ctx.mark(f"routing map moved {'/'.join(areas)} away from {site}", "reroute")
        await ctx.wait(call_rerouted, ctx.within_s())
        first = rerouted()
        if first is not None:
            ctx.timeline.append(
                {
                    "t_s": round(first - ctx.t0, 3),
                    "at": first,
                    "kind": "reroute",
                    "what": f"first new {'/'.join(areas)} call taken elsewhere",
                }
            )
        await ctx.hold_rest(start)
        # New calls of the area after the loss that failed: refused, or taken by the dead
        # site. From the last of them on, every new call was taken elsewhere.
        after = ctx.area_calls(areas, start, time.time())
        failed = [c.offered_at for c in after if c.state == "refused" or c.site_id == site]
        reroute = None if first is None else round(max([start, *failed]) - start, 3)
        return {
            "detection_s": detected,
            "routing_map_s": moved,
            "reroute_s": reroute,
            "first_rerouted_call_s": None if first is None else round(first - start, 3),
            "new_area_calls": len(after),
            "new_area_calls_failed": len(failed),
        }

    async def restore(self, ctx: DrillContext) -> None:
        site = ctx.site()
        self.restored_at = ctx.mark(f"restart site-{site}", "restore")
        await asyncio.to_thread(ctx.launcher.restart_node, f"site-{site}")
        await ctx.traffic.site_up(site)

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        site = ctx.site()
        areas = ctx.areas(site)

        async def back() -> bool:
            found = await ctx.etcd_get(ROUTING_PREFIX)
            return all(
                json.loads(found.get(routing_key(a), '{"sites": [""]}'))["sites"][:1] == [site]
                for a in areas
            )

        now = time.time()
        took = since(self.restored_at, await ctx.wait(back, ctx.within_s()), now)
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
        took = since(self.killed_at, await ctx.wait(new_leader, ctx.within_s()), now)
        self.new = await ctx.leader() if took is not None else ""
        ctx.mark(f"{self.new or 'no hub'} took over", "takeover")
        await ctx.hold_rest(self.killed_at)
        return {"takeover_s": took, "old_leader": self.old, "new_leader": self.new}

    async def restore(self, ctx: DrillContext) -> None:
        self.restored_at = ctx.mark(f"restart {self.old}", "restore")
        await asyncio.to_thread(ctx.launcher.restart_node, self.old)

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        key = hub_key(self.old)

        async def standby_back() -> bool:
            return key in await ctx.etcd_get(key)

        now = time.time()
        took = since(self.restored_at, await ctx.wait(standby_back, ctx.within_s()), now)
        ctx.mark(f"{self.old} registered again (standby)", "recover")
        return {"recovery_s": took}


class ServerKill(Scenario):
    """SIGKILL one NATS server or etcd member; restart it on the same ports and data."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def server(self, ctx: DrillContext) -> str:
        return str(ctx.params.get("node") or f"{self.kind}0")

    async def inject(self, ctx: DrillContext) -> None:
        name = self.server(ctx)
        await asyncio.to_thread(ctx.launcher.infra_server(name).kill)
        self.killed_at = ctx.mark(f"SIGKILL {name}", "fault")
        self.sites_before = set((await ctx.etcd_get(SITE_KEY_PREFIX)).keys())

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        """Through the hold (longer, up to ``observe_s``, until the hub applies site
        events again while the server is still down): site leases lost, leader changes."""
        lapses: set[str] = set()
        leaders: set[str] = set()
        hold_until = time.monotonic() + ctx.hold_s()
        deadline = time.monotonic() + max(ctx.hold_s(), ctx.within_s())
        resumed: float | None = None
        while time.monotonic() < (hold_until if resumed is not None else deadline):
            try:
                now_sites = set((await ctx.etcd_get(SITE_KEY_PREFIX)).keys())
                lapses |= self.sites_before - now_sites
                leaders.add(await ctx.leader())
            except Exception:
                pass
            # the first event written after the kill applied at the hub (events already
            # in flight at the kill do not count)
            if (
                resumed is None
                and (await asyncio.to_thread(ctx.db.hub_applied_since, int(self.killed_at * 1000)))
                > 0
            ):
                resumed = round(time.time() - self.killed_at, 3)
                ctx.mark("hub applies new site events again", "detect")
            await asyncio.sleep(0.2)
        return {
            "site_leases_lost": sorted(lapses),
            "leader_changes": len(leaders - {""}) - 1,
            "replication_resumed_s": resumed,
        }

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
    """SIGKILL the PostgreSQL server every node's database lives on; restart it.

    Measures what the callers saw during the outage, how long until every site writes
    again and the hub has applied everything, and whether any committed write was lost
    (a site's last outbox sequence or the hub's applied sequence going backwards)."""

    name = "db-restart"

    def pg(self, ctx: DrillContext) -> PostgresServer:
        pg = ctx.launcher.infra.postgres if ctx.launcher.infra is not None else None
        if pg is None:
            raise ConfigError(
                "db-restart needs the province on PostgreSQL (--postgres)", field="scenario"
            )
        return pg

    async def inject(self, ctx: DrillContext) -> None:
        pg = self.pg(ctx)
        self.before = await ctx.progress()
        await asyncio.to_thread(pg.kill)
        self.killed_at = ctx.mark("SIGKILL PostgreSQL", "fault")

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        await ctx.hold_rest(self.killed_at)
        during = [
            c
            for c in ctx.traffic.edge.ledger.values()
            if self.killed_at <= c.offered_at < time.time()
        ]
        return {"calls_during_outage": len(during), "outage_call_states": states(during)}

    async def restore(self, ctx: DrillContext) -> None:
        pg = self.pg(ctx)
        self.restored_at = ctx.mark("restart PostgreSQL", "restore")
        await asyncio.to_thread(pg.launch)
        await asyncio.to_thread(pg.wait_healthy)
        self.up_at = ctx.mark("PostgreSQL accepts connections", "recover")

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        after = await _retry(ctx, ctx.progress)
        lost = {
            s: max(0, self.before[s][0] - after[s][0]) + max(0, self.before[s][1] - after[s][1])
            for s in self.before
        }

        async def every_site_writes() -> bool:
            now = await ctx.progress()
            return all(now[s][0] > after[s][0] for s in after)

        now = time.time()
        resumed = since(self.up_at, await ctx.wait(every_site_writes, ctx.within_s()), now)
        ctx.mark(
            "every site commits again" if resumed is not None else "some site does not write",
            "recover",
        )
        taken = sorted(
            c.offered_at
            for c in ctx.traffic.edge.ledger.values()
            if c.offered_at >= self.up_at and c.site_id
        )
        return {
            "db_restart_s": round(self.up_at - self.restored_at, 3),
            "writes_resumed_s": resumed,
            "first_call_taken_s": round(taken[0] - self.up_at, 3) if taken else None,
            "committed_writes_lost": sum(lost.values()),
            **await caught_up(ctx, self.restored_at),
        }


async def _retry(ctx: DrillContext, read: Any) -> Any:
    """``read()`` once the databases answer again (stale pooled connections fail once)."""
    result: list[Any] = []

    async def attempt() -> bool:
        result.append(await read())
        return True

    await ctx.wait(attempt, ctx.within_s())
    if not result:
        raise ConfigError("the databases did not answer after the restart", field="db")
    return result[-1]
