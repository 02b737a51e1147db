"""Brokering a call from one site to another (``Routing.BrokerTransfer``).

An adapter: it relays the call's context (a protobuf ``CallContext``) from one site's
gRPC request to another site's ``Remote.AcceptTransfer`` after checking it against the
directory, and tells the overflow advisor (domain) each outcome in domain terms.

The hub validates the target against the current directory (the site exists, accepts
the business, the skill exists; a named agent exists, and their site is the target),
asks the target site to take the call
(``Remote.AcceptTransfer``) within the routing policy's ``transfer_accept_timeout_s``, and
returns what happened: ACCEPTED (the target queued the call or offered it to an agent),
REFUSED with a reason, or TIMEOUT. Bad input (unknown site, business or skill) is an
error, not an outcome. Nothing is written to the hub database, so any hub (leader or
not) brokers; each outcome is logged and counted.

The target gets a deadline a little shorter than the broker's own timer and refuses a
request that reaches it after its deadline, so a late ACCEPTED cannot leave the call
owned at both ends; what remains is a reply lost in the last instant of the timer.
A retry with the same request ID gets the first answer (the target is idempotent on it
too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
from prometheus_client import Counter, Histogram

from vcc_domain.clock import Clock
from vcc_domain.errors import InvalidInput, NotFound, Unavailable
from vcc_domain.ids import id_prefix, new_id
from vcc_domain.province import Province
from vcc_failover.sites import SiteEndpoints
from vcc_hub.domain.overflow import TransferOutcome
from vcc_proto.channels import ChannelPool
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

log = logging.getLogger(__name__)

R = c.TransferResult
KEEP_ANSWERS = 10_000
DEADLINE_MARGIN_S = 0.5  # the target's deadline is this much shorter than the broker's timer
REPLY_MARGIN_S = 0.2  # the broker's timer ends this much before its sender's deadline

TRANSFERS = Counter(
    "vcc_hub_transfers_total", "Cross-site transfers brokered, by outcome", ["outcome"]
)
BROKER_SECONDS = Histogram(
    "vcc_hub_transfer_broker_seconds",
    "From a transfer request to the target site's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class TransferBroker:
    def __init__(
        self,
        province: Callable[[], Awaitable[Province]],
        sites: SiteEndpoints,
        clock: Clock,
        accept_timeout_s: float | None = None,
        on_outcome: Callable[[TransferOutcome, str], None] | None = None,
    ) -> None:
        self._province = province
        self._on_outcome = on_outcome  # told every outcome (the overflow advisor's suppression)
        self._sites = sites
        self._clock = clock
        self._accept_timeout_s = accept_timeout_s  # None: the routing policy's
        self._answers: OrderedDict[str, asyncio.Future[R]] = OrderedDict()
        self._channels = ChannelPool()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._channels.close()

    async def broker(
        self,
        request_id: str,
        context: c.CallContext,
        from_site: str,
        target: c.TransferTarget,
        within_s: float | None = None,
    ) -> R:
        """Validate, then ask the target (answering within ``within_s``, the sender's
        deadline, when given); a repeated request ID gets the first answer."""
        province = await self._province()
        ctx, target_site = self._validate(province, context, from_site, target)
        key = request_id or new_id("req")
        found = self._answers.get(key)
        if found is None:
            found = asyncio.ensure_future(self._ask(province, key, ctx, target_site, within_s))
            self._answers[key] = found
            while len(self._answers) > KEEP_ANSWERS:
                self._answers.popitem(last=False)
        try:
            return await asyncio.shield(found)
        except BaseException:
            if found.done():
                self._answers.pop(key, None)
            raise

    def _validate(
        self, province: Province, context: c.CallContext, from_site: str, target: c.TransferTarget
    ) -> tuple[c.CallContext, str]:
        for name, value, prefix in (
            ("context.call_id", context.call_id, "call"),
            ("context.new_leg_id", context.new_leg_id, "leg"),
        ):
            try:
                if id_prefix(value) != prefix:
                    raise ValueError(value)
            except ValueError as exc:
                raise InvalidInput(f"not a {prefix} id", field=name) from exc
        from_site = from_site or context.from_site_id
        site_ids = {site.id for site in province.sites}
        if from_site not in site_ids:
            raise NotFound(f"unknown site {from_site!r}", field="from_site_id")
        what = target.WhichOneof("what")
        agent_id = target.agent_id if what == "agent_id" else ""
        site = target.site_id
        if agent_id:  # a named agent: the site they work at (validated against target.site_id)
            site = _agent_site(province, agent_id, site)
        business_id = target.business_id if what == "business_id" else context.business_id
        try:
            business = province.business(business_id)
        except NotFound:
            raise NotFound(
                f"unknown business {business_id!r}", field="target.business_id"
            ) from None
        skill = target.skill_id if what == "skill_id" else ""
        if skill and skill not in {sk.id for sk in province.skills}:
            raise NotFound(f"unknown skill {skill!r}", field="target.skill_id")
        if not site:  # the hub chooses: the nearest other site that accepts the business
            candidates = [x for x in business.accepting_sites if x != from_site]
            if not candidates:
                raise NotFound(
                    f"no other site accepts business {business.id!r}", field="target.site_id"
                )
            site = min(candidates, key=lambda x: _distance(province, from_site, x))
        if site not in site_ids:
            raise NotFound(f"unknown site {site!r}", field="target.site_id")
        if site == from_site:
            raise InvalidInput(
                "the call is already at that site; transfer it locally", field="target.site_id"
            )
        out = c.CallContext()
        out.CopyFrom(context)
        out.business_id, out.target_skill_id, out.from_site_id = business.id, skill, from_site
        out.target_agent_id = agent_id
        overflow = context.leg_kind == c.LEG_KIND_OVERFLOW
        if overflow and context.priority in (
            c.PRIORITY_CLASS_UNSPECIFIED,
            c.PRIORITY_CLASS_TRANSFERRED,
        ):
            raise InvalidInput(
                "an overflowed call keeps the caller's own priority class", field="context.priority"
            )
        if not overflow:  # an overflow keeps the caller's own class and place in line
            out.priority = c.PRIORITY_CLASS_TRANSFERRED
        return out, site

    async def _ask(
        self,
        province: Province,
        request_id: str,
        ctx: c.CallContext,
        site: str,
        within_s: float | None = None,
    ) -> R:
        started = time.perf_counter()
        result = await self._ask_target(province, request_id, ctx, site, within_s)
        elapsed = time.perf_counter() - started
        outcome = R.Outcome.Name(result.outcome).removeprefix("OUTCOME_").lower()
        TRANSFERS.labels(outcome).inc()
        if self._on_outcome is not None:
            try:
                self._on_outcome(
                    TransferOutcome(
                        ctx.call_id,
                        ctx.business_id,
                        ctx.leg_kind == c.LEG_KIND_OVERFLOW,
                        result.outcome == R.OUTCOME_ACCEPTED,
                        result.reason,
                    ),
                    site,
                )
            except Exception:
                log.exception("transfer %s: outcome hook failed", request_id)
        BROKER_SECONDS.observe(elapsed)
        log.info(
            "transfer %s: call %s %s -> %s: %s%s (%.0f ms)",
            request_id,
            ctx.call_id,
            ctx.from_site_id,
            site,
            outcome,
            f" ({result.reason})" if result.reason else "",
            elapsed * 1000,
        )
        return result

    async def _ask_target(
        self,
        province: Province,
        request_id: str,
        ctx: c.CallContext,
        site: str,
        within_s: float | None = None,
    ) -> R:
        def refused(reason: str, outcome: int = R.OUTCOME_REFUSED) -> R:
            return R(outcome=outcome, call_id=ctx.call_id, site_id=site, reason=reason)  # type: ignore[arg-type]

        business = province.business(ctx.business_id)
        if not ctx.target_agent_id and not business.accepts(site):  # a named agent serves it
            return refused(f"business {business.id!r} is not served at site {site}")
        timeout_s = self._accept_timeout_s or float(province.routing.transfer_accept_timeout_s)
        if within_s is not None:  # the sender gives up then: the target must have answered
            timeout_s = min(timeout_s, within_s - REPLY_MARGIN_S)
            if timeout_s <= DEADLINE_MARGIN_S:
                return refused(f"no time left to ask site {site} before the sender's deadline")
        try:
            endpoint = await self._sites.endpoint(site)
        except Unavailable as exc:
            return refused(f"site {site} is not reachable: {exc.message}")
        deadline_ms = int(self._clock.now() * 1000) + int((timeout_s - DEADLINE_MARGIN_S) * 1000)
        request = s.AcceptTransferRequest(
            context=ctx, request_id=request_id, deadline_ms=deadline_ms
        )
        try:
            reply: R = await sg.RemoteStub(self._channel(endpoint)).AcceptTransfer(
                request, timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return refused(
                    f"site {site} did not answer within {timeout_s:g} s", R.OUTCOME_TIMEOUT
                )
            if code == grpc.StatusCode.UNAVAILABLE:
                self._sites.forget(site)
                return refused(f"site {site} is unreachable")
            return refused(f"site {site} refused: {error.details()}")
        if reply.outcome == R.OUTCOME_UNSPECIFIED:
            return refused(f"site {site} gave no outcome")
        reply.site_id = reply.site_id or site
        reply.call_id = reply.call_id or ctx.call_id
        return reply

    def _channel(self, endpoint: str) -> grpc.aio.Channel:
        return self._channels.get(endpoint)


def _agent_site(province: Province, agent_id: str, site_id: str) -> str:
    """The site a named agent works at: NotFound for an agent not in the directory (or
    who takes no calls), InvalidInput when ``site_id`` names another site."""
    try:
        profile = province.agent(agent_id)
    except NotFound:
        raise NotFound(f"unknown agent {agent_id!r}", field="target.agent_id") from None
    if not profile.takes_calls:
        raise NotFound(f"agent {agent_id!r} does not take calls", field="target.agent_id")
    if site_id and site_id != profile.home_site:
        raise InvalidInput(
            f"agent {agent_id!r} works at site {profile.home_site}, not {site_id}",
            field="target.site_id",
        )
    return profile.home_site


def _distance(province: Province, a: str, b: str) -> float:
    try:
        return province.distance_km(a, b)
    except NotFound:
        return float("inf")
