"""``Replication`` gRPC service: how far the hub has applied each site's events."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.clock import Clock
from vcc_domain.errors import InvalidInput
from vcc_hub.adapters.nats_events import EventsConsumer
from vcc_hub.store import event_tables as t
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc

Ctx: TypeAlias = Any


class ReplicationServicer(hub_pb2_grpc.ReplicationServicer):
    def __init__(self, engine: AsyncEngine, consumer: EventsConsumer, clock: Clock) -> None:
        self.engine = engine
        self.consumer = consumer
        self.clock = clock

    @grpc_errors
    async def GetReplicationStatus(
        self, request: h.ReplicationStatusRequest, context: Ctx
    ) -> h.ReplicationStatus:
        site = request.site_id
        if not site:
            raise InvalidInput("give the site to report on", field="site_id")
        now_ms = int(self.clock.now() * 1000)
        tracker = self.consumer.tracker
        if tracker is not None:
            return h.ReplicationStatus(
                site_id=site,
                contiguous_seq=tracker.contiguous(site),
                highest_seq=tracker.highest(site),
                open_gaps=len(tracker.gaps(site)),
                as_of_ms=now_ms,
            )
        async with self.engine.connect() as conn:
            contiguous = (
                await conn.execute(
                    select(t.site_progress.c.contiguous_seq).where(t.site_progress.c.site == site)
                )
            ).scalar_one_or_none() or 0
        return h.ReplicationStatus(
            site_id=site,
            contiguous_seq=int(contiguous),
            highest_seq=int(contiguous),
            open_gaps=0,
            as_of_ms=now_ms,
        )
