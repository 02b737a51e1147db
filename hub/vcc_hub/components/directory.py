"""Hub component: the provincial directory (shared data and business models, §3.5).

Runs the directory schema's migrations, imports the province file the hub started with
when the directory is still empty (as leader; a follower leaves it to the leader, whose
background task imports it as soon as it leads), keeps ``ctx.state.directory_version``
current, and serves the Directory gRPC service. Every version it publishes or serves is
signed with the hub's certificate key (:mod:`vcc_proto.signing`); an ``--insecure`` hub
has none and sends them unsigned.
"""

from __future__ import annotations

import logging

from vcc_domain.errors import NotLeader
from vcc_failover.leadership import Leadership
from vcc_hub.adapters.directory_codec import delta_encoder
from vcc_hub.adapters.grpc_directory import directory_service
from vcc_hub.components import HubContext
from vcc_hub.service.directory import DirectoryService
from vcc_proto.channels import client_tls
from vcc_proto.server import ServedService
from vcc_proto.signing import DirectorySigner

log = logging.getLogger(__name__)


class DirectoryComponent:
    def __init__(self, service: DirectoryService, signer: DirectorySigner | None) -> None:
        self.service = service
        self.signer = signer

    def services(self) -> list[ServedService]:
        return [directory_service(self.service, self.signer)]

    async def stop(self) -> None:
        await self.service.stop()


async def start_directory(ctx: HubContext, leadership: Leadership) -> DirectoryComponent:
    def on_version(version: int) -> None:
        ctx.state.directory_version = version

    tls = client_tls()  # the hub's certificate signs every version it publishes or serves
    signer = DirectorySigner(tls) if tls is not None else None
    if signer is None:
        log.warning("no hub certificate (--insecure): directory versions go out unsigned")
    service = DirectoryService(
        ctx.engine,
        leadership,
        ctx.clock,
        ctx.nats,
        on_version=on_version,
        encode_delta=delta_encoder(signer),
    )
    await service.migrate()
    if leadership.is_leader:
        try:
            await service.import_file_if_empty(ctx.config.province_file)
        except NotLeader:
            pass
    on_version(await service.version())
    service.start(import_source=ctx.config.province_file)
    return DirectoryComponent(service, signer)
