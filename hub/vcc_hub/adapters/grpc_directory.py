"""The Directory gRPC servicer: thin edge over :class:`DirectoryService`.

Bad input (unknown kind, malformed JSON, a change the province loader refuses, a payload
over 1 MiB) is INVALID_ARGUMENT naming the field; a write on a follower hub is NOT_LEADER
(FAILED_PRECONDITION with the leader in ``vcc-leader``); ``expected_version`` behind the
latest is FAILED_PRECONDITION (Conflict).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc

from vcc_domain.directory_doc import canonical_json, validate
from vcc_domain.directory_secrets import home_secrets, without_secrets
from vcc_hub.adapters import directory_codec as codec
from vcc_hub.service.directory import DirectoryService
from vcc_proto.authz_interceptor import actor_of
from vcc_proto.server import ServedService
from vcc_proto.signing import DirectorySigner
from vcc_proto.status import grpc_errors
from vcc_proto.tls import identity_of
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

ACTOR_LIMIT = 200  # an audit actor as the directory and settlement keep it

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class DirectoryServicer(hg.DirectoryServicer):
    def __init__(self, service: DirectoryService, signer: DirectorySigner | None = None) -> None:
        self.service = service
        self.signer = signer  # signs every version served (None: an --insecure hub)

    @grpc_errors
    async def GetSnapshot(
        self, request: h.GetSnapshotRequest, context: Context
    ) -> h.DirectorySnapshot:
        snap = await self.service.snapshot()
        reply = h.DirectorySnapshot(
            version=snap.version,
            document_json=canonical_json(without_secrets(snap.document)),
            document_hash=snap.doc_hash,
            taken_at_ms=int(self.service.clock.now() * 1000),
        )
        if self._asks_for_itself(request.site_id, context):
            province = await asyncio.to_thread(validate, snap.document, "directory")
            reply.home_password_hashes.update(home_secrets(province, request.site_id))
        if self.signer is not None:
            signed = self.signer.sign(snap.version, snap.doc_hash)
            reply.signature, reply.signer_certificate = signed.signature, signed.certificate
        return reply

    def _asks_for_itself(self, site_id: str, context: Context) -> bool:
        """Whether the caller is the site ``site_id`` (its people's password hashes go
        to it alone); on an ``--insecure`` hub nobody is known, so whoever asks."""
        if not site_id:
            return False
        caller = identity_of(context)
        if caller is None:
            return self.signer is None
        return caller.kind == "site" and caller.id == site_id

    @grpc_errors
    async def GetDeltas(self, request: h.GetDeltasRequest, context: Context) -> h.GetDeltasReply:
        answer = await self.service.deltas_since(request.since_version, request.max_deltas)
        return h.GetDeltasReply(
            deltas=[codec.delta_to_proto(d, self.signer) for d in answer.deltas],
            snapshot_required=answer.snapshot_required,
            latest_version=answer.latest_version,
        )

    @grpc_errors
    async def ApplyChange(
        self, request: h.ApplyChangeRequest, context: Context
    ) -> h.ApplyChangeReply:
        self.service.leadership.require()  # a follower says so before parsing anything
        changes = codec.changes_from_proto(request.changes)
        expected = request.expected_version if request.HasField("expected_version") else None
        done = await self.service.apply_change(
            changes,
            expected_version=expected,
            actor=actor_of(codec.actor_text(request.actor), ACTOR_LIMIT),
            request_id=request.request_id,
        )
        return h.ApplyChangeReply(version=done.version, change_id=done.change_id)

    @grpc_errors
    async def ImportProvince(
        self, request: h.ImportProvinceRequest, context: Context
    ) -> h.ApplyChangeReply:
        self.service.leadership.require()
        expected = request.expected_version if request.HasField("expected_version") else None
        done = await self.service.import_province(
            request.toml,
            actor=actor_of(codec.actor_text(request.actor), ACTOR_LIMIT),
            request_id=request.request_id,
            expected_version=expected,
        )
        assert done is not None
        return h.ApplyChangeReply(version=done.version, change_id=done.change_id)

    @grpc_errors
    async def ListEntities(
        self, request: h.ListEntitiesRequest, context: Context
    ) -> h.ListEntitiesReply:
        kind = codec.kind_of(request.kind, "kind")
        version, items = await self.service.list_entities(kind)
        return h.ListEntitiesReply(
            version=version,
            entities_json=[canonical_json(e) for _, e in items],
            entity_ids=[i for i, _ in items],
        )


def directory_service(
    service: DirectoryService, signer: DirectorySigner | None = None
) -> ServedService:
    name = h.DESCRIPTOR.services_by_name["Directory"].full_name
    servicer = DirectoryServicer(service, signer)
    return ServedService(name, servicer, hg.add_DirectoryServicer_to_server)
