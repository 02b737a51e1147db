"""Site component: queue figures to the hub and overflow by expected wait (ARCHITECTURE §3.2).

* every ``REPORT_S`` (1 s) the site's per-business queue figures go to the hub leader
  (``Routing.ReportQueueFigures``); a hub that is down or slow is skipped (one try, short
  deadline) and the site carries on;
* every ``MONITOR_S`` (0.5 s) the :class:`~vcc_site.service.overflow.OverflowMonitor`
  asks the hub (``Routing.AdviseOverflow``) about waiting calls whose expected wait is
  past the business's threshold and moves them with the ``transfer`` component's broker
  client (leg kind OVERFLOW);
* every ``ACCURACY_LOG_S`` (10 s), when new calls were measured, and at stop, a log line
  with the expected-wait mean absolute error (also the ``vcc_site_ewt_mae_seconds``
  gauge).

Overflow is on unless ``VCC_OVERFLOW=off`` (or the node config's extra ``overflow=off``);
with it off the site still reports its figures (other sites may overflow to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import cast

import grpc.aio

from vcc_failover.hub_client import LeaderClient
from vcc_proto.server import ServedService
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_site.components import Component, SiteContext
from vcc_site.service.overflow import Advice, OverflowMonitor
from vcc_site.service.transfer import Handoff, RemoteTransfer, TransferAnswer

log = logging.getLogger(__name__)

REPORT_S = 1.0
MONITOR_S = 0.5
ACCURACY_LOG_S = 10.0
HUB_DEADLINE_S = 0.8  # a report or a question the hub does not answer in this is skipped
ENV = "VCC_OVERFLOW"


def overflow_enabled(ctx: SiteContext) -> bool:
    raw = ctx.config.extra.get("overflow") or os.environ.get(ENV, "on")
    return raw.strip().lower() not in ("off", "0", "false", "no")


class OverflowComponent:
    def __init__(self, ctx: SiteContext, transfer: RemoteTransfer | None,
                 lock: Callable[[str], asyncio.Lock] | None) -> None:
        self.ctx = ctx
        self.client = LeaderClient(ctx.hub, attempts=1, deadline_s=HUB_DEADLINE_S,
                                   backoff_initial_s=0.05, backoff_max_s=0.2)
        enabled = overflow_enabled(ctx) and transfer is not None and lock is not None
        self.monitor = OverflowMonitor(ctx.core, self.advise, transfer or _no_transfer,
                                       lock or _own_lock(), enabled=enabled)
        self._tasks = [asyncio.create_task(self._report_loop(), name="queue-figures"),
                       asyncio.create_task(self._monitor_loop(), name="overflow")]
        self._logged = 0
        log.info("overflow by expected wait is %s at site %s",
                 "on" if enabled else "off", ctx.site_id)

    async def report(self) -> None:
        core = self.ctx.core
        figures = [c.QueueFigures(
            site_id=core.site_id, business_id=f.business_id, waiting=f.waiting,
            longest_wait_ms=f.longest_wait_ms, ewt_ms=f.ewt_ms, agents_ready=f.agents_ready,
            agents_busy=f.agents_busy, agents_not_ready=f.agents_not_ready,
            agents_wrap_up=f.agents_wrap_up, aht_ms=f.aht_ms, as_of_ms=f.as_of_ms)
            for f in core.queue_figures()]
        request = h.ReportQueueFiguresRequest(site_id=core.site_id, figures=figures)

        async def send(channel: grpc.aio.Channel) -> None:
            await hg.RoutingStub(channel).ReportQueueFigures(request, timeout=HUB_DEADLINE_S)

        await self.client.call(send)

    async def advise(self, business_id: str, local_ewt_ms: int, waiting: int,
                     call_id: str) -> Advice:
        request = h.AdviseOverflowRequest(site_id=self.ctx.site_id, business_id=business_id,
                                          local_ewt_ms=local_ewt_ms, waiting=waiting,
                                          call_id=call_id)

        async def ask(channel: grpc.aio.Channel) -> h.OverflowAdvice:
            reply: h.OverflowAdvice = await hg.RoutingStub(channel).AdviseOverflow(
                request, timeout=HUB_DEADLINE_S)
            return reply

        try:
            reply = await self.client.call(ask)
        except Exception as exc:  # no hub, no overflow: the call stays
            return Advice("", reason=f"hub: {exc}")
        return Advice(reply.advised_site_id, reply.predicted_ewt_ms, reply.reason)

    async def _report_loop(self) -> None:
        failures, since_log = 0, 0.0
        while True:
            try:
                await self.report()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the hub may be down; keep serving
                failures += 1
                if failures in (1, 30) or failures % 300 == 0:
                    log.info("queue figures not reported to the hub (%d in a row): %s",
                             failures, exc)
            since_log += REPORT_S
            if since_log >= ACCURACY_LOG_S:
                since_log = 0.0
                self.log_accuracy()
            await asyncio.sleep(REPORT_S)

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad tick must not stop overflow
                log.exception("overflow monitor tick failed")
            await asyncio.sleep(MONITOR_S)

    def log_accuracy(self, force: bool = False) -> None:
        m = self.ctx.core.metrics
        if m.ewt_samples == self._logged and not force:
            return
        self._logged = m.ewt_samples
        bias = m.ewt_bias_s / m.ewt_samples if m.ewt_samples else 0.0
        stats = self.monitor.stats
        log.info("expected-wait accuracy at %s: %d queued calls measured, MAE %.2f s, "
                 "bias %+.2f s; overflow asked %d advised %d moved %d failed %d",
                 self.ctx.site_id, m.ewt_samples, m.ewt_mae_s, bias, stats.asked,
                 stats.advised, stats.moved, stats.failed)

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.log_accuracy(force=True)
        await self.client.close()


async def _no_transfer(_handoff: Handoff) -> TransferAnswer:
    raise RuntimeError("no hub transfer client")


def _own_lock() -> Callable[[str], asyncio.Lock]:
    locks: dict[str, asyncio.Lock] = {}
    return lambda call_id: locks.setdefault(call_id, asyncio.Lock())


async def start(ctx: SiteContext) -> Component:
    transfer = ctx.extras.get("remote_transfer")
    lock = ctx.extras.get("call_lock")
    return OverflowComponent(
        ctx, cast(RemoteTransfer, transfer) if callable(transfer) else None,
        cast(Callable[[str], asyncio.Lock], lock) if callable(lock) else None)
