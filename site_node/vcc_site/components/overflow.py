"""Site component: queue figures to the hub and overflow by expected wait (ARCHITECTURE §3.2).

* every ``report_s`` (1 s) the site's per-business queue figures go to the hub leader
  (``Routing.ReportQueueFigures``) when they changed, else every ``KEEPALIVE_S``; a hub
  that is down or slow is skipped (one try, short deadline) and the site carries on;
* every ``monitor_s`` (0.5 s) the :class:`~vcc_site.service.overflow.OverflowMonitor`
  asks the hub (``Routing.AdviseOverflow``) about waiting calls whose expected wait is
  past the business's threshold and has :class:`~vcc_site.service.moves.CallMoves` move
  them through the hub's broker (leg kind OVERFLOW), under the same per-call lock as the
  caller's requests;
* every ``ACCURACY_LOG_S`` (10 s), when new calls were measured, and at stop, a log line
  with the expected-wait mean absolute error (also the ``vcc_site_ewt_mae_seconds``
  gauge).

Settings: :class:`~vcc_site.settings.OverflowSettings`; with overflow off
(``VCC_OVERFLOW=off``) the site still reports its figures (other sites may overflow to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc.aio

from vcc_failover.hub_client import LeaderClient
from vcc_proto.server import ServedService
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_site.components import SiteContext
from vcc_site.service.moves import CallMoves
from vcc_site.service.overflow import Advice, OverflowMonitor
from vcc_site.settings import OverflowSettings

log = logging.getLogger(__name__)

ACCURACY_LOG_S = 10.0
KEEPALIVE_S = 2.0  # unchanged queue figures go to the hub this often (stale after 5 s)


class OverflowComponent:
    """``moves`` moves a call through the hub's broker under the core's per-call lock, so
    a move never interleaves with the caller's requests."""

    def __init__(self, ctx: SiteContext, settings: OverflowSettings, moves: CallMoves) -> None:
        self.ctx = ctx
        self.settings = settings
        self.client = LeaderClient(
            ctx.hub,
            attempts=1,
            deadline_s=settings.hub_deadline_s,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        enabled = settings.enabled
        self.monitor = OverflowMonitor(ctx.core, self.advise, moves, enabled=enabled)
        self._tasks = [
            asyncio.create_task(self._report_loop(), name="queue-figures"),
            asyncio.create_task(self._monitor_loop(), name="overflow"),
        ]
        self._logged = 0
        self._reported: list[tuple[object, ...]] = []  # the figures the hub last took
        self._reported_at = 0.0
        log.info(
            "overflow by expected wait is %s at site %s", "on" if enabled else "off", ctx.site_id
        )

    async def report(self, *, unchanged_too: bool = True) -> bool:
        """Send the queue figures to the hub leader. With ``unchanged_too`` False, figures
        equal (their time aside) to the last ones the hub took are sent again only once
        those are ``KEEPALIVE_S`` old (the hub holds figures older than 5 s as stale): an
        idle site does not report the same zeros every second. Returns whether it sent."""
        core = self.ctx.core
        figures = [
            c.QueueFigures(
                site_id=core.site_id,
                business_id=f.business_id,
                waiting=f.waiting,
                longest_wait_ms=f.longest_wait_ms,
                ewt_ms=f.ewt_ms,
                agents_ready=f.agents_ready,
                agents_busy=f.agents_busy,
                agents_not_ready=f.agents_not_ready,
                agents_wrap_up=f.agents_wrap_up,
                aht_ms=f.aht_ms,
                as_of_ms=f.as_of_ms,
            )
            for f in core.queue_figures()
        ]
        same: list[tuple[object, ...]] = [
            (f.business_id, f.waiting, f.longest_wait_ms, f.ewt_ms, f.aht_ms) for f in figures
        ]
        same += [
            (f.agents_ready, f.agents_busy, f.agents_not_ready, f.agents_wrap_up) for f in figures
        ]
        now = asyncio.get_running_loop().time()
        if not unchanged_too and same == self._reported and now - self._reported_at < KEEPALIVE_S:
            return False
        request = h.ReportQueueFiguresRequest(site_id=core.site_id, figures=figures)

        async def send(channel: grpc.aio.Channel) -> None:
            await hg.RoutingStub(channel).ReportQueueFigures(
                request, timeout=self.settings.hub_deadline_s
            )

        await self.client.call(send)
        self._reported, self._reported_at = same, now
        return True

    async def advise(
        self, business_id: str, local_ewt_ms: int, waiting: int, call_id: str
    ) -> Advice:
        request = h.AdviseOverflowRequest(
            site_id=self.ctx.site_id,
            business_id=business_id,
            local_ewt_ms=local_ewt_ms,
            waiting=waiting,
            call_id=call_id,
        )

        async def ask(channel: grpc.aio.Channel) -> h.OverflowAdvice:
            reply: h.OverflowAdvice = await hg.RoutingStub(channel).AdviseOverflow(
                request, timeout=self.settings.hub_deadline_s
            )
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
                await self.report(unchanged_too=False)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the hub may be down; keep serving
                failures += 1
                if failures in (1, 30) or failures % 300 == 0:
                    log.info(
                        "queue figures not reported to the hub (%d in a row): %s", failures, exc
                    )
            since_log += self.settings.report_s
            if since_log >= ACCURACY_LOG_S:
                since_log = 0.0
                self.log_accuracy()
            await asyncio.sleep(self.settings.report_s)

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad tick must not stop overflow
                log.exception("overflow monitor tick failed")
            await asyncio.sleep(self.settings.monitor_s)

    def log_accuracy(self, force: bool = False) -> None:
        m = self.ctx.core.metrics
        if m.ewt_samples == self._logged and not force:
            return
        self._logged = m.ewt_samples
        bias = m.ewt_bias_s / m.ewt_samples if m.ewt_samples else 0.0
        stats = self.monitor.stats
        log.info(
            "expected-wait accuracy at %s: %d queued calls measured, MAE %.2f s, "
            "bias %+.2f s; overflow asked %d advised %d moved %d failed %d",
            self.ctx.site_id,
            m.ewt_samples,
            m.ewt_mae_s,
            bias,
            stats.asked,
            stats.advised,
            stats.moved,
            stats.failed,
        )

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
