"""Site component: cross-site transfers through the hub's broker (ARCHITECTURE §3.3).

Also holds a :class:`SitePeerClient` (``peers``, given to ``CallMoves``): direct site-to-site
calls about consult legs (``Remote.ConcludeConsult`` / ``Remote.ReportLeg``).

:meth:`HubTransfers.transfer` is a :data:`~vcc_site.service.transfer.RemoteTransfer`
that sends a call's context to ``Routing.BrokerTransfer`` on the hub; the composition
root hands it to :class:`~vcc_site.service.moves.CallMoves` (an agent's transfer or
consultation, an overflow). Brokering is not a hub write, so any hub may answer; the hub
is found with the site's locator and a lost hub fails fast (two tries, about a second):
the desk then answers "hub unreachable" and the caller stays with the agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import grpc.aio

from vcc_domain.errors import Unavailable
from vcc_failover.hub_client import LeaderClient
from vcc_failover.sites import SiteEndpointSettings
from vcc_proto.channels import open_channel
from vcc_proto.server import ServedService
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg
from vcc_site.adapters import codec
from vcc_site.components import SiteContext
from vcc_site.service.transfer import (
    KEPT,
    REFUSED,
    RELEASED,
    TIMEOUT,
    UNKNOWN,
    Handoff,
    Ownership,
    TransferAnswer,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

HUB_ATTEMPTS = 2  # a hub that refuses connections twice is unreachable
HUB_FIND_S = 1.5  # time to find and reach a hub before giving up (between tries)
TRIP_MARGIN_S = 2.0  # the broker's own accept timer plus this, per try


class HubTransfers:
    def __init__(self, ctx: SiteContext, sites: SiteEndpointSettings) -> None:
        self.ctx = ctx
        self.client = LeaderClient(
            ctx.hub,
            attempts=HUB_ATTEMPTS,
            deadline_s=HUB_FIND_S,
            backoff_initial_s=0.05,
            backoff_max_s=0.3,
        )
        self.peers = SitePeerClient(ctx, sites)

    async def transfer(self, handoff: Handoff) -> TransferAnswer:
        timeout_s = self.ctx.core.policy.transfer_accept_timeout_s + TRIP_MARGIN_S
        if handoff.answer_within_s is not None:  # the hub bounds its accept timer by it
            timeout_s = min(timeout_s, handoff.answer_within_s)
        request = h.BrokerTransferRequest(
            context=codec.call_context(handoff),
            from_site_id=handoff.from_site,
            target=_target(handoff),
            request_id=handoff.request_id,
        )

        async def broker(channel: grpc.aio.Channel) -> c.TransferResult:
            reply: c.TransferResult = await hg.RoutingStub(channel).BrokerTransfer(
                request, timeout=timeout_s
            )
            return reply

        return codec.transfer_answer(await self.client.call(broker))

    async def board(self) -> h.Board:
        """The hub's board of every site (for agents choosing a transfer target)."""

        async def read(channel: grpc.aio.Channel) -> h.Board:
            reply: h.Board = await hg.RoutingStub(channel).GetBoard(
                h.GetBoardRequest(), timeout=HUB_FIND_S
            )
            return reply

        return await self.client.call(read)

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.client.close()
        await self.peers.close()


