"""Live simulated traffic for a running province: Poisson callers and agent bots.

:class:`ProvinceTraffic` is what ``vcc demo`` and the failover drills drive::

    traffic = ProvinceTraffic(province, edge_endpoint, endpoint_of, config)
    await traffic.start()          # bots log in at every site, callers start arriving
    ...                            # traffic.snapshot() for a wallboard
    summary = await traffic.stop() # no new callers; calls drain; bots log out

Callers go through the access edge process (``vcc edge``: nearest live site from the etcd
routing map, its ledger of every call and final state) over gRPC
(:class:`~vcc_site.edge.client.EdgeClient`, which keeps a copy of the ledger). A caller
waits in the queue for at most their patience, then hangs up (an abandon).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vcc_domain.province import Province
from vcc_ops.traffic.bots import BotPool, Shared
from vcc_ops.traffic.orders import WorkOrderDesk
from vcc_ops.traffic.plan import CallPlanner, IvrWalker, PlannedCall, TrafficConfig
from vcc_proto.v1 import site_pb2 as s
from vcc_site.edge.client import EdgeClient
from vcc_site.edge.ledger import FINAL

log = logging.getLogger(__name__)


@dataclass
class TrafficSummary:
    wall_s: float
    offered: int
    states: dict[str, int]
    counters: dict[str, int]
    errors: list[str] = field(default_factory=list)
    undrained: int = 0  # calls still open when the drain gave up (then hung up)


class ProvinceTraffic:
    def __init__(
        self,
        province: Province,
        edge_endpoint: str,
        endpoint_of: Callable[[str], str],
        config: TrafficConfig,
        *,
        sites: Sequence[str] | None = None,
        agents_per_site: int | None = None,
        sl_target_s: float = 20.0,
        passwords: dict[str, str] | None = None,
    ) -> None:
        self.province = province
        self.config = config
        self.sites = list(sites or [x.id for x in province.sites])
        self.edge = EdgeClient(edge_endpoint)
        self.shared = Shared(config, province, self.edge, random.Random(config.seed + 1))
        self.shared.passwords = dict(passwords or {})
        self.bots = BotPool(self.shared, endpoint_of, agents_per_site)
        self.orders = WorkOrderDesk(province, endpoint_of, config.speed)
        self.shared.orders = self.orders
        self._back_office: asyncio.Task[None] | None = None
        self.planner = CallPlanner(province, config)
        self.sl_target_wall_s = config.wall(sl_target_s)
        self.waits: dict[str, float] = {}  # call -> wall seconds from offer to answer
        self._callers: set[asyncio.Task[None]] = set()
        self._arrivals: asyncio.Task[None] | None = None
        self._surge_task: asyncio.Task[None] | None = None
        self.surge_calls = 0
        self.work_orders: dict[str, Any] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.started_at = 0.0
        self.offered = 0

    # -- life cycle -------------------------------------------------------------------

    async def start_agents(self) -> dict[str, int]:
        """Log every site's bots in (before the callers start)."""
        counts = {}
        for site in self.sites:
            counts[site] = await self.bots.start_site(site)
        return counts

    def start_callers(self) -> None:
        self.started_at = time.monotonic()
        self._arrivals = asyncio.create_task(self._arrive())
        if self.config.surge_site and self.config.surge_factor > 1:
            self._surge_task = asyncio.create_task(self._surge())
        self._sweeper = asyncio.create_task(self._sweep())
        self._back_office = asyncio.create_task(self.orders.run())

    async def start(self) -> dict[str, int]:
        counts = await self.start_agents()
        self.start_callers()
        return counts

    async def stop_callers(self) -> None:
        for task in (self._arrivals, self._surge_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._arrivals = self._surge_task = None

    async def drain(self, timeout_s: float) -> int:
        """Wait for every placed call to end (answered calls to be hung up, waiting
        callers to be answered or give up); returns how many are still open."""
        deadline = time.monotonic() + timeout_s
        next_probe = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if not self.open_calls():
                break
            await asyncio.sleep(0.25)
            if time.monotonic() > next_probe:  # calls that ended where the edge did not see
                next_probe = time.monotonic() + 5.0
                with contextlib.suppress(Exception):
                    await self.edge.sweep()
        return len(self.open_calls())

    async def stop(self, drain_s: float = 60.0) -> TrafficSummary:
        await self.stop_callers()
        undrained = await self.drain(drain_s)
        for call in self.open_calls():  # callers still on the line hang up
            with contextlib.suppress(Exception):
                await self.edge.hang_up(call.call_id)
        for task in list(self._callers):
            task.cancel()
        await asyncio.gather(*self._callers, return_exceptions=True)
        # a short last drain for bots finishing their wrap-up of calls just ended
        await self.bots.stop()
        for helper in (self._sweeper, self._back_office):
            if helper is not None:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        await self.orders.work(time.monotonic())  # the back office clears what is left
        self.work_orders = await self.orders.figures(self.sites)
        await self.orders.close()
        with contextlib.suppress(Exception):
            await self.edge.sweep()
        await self.edge.close()
        return TrafficSummary(
            time.monotonic() - self.started_at,
            self.offered,
            self.edge.counts(),
            dict(self.shared.counters),
            list(self.shared.errors),
            undrained,
        )

    def open_calls(self) -> list[Any]:
        return [call for call in self.edge.ledger.values() if call.state not in FINAL]

    # -- callers ----------------------------------------------------------------------

    async def _arrive(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += self.planner.next_gap_s()
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._spawn_call(self.planner.draw())

    async def _surge(self) -> None:
        """Extra callers from the surge site during the surge window."""
        cfg = self.config
        rate = cfg.calls_per_s * self.planner.site_share(cfg.surge_site) * (cfg.surge_factor - 1)
        if rate <= 0:
            return
        await asyncio.sleep(max(0.0, self.started_at + cfg.surge_from_s - time.monotonic()))
        rng = random.Random(cfg.seed + 2)
        next_at = time.monotonic()
        while next_at < self.started_at + cfg.surge_to_s:
            next_at += rng.expovariate(rate)
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.surge_calls += 1
            self._spawn_call(self.planner.draw(cfg.surge_site))

    def _spawn_call(self, planned: PlannedCall) -> None:
        task = asyncio.create_task(self._call(planned))
        self._callers.add(task)
        task.add_done_callback(self._callers.discard)

    async def _call(self, planned: PlannedCall) -> None:
        shared = self.shared
        walker = IvrWalker(self.province, planned, random.Random(planned.index))
        keyed_at = time.monotonic()  # just before the request that queues the call

        def choose(step: s.CallStep) -> str | None:
            nonlocal keyed_at
            keyed_at = time.monotonic()
            return walker.choose(step.ivr_node_id, step.collect.secret, step.collect.max_digits)

        self.offered += 1
        try:
            call = await self.edge.offer(
                planned.caller, planned.dialed_code, area_code=planned.area_code, chooser=choose
            )
        except Exception as exc:
            shared.error(f"offer {planned.caller[:5]}***: {type(exc).__name__} {exc}")
            return
        shared.plans[call.call_id] = planned
        shared.queued_at[call.call_id] = keyed_at
        if call.state in FINAL:
            return
        queued_at = time.monotonic()  # out of the IVR: the wait for an agent starts
        answered = shared.answered_event(call.call_id)
        try:
            await asyncio.wait_for(
                answered.wait(),
                self.config.wall(planned.patience_s)
                if planned.patience_s != float("inf")
                else None,
            )
            self.waits[call.call_id] = time.monotonic() - queued_at
        except TimeoutError:
            if answered.is_set():
                return
            try:
                await self.edge.hang_up(call.call_id)
                shared.counters["caller_abandons"] += 1
            except Exception as exc:
                shared.error(f"abandon {call.call_id}: {type(exc).__name__} {exc}")

    async def _sweep(self) -> None:
        """Now and then bring the ledger up to date (calls lost with a dead site)."""
        while True:
            await asyncio.sleep(2.0)
            with contextlib.suppress(Exception):
                await self.edge.sweep(probe_live=False)

    # -- live figures -----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Per-site live counters (wall clock) for a wallboard."""
        per: dict[str, Counter[str]] = {site: Counter() for site in self.sites}
        for call in self.edge.ledger.values():
            if call.site_id not in per:
                continue
            row = per[call.site_id]
            row["offered"] += 1
            answered_site = self.shared.answered_at.get(call.call_id)
            if answered_site is not None:
                if call.call_id in self.shared.overflowed:
                    row["overflow_out"] += 1
                    if answered_site in per:
                        per[answered_site]["overflow_in"] += 1
                wait = self.waits.get(call.call_id)
                row["answered"] += 1
                if wait is not None and wait <= self.sl_target_wall_s:
                    row["in_target"] += 1
            elif call.state == "lost":
                row["lost"] += 1
            elif call.state == "ended":
                row[
                    "abandoned"
                    if call.reason.endswith("ABANDONED") or call.reason.endswith("CALLER_HANGUP")
                    else "ended_other"
                ] += 1
            elif call.state == "queued":
                row["waiting"] += 1
        out: dict[str, Any] = {}
        for site, row in per.items():
            states = self.bots.states(site)
            decided = row["answered"] + row["abandoned"]
            out[site] = {
                **row,
                "service_level": (row["in_target"] / decided) if decided else None,
                "ready": states.get("ready", 0),
                "busy": states.get("busy", 0) + states.get("wrap_up", 0),
                "not_ready": states.get("not_ready", 0),
            }
        return out
