"""The directory as it travels to sites: without the people's password hashes.

An operator may write an initial ``password_hash`` for an agent or an agent group in the
province file (or a directory change). The hub keeps it, but what it sends to sites
(snapshots, deltas on the broker and over gRPC) and the document hash it signs leave
every such hash out: a site gets the hashes of its own people only, beside the snapshot
it asks for as itself (``DirectorySnapshot.home_password_hashes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vcc_domain.directory_doc import Change, Document
from vcc_domain.province import Province

SECRET_FIELD = "password_hash"
_SECTIONS = ("agents", "agent_groups")
_KINDS = ("agent", "agent_group")


def _entity_without(entity: Any) -> Any:
    if isinstance(entity, Mapping) and SECRET_FIELD in entity:
        return {k: v for k, v in entity.items() if k != SECRET_FIELD}
    return entity


def without_secrets(doc: Document) -> Document:
    """``doc`` with no password hash in its agents and agent groups (``doc`` unchanged)."""
    out = dict(doc)
    for section in _SECTIONS:
        items = doc.get(section)
        if isinstance(items, list):
            out[section] = [_entity_without(item) for item in items]
    return out


def change_without_secrets(change: Change) -> Change:
    """The change as sites receive it: an agent's, a group's or a whole document's
    password hashes left out."""
    if change.entity is None:
        return change
    if change.kind in _KINDS:
        return Change(change.kind, change.op, change.id, _entity_without(change.entity))
    if change.kind == "document" and isinstance(change.entity, Mapping):
        return Change(change.kind, change.op, change.id, without_secrets(dict(change.entity)))
    return change


def home_secrets(province: Province, site_id: str) -> dict[str, str]:
    """The password hashes of the people whose home is ``site_id``, by person ID."""
    return {a.id: a.password_hash for a in province.agents_at(site_id) if a.password_hash}