class SitePeerClient:
    """Direct calls to other sites about consult legs (:class:`SitePeers`): endpoints
    from the static map or etcd, one channel per endpoint, a few quick retries (both
    RPCs are idempotent at the receiver)."""

    ATTEMPTS = 3
    TIMEOUT_S = 2.0

    def __init__(self, ctx: SiteContext, sites: SiteEndpointSettings) -> None:
        self.site_id = ctx.site_id
        self.clock = ctx.core.clock  # leg times in the site's (province) time
        self.endpoints = sites.endpoints(ctx.config.etcd_endpoints)
        self.channels: dict[str, grpc.aio.Channel] = {}

    async def _stub(self, site_id: str) -> sg.RemoteStub:
        endpoint = await self.endpoints.endpoint(site_id)
        channel = self.channels.get(endpoint)
        if channel is None:
            channel = self.channels[endpoint] = open_channel(endpoint)
        return sg.RemoteStub(channel)

    async def _call(self, site_id: str, rpc: Callable[[sg.RemoteStub], Awaitable[T]]) -> T:
        last: BaseException | None = None
        for attempt in range(self.ATTEMPTS):
            try:
                return await rpc(await self._stub(site_id))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise
                last = exc
                self.endpoints.forget(site_id)
            except Unavailable as exc:
                last = exc
            await asyncio.sleep(0.05 * (attempt + 1))
        assert last is not None
        raise last

    async def conclude(
        self, site_id: str, call_id: str, leg_id: str, mode: str, agent_id: str
    ) -> TransferAnswer:
        request = s.ConcludeConsultRequest(
            call_id=call_id,
            consult_leg_id=leg_id,
            mode=codec.CONSULT_MODE_VALUES[mode],
            actor=c.Actor(site_id=self.site_id, agent_id=agent_id),
        )

        async def rpc(stub: sg.RemoteStub) -> c.TransferResult:
            reply: c.TransferResult = await stub.ConcludeConsult(request, timeout=self.TIMEOUT_S)
            return reply

        try:
            return codec.transfer_answer(await self._call(site_id, rpc))
        except grpc.aio.AioRpcError as exc:
            outcome = TIMEOUT if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED else REFUSED
            return TransferAnswer(
                outcome,
                call_id,
                site_id,
                leg_id,
                reason=f"site {site_id}: {exc.details() or exc.code().name}",
            )
        except Unavailable as exc:
            return TransferAnswer(
                REFUSED,
                call_id,
                site_id,
                leg_id,
                reason=f"site {site_id} is unreachable: {exc.message}",
            )

    async def report_leg(
        self, site_id: str, call_id: str, leg_id: str, state: str, agent_id: str, end_reason: str
    ) -> bool:
        request = s.ReportLegRequest(
            call_id=call_id,
            leg_id=leg_id,
            state=codec.LEG_STATE_VALUES[state],
            agent_id=agent_id,
            site_id=self.site_id,
            end_reason=codec.END_REASONS.get(end_reason, c.END_REASON_UNSPECIFIED),
            at_ms=int(self.clock.now() * 1000),
        )

        async def rpc(stub: sg.RemoteStub) -> bool:
            reply: s.ReportLegReply = await stub.ReportLeg(request, timeout=self.TIMEOUT_S)
            return reply.known

        try:
            return await self._call(site_id, rpc)
        except (grpc.aio.AioRpcError, Unavailable) as exc:  # unknown: keep the leg
            log.warning("report of leg %s to %s failed: %r", leg_id, site_id, exc)
            return True

    async def ownership(self, site_id: str, call_id: str) -> Ownership | None:
        request = s.CallOwnershipRequest(call_id=call_id, site_id=self.site_id)

        async def rpc(stub: sg.RemoteStub) -> s.CallOwnershipReply:
            reply: s.CallOwnershipReply = await stub.GetCallOwnership(
                request, timeout=self.TIMEOUT_S
            )
            return reply

        try:
            reply = await self._call(site_id, rpc)
        except (grpc.aio.AioRpcError, Unavailable) as exc:  # ask again later
            log.warning("ownership of call %s at %s: no answer (%r)", call_id, site_id, exc)
            return None
        answer = OWNERSHIPS.get(reply.ownership)
        if answer is None:
            return None
        return Ownership(
            answer, reply.released_to_site_id, codec.CALL_STATE_NAMES.get(reply.state, "")
        )

    async def close(self) -> None:
        channels, self.channels = self.channels, {}
        for channel in channels.values():
            await channel.close()


_O = s.CallOwnershipReply
OWNERSHIPS = {
    _O.OWNERSHIP_KEPT: KEPT,
    _O.OWNERSHIP_RELEASED: RELEASED,
    _O.OWNERSHIP_UNKNOWN: UNKNOWN,
}


def _target(handoff: Handoff) -> c.TransferTarget:
    if handoff.target_agent:
        return c.TransferTarget(site_id=handoff.target_site, agent_id=handoff.target_agent)
    if handoff.target_skill:
        return c.TransferTarget(site_id=handoff.target_site, skill_id=handoff.target_skill)
    return c.TransferTarget(site_id=handoff.target_site, business_id=handoff.business_id)


def start_transfers(ctx: SiteContext, sites: SiteEndpointSettings) -> HubTransfers:
    """The hub transfer client and the client of other sites (``peers``)."""
    return HubTransfers(ctx, sites)
