"""Hub component: high availability (leader election) and the routing map.

Starts first. It returns the hub's leadership: an :class:`EtcdLeadership` campaigning
in the background (start-up never waits for etcd), keeps ``ctx.state.is_leader`` /
``leader_endpoint`` current for ``Node.GetInfo``, moves the database fence to the new
token as a leader takes office (so a deposed leader's late write is refused from then
on), and runs the routing-map writer, which writes only while this hub leads.

With no etcd endpoint configured the hub runs alone and always leads
(:class:`StaticLeadership`, token 1), as a single-hub deployment without election.
"""

from __future__ import annotations

import logging

from vcc_failover.election import EtcdLeadership, LeadershipChange
from vcc_failover.leadership import Leadership, StaticLeadership
from vcc_failover.routing_map import RoutingMapWriter
from vcc_hub.components import Component, HubContext, NoComponent
from vcc_proto.server import ServedService
from vcc_replication.fencing import advance_fence

log = logging.getLogger(__name__)


class HaComponent:
    def __init__(self, leadership: EtcdLeadership, writer: RoutingMapWriter) -> None:
        self.leadership = leadership
        self.writer = writer

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.writer.stop()
        await self.leadership.stop()


async def start_ha(ctx: HubContext) -> tuple[Leadership, Component]:
    """The hub's leadership (the other parts consult it for every write) and the part that
    runs the election and the routing map."""
    endpoints = list(ctx.config.etcd_endpoints)
    if not endpoints:
        log.warning("no etcd endpoint configured: this hub leads alone, without election")
        ctx.state.is_leader = True
        ctx.state.leader_endpoint = ctx.state.grpc_endpoint
        return StaticLeadership(ctx.state.grpc_endpoint), NoComponent()

    async def fence_database(token: int) -> None:
        async with ctx.engine.begin() as conn:
            await advance_fence(conn, token)
        log.info("hub database fenced at token %d", token)

    leadership = EtcdLeadership(
        endpoints,
        node_id=ctx.state.node_id,
        grpc_endpoint=ctx.state.grpc_endpoint,
        ttl_s=ctx.config.lease_ttl_s,
        on_elected=fence_database,
    )

    def show(change: LeadershipChange) -> None:
        ctx.state.is_leader = change.is_leader
        ctx.state.leader_endpoint = change.leader_endpoint

    leadership.add_listener(show)
    leadership.start()
    writer = RoutingMapWriter(endpoints, ctx.province, leadership)
    writer.start()
    return leadership, HaComponent(leadership, writer)
