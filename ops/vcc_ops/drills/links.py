"""Drill scenarios made of link rules on the fault proxies: the hub leader or a site
partitioned, every site's links slowed. Each is restored by removing its rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import time
from typing import Any

from vcc_failover.routing_map import routing_key
from vcc_ops.drills.context import (
    DrillContext,
    Scenario,
    caught_up,
    percentile,
    states,
)
from vcc_ops.drills.proxy import PROXY_HOST, Rule
from vcc_ops.infra.ports import HOST
from vcc_proto.names import ROUTING_PREFIX, site_key

PROBE_PINGS = 5
PROBE_TIMEOUT_S = 10.0


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
        return [
            f.cut(src="site-*", dst=self.hub),
            f.cut(src=self.hub, dst="site-*"),
            f.cut(src=self.hub, dst="nats*"),
        ]

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        return await caught_up(ctx, self.restored_at)


class SitePartition(_Cuts):
    """A site loses the hubs, the broker and the other sites (it keeps etcd, so its lease
    and its place in the routing map): its callers still reach it, its events wait in its
    outbox and reach the hub once the links are back.

    Measures the area's calls during the partition (taken by the site, elsewhere,
    refused), whether the site stayed first in its area's routing map, the events it
    wrote meanwhile and how many of them the hub had not applied when the links came
    back (the backlog), then the seconds until the hub applied that backlog."""

    name = "site-partition"

    def describe(self, ctx: DrillContext) -> str:
        return f"cut site-{ctx.site()} from the hubs, NATS and the other sites"

    def rules(self, ctx: DrillContext) -> list[Rule]:
        f, me = ctx.faults, f"site-{ctx.site()}"
        return [
            f.cut(src=me, dst="hub-*"),
            f.cut(src="hub-*", dst=me),
            f.cut(src=me, dst="nats*"),
            f.cut(src="site-*", dst=me),
            f.cut(src=me, dst="site-*"),
        ]

    async def inject(self, ctx: DrillContext) -> None:
        self.before = (await ctx.progress())[ctx.site()]
        await super().inject(ctx)

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        site = ctx.site()
        areas, key = ctx.areas(site), site_key(site)
        lease_kept = first_in_map = True
        while time.time() - self.cut_at < ctx.hold_s():
            with contextlib.suppress(Exception):  # an etcd hiccup is not the site's
                lease_kept &= key in await ctx.etcd_get(key)
                found = await ctx.etcd_get(ROUTING_PREFIX)
                first_in_map &= all(
                    json.loads(found.get(routing_key(a), '{"sites": [""]}'))["sites"][:1] == [site]
                    for a in areas
                )
            await asyncio.sleep(0.25)
        self.at_heal = (await ctx.progress())[site]
        calls = ctx.area_calls(areas, self.cut_at, time.time())
        return {
            "area_calls": len(calls),
            "area_calls_at_site": sum(1 for c in calls if c.site_id == site),
            "area_calls_elsewhere": sum(1 for c in calls if c.site_id not in ("", site)),
            "area_call_states": states(calls),
            "site_lease_kept": lease_kept,
            "site_first_in_routing_map": first_in_map,
            "site_events_during": self.at_heal[0] - self.before[0],
            "hub_applied_during": self.at_heal[1] - self.before[1],
            "backlog_at_heal": self.at_heal[0] - self.at_heal[1],
        }

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        figures = await caught_up(ctx, self.restored_at)
        after = (await ctx.progress())[ctx.site()]
        return {**figures, "backlog_applied": after[1] - self.at_heal[1]}


class SlowLink(_Cuts):
    """Every site's links to the hubs and NATS get ``delay_ms`` more each way.

    Measures the added latency on the link itself (the round trip of a NATS PING sent
    through the NATS proxy on a connection the proxy takes for the site's, before, during
    and after) and its effect end to end: the replication delay of site events (event
    time to applied at the hub, p50/p99 in ms) before, during and after the slowdown."""

    name = "slow-link"

    def delay_ms(self, ctx: DrillContext) -> float:
        return float(ctx.params.get("delay_ms", 200))

    def describe(self, ctx: DrillContext) -> str:
        return f"+{self.delay_ms(ctx):.0f} ms each way on every site's links to hubs and NATS"

    def rules(self, ctx: DrillContext) -> list[Rule]:
        ms = self.delay_ms(ctx)
        return [
            ctx.faults.slow(ms, src="site-*", dst="hub-*"),
            ctx.faults.slow(ms, src="site-*", dst="nats*"),
        ]

    async def inject(self, ctx: DrillContext) -> None:
        self.rtt_before = await nats_rtt_ms(ctx, f"site-{ctx.site()}")
        await super().inject(ctx)

    async def observe(self, ctx: DrillContext) -> dict[str, Any]:
        during = await nats_rtt_ms(ctx, f"site-{ctx.site()}")
        ctx.mark(f"site-{ctx.site()} -> NATS round trip {during} ms", "detect")
        await ctx.hold_rest(self.cut_at)
        added = (
            None
            if during is None or self.rtt_before is None
            else round(during - self.rtt_before, 1)
        )
        return {
            "link_rtt_ms_before": self.rtt_before,
            "link_rtt_ms_during": during,
            "added_rtt_ms": added,
        }

    async def recovered(self, ctx: DrillContext) -> dict[str, Any]:
        figures = await caught_up(ctx, self.restored_at)
        figures["link_rtt_ms_after"] = await nats_rtt_ms(ctx, f"site-{ctx.site()}")
        span = self.restored_at - self.cut_at
        windows = {
            "before": (max(ctx.t0, self.cut_at - span), self.cut_at),
            "during": (self.cut_at, self.restored_at),
            "after": (self.restored_at, self.restored_at + span),
        }
        for window, (lo, hi) in windows.items():
            lags = await asyncio.to_thread(
                ctx.db.replication_lags_ms, int(lo * 1000), int(hi * 1000)
            )
            figures[f"replication_p50_ms_{window}"] = percentile(lags, 50)
            figures[f"replication_p99_ms_{window}"] = percentile(lags, 99)
        return figures


async def nats_rtt_ms(ctx: DrillContext, as_name: str, pings: int = PROBE_PINGS) -> float | None:
    """Median round trip (ms) of a NATS ``PING`` through the proxy in front of the first
    NATS server, on a connection the proxy names ``as_name`` (so the link rules of that
    process apply to it); None if the server could not be reached."""
    assert ctx.launcher.infra is not None
    port = ctx.launcher.infra.nats_servers[0].port
    names = ctx.faults.names
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    local = int(sock.getsockname()[1])
    names.name_port(local, as_name)
    rtts: list[float] = []
    owned = True
    try:
        sock.setblocking(False)
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, (PROXY_HOST, port)), PROBE_TIMEOUT_S
        )
        reader, writer = await asyncio.open_connection(sock=sock)
        owned = False  # the stream's transport closes the socket now
        try:
            await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_S)  # the server's INFO
            writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
            for _ in range(pings):
                start = time.perf_counter()
                writer.write(b"PING\r\n")
                await writer.drain()
                while True:
                    line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_S)
                    if not line or line.startswith(b"PONG"):
                        break
                    if line.startswith(b"PING"):  # the server's own keep-alive
                        writer.write(b"PONG\r\n")
                if not line:
                    break
                rtts.append((time.perf_counter() - start) * 1000.0)
        finally:
            writer.close()
    except (OSError, TimeoutError):
        pass
    finally:
        if owned:
            sock.close()
        names.name_port(local, None)
    return round(statistics.median(rtts), 1) if rtts else None
