"""What every drill scenario shares: the context it runs in and the scenario protocol.

Every scenario gets a :class:`DrillContext` (the launcher, the live traffic, the
timeline) and implements ``inject`` (the fault, stamped on the timeline), ``observe``
(waits for the province to react and returns measured figures: detection, reroute or
takeover time), ``restore`` (undo the fault) and ``recovered`` (returns the figures of
the recovery once the province is whole again). The scenarios themselves are in
:mod:`vcc_ops.drills.kills` (processes and servers killed) and
:mod:`vcc_ops.drills.links` (links cut or slowed); :mod:`vcc_ops.drills.scenarios`
names them.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vcc_domain.errors import ConfigError
from vcc_failover.lease import get_prefix
from vcc_failover.locator import LEADER_KEY
from vcc_ops.drills.checks import ProvinceDatabases
from vcc_ops.drills.proxy import FaultNet
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
        self.timeline.append(
            {"t_s": round(now - self.t0, 3), "at": now, "what": what, "kind": kind, **extra}
        )
        return now

    @property
    def faults(self) -> FaultNet:
        if self.launcher.faults is None:
            raise ConfigError(
                "this drill cuts links: start the province with faults on", field="faults"
            )
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

    async def hold_rest(self, start: float) -> None:
        """Sleep what is left of the fault's hold time since ``start`` (wall)."""
        rest = self.hold_s() - (time.time() - start)
        if rest > 0:
            await asyncio.sleep(rest)

    # -- what the province looks like to a drill ------------------------------------

    def site(self) -> str:
        """The site a site drill hits: ``site=`` or the last site started."""
        return str(self.params.get("site") or self.launcher.site_ids[-1])

    def areas(self, site: str) -> list[str]:
        return list(next(s.area_codes for s in self.launcher.province.sites if s.id == site))

    def area_calls(self, areas: Sequence[str], start: float, end: float) -> list[Any]:
        """The ledger's calls of ``areas`` offered in ``[start, end)`` (wall seconds)."""
        return [
            c
            for c in self.traffic.edge.ledger.values()
            if c.area_code in areas and start <= c.offered_at < end
        ]

    async def progress(self) -> dict[str, tuple[int, int]]:
        """Per site: (its last outbox sequence, the hub's contiguous sequence of it)."""

        def read() -> dict[str, tuple[int, int]]:
            hub = self.db.hub_contiguous()
            return {s: (self.db.site_last_seq(s), hub.get(s, 0)) for s in self.db.sites}

        return await asyncio.to_thread(read)


def since(start: float, elapsed: float | None, now: float) -> float | None:
    """Seconds from ``start`` (wall) to the moment a wait ended ``elapsed`` after ``now``."""
    return None if elapsed is None else round(now + elapsed - start, 3)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct`` percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)])


def states(calls: Sequence[Any]) -> dict[str, int]:
    """How many of ``calls`` are in each edge state (ended, refused, lost...)."""
    out: dict[str, int] = {}
    for call in calls:
        out[call.state] = out.get(call.state, 0) + 1
    return dict(sorted(out.items()))


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


async def caught_up(ctx: DrillContext, since_at: float) -> dict[str, Any]:
    """Wait until the hub applied every site event; the seconds since ``since_at``."""

    async def done() -> bool:
        return await asyncio.to_thread(ctx.db.caught_up)

    now = time.time()
    took = since(since_at, await ctx.wait(done, ctx.within_s()), now)
    ctx.mark("hub caught up with every site" if took is not None else "hub still behind", "recover")
    return {"recovery_s": took}
