"""Site component: cross-site transfers through the hub's broker (ARCHITECTURE §3.3).

Registers ``ctx.extras["remote_transfer"]``, a :data:`~vcc_site.service.transfer.RemoteTransfer`
that sends a call's context to ``Routing.BrokerTransfer`` on the hub; the composition
root hands it to the desk. Brokering is not a hub write, so any hub may answer; the hub
is found with the site's locator and a lost hub fails fast (two tries, about a second):
the desk then answers "hub unreachable" and the caller stays with the agent.
"""

from __future__ import annotations

import grpc.aio

from vcc_failover.hub_client import LeaderClient
from vcc_proto.server import ServedService
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg
from vcc_site.adapters import codec
from vcc_site.components import Component, SiteContext
from vcc_site.service.transfer import Handoff, TransferAnswer

HUB_ATTEMPTS = 2  # a hub that refuses connections twice is unreachable
HUB_FIND_S = 1.5  # time to find and reach a hub before giving up (between tries)
TRIP_MARGIN_S = 2.0  # the broker's own accept timer plus this, per try


class HubTransfers:
    def __init__(self, ctx: SiteContext) -> None:
        self.ctx = ctx
        self.client = LeaderClient(ctx.hub, attempts=HUB_ATTEMPTS, deadline_s=HUB_FIND_S,
                                   backoff_initial_s=0.05, backoff_max_s=0.3)

    async def transfer(self, handoff: Handoff) -> TransferAnswer:
        timeout_s = self.ctx.core.policy.transfer_accept_timeout_s + TRIP_MARGIN_S
        request = h.BrokerTransferRequest(
            context=codec.call_context(handoff), from_site_id=handoff.from_site,
            target=_target(handoff), request_id=handoff.request_id)

        async def broker(channel: grpc.aio.Channel) -> c.TransferResult:
            reply: c.TransferResult = await hg.RoutingStub(channel).BrokerTransfer(
                request, timeout=timeout_s)
            return reply

        return codec.transfer_answer(await self.client.call(broker))

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.client.close()


def _target(handoff: Handoff) -> c.TransferTarget:
    if handoff.target_skill:
        return c.TransferTarget(site_id=handoff.target_site, skill_id=handoff.target_skill)
    return c.TransferTarget(site_id=handoff.target_site, business_id=handoff.business_id)


async def start(ctx: SiteContext) -> Component:
    transfers = HubTransfers(ctx)
    ctx.extras["remote_transfer"] = transfers.transfer
    return transfers
