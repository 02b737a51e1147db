"""What a site checks and reads of the hub's directory messages: the signature of a version
(:mod:`vcc_proto.signing`) and the changes of a delta."""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Counter

from vcc_domain.directory_doc import Change
from vcc_proto.signing import DirectoryVerifier, SignatureRefused
from vcc_proto.tls import ClientTls
from vcc_proto.v1 import hub_pb2 as h

log = logging.getLogger(__name__)

DIRECTORY_REFUSED = Counter(
    "vcc_site_directory_refused_total",
    "Directory versions refused: unsigned, signed by no hub of the province CA, a signature "
    "that does not verify, or a document that differs from the signed hash",
    ["site", "reason"],
)

_KINDS = {
    h.ENTITY_KIND_SITE: "site",
    h.ENTITY_KIND_SKILL: "skill",
    h.ENTITY_KIND_BUSINESS: "business",
    h.ENTITY_KIND_AGENT: "agent",
    h.ENTITY_KIND_TARIFF: "tariff",
    h.ENTITY_KIND_ROUTING_POLICY: "routing",
    h.ENTITY_KIND_DIRECTORY_ENTRY: "directory_entry",
    h.ENTITY_KIND_AGENT_GROUP: "agent_group",
    h.ENTITY_KIND_TIERS: "tiers",
    h.ENTITY_KIND_PROVINCE: "province",
    h.ENTITY_KIND_DOCUMENT: "document",
    h.ENTITY_KIND_OUTAGE: "outage",
}
_OPS = {h.DirectoryChange.OP_UPSERT: "upsert", h.DirectoryChange.OP_DELETE: "delete"}


def change_of(msg: h.DirectoryChange) -> Change:
    entity: Any = json.loads(msg.entity_json) if msg.entity_json else None
    return Change(_KINDS.get(msg.kind, "?"), _OPS.get(msg.op, "?"), msg.entity_id, entity)


class SignedVersions:
    """The site's check of the hub's signatures: on with the site's certificate (its CA),
    off (everything passes) without one (``--insecure``)."""

    def __init__(self, site_id: str, tls: ClientTls | None) -> None:
        self.site_id = site_id
        self._verifier = DirectoryVerifier(tls) if tls is not None else None

    @property
    def on(self) -> bool:
        return self._verifier is not None

    def check(
        self,
        version: int,
        doc_hash: str,
        signed: h.DirectoryDelta | h.DirectorySnapshot,
        origin: str,
    ) -> None:
        """Refuse (:class:`SignatureRefused`, counted and logged) a version no hub of the
        province signed."""
        if self._verifier is None:
            return
        try:
            self._verifier.verify(version, doc_hash, signed.signature, signed.signer_certificate)
        except SignatureRefused as refused:
            self.refuse(refused.reason, f"{refused} (from {origin})")

    def count(self, reason: str) -> None:
        if self.on:
            DIRECTORY_REFUSED.labels(self.site_id, reason).inc()

    def refuse(self, reason: str, message: str) -> None:
        self.count(reason)
        log.warning("directory version refused: %s", message)
        raise SignatureRefused(reason, message)
