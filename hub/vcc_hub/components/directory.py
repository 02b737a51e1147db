"""Hub component: the provincial directory (shared data and business models, §3.5).

Runs the directory schema's migrations, imports the province file the hub started with
when the directory is still empty (as leader; a follower leaves it to the leader, whose
background task imports it as soon as it leads), keeps ``ctx.state.directory_version``
current, and serves the Directory gRPC service.
"""

from __future__ import annotations

import logging

from vcc_domain.errors import NotLeader
from vcc_failover.leadership import Leadership
from vcc_hub.adapters.directory_codec import delta_bytes
from vcc_hub.adapters.grpc_directory import directory_service
from vcc_hub.components import HubContext
from vcc_hub.service.directory import DirectoryService
from vcc_proto.server import ServedService

log = logging.getLogger(__name__)


class DirectoryComponent:
    def __init__(self, service: DirectoryService) -> None:
        self.service = service

    def services(self) -> list[ServedService]:
        return [directory_service(self.service)]

    async def stop(self) -> None:
        await self.service.stop()


async def start_directory(ctx: HubContext, leadership: Leadership) -> DirectoryComponent:
    def on_version(version: int) -> None:
        ctx.state.directory_version = version

    service = DirectoryService(
        ctx.engine, leadership, ctx.clock, ctx.nats, on_version=on_version, encode_delta=delta_bytes
    )
    await service.migrate()
    if leadership.is_leader:
        try:
            await service.import_file_if_empty(ctx.config.province_file)
        except NotLeader:
            pass
    on_version(await service.version())
    service.start(import_source=ctx.config.province_file)
    return DirectoryComponent(service)
