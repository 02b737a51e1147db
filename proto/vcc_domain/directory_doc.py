"""The provincial directory as a document: the province file's own tables, changed by entity.

The hub's directory *is* the province document: the TOML tables of a province file read
into plain JSON-able data (``province``, ``sites``, ``skills``, ``businesses``,
``agents``, ``agent_groups``, ``tariffs``, ``routing``, ``customer_tiers``,
``directory``, ``people``, ``outages``), dates written as ISO strings. There is one schema and one validator: a
change is applied to a copy of the document and the whole result is re-read by the
province loader (:func:`vcc_domain.province.parse_province_mapping`), so an invalid
change is refused with the loader's message naming the field (``agents[3].home_site:
unknown site 'XX'``), and a change that breaks a reference elsewhere (deleting a site an
agent lives at) is refused the same way.

Entities are addressed by ``(kind, id)``:

=================  ===================  =============================================
kind               document table       id
=================  ===================  =============================================
site               ``[[sites]]``        ``id``
skill              ``[[skills]]``       ``id``
business           ``[[businesses]]``   ``id``
agent              ``[[agents]]``       ``id`` (explicit agents only; agents expanded
                                        from a group change with their group)
agent_group        ``[[agent_groups]]`` 0-based position; an upsert with id ``""`` or
                                        the current count appends; a delete shifts the
                                        later groups down by one
tariff             ``[[tariffs]]``      ``version``
directory_entry    ``[[directory]]``    ``number`` (the listed phone number)
person             ``[[people]]``       ``id`` (people of the province: they sign in at
                                        the hub)
outage             ``[[outages]]``      ``id`` (planned and unplanned outages per area,
                                        entered by data maintenance; read by the IVR)
routing            ``[routing]``        singleton (id ``""``)
tiers              ``[customer_tiers]`` singleton (id ``""``)
province           ``[province]``       singleton (id ``""``)
document           the whole document   singleton (id ``""``): an import
=================  ===================  =============================================

A change is a list of :class:`Change` (``upsert`` or ``delete``), applied in order and
committed together as one version. Nothing here does I/O.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from vcc_domain.errors import ConfigError, InvalidInput, NotFound
from vcc_domain.nesting import check_depth, parse_bounded
from vcc_domain.province import Province, parse_province_mapping

Document = dict[str, Any]

MAX_ENTITY_BYTES = 1024 * 1024  # one entity (or one imported document), JSON


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: str
    section: str  # top-level key of the document
    key: str | None  # id field of each table; None: positional (agent_group) or singleton
    singleton: bool = False


KINDS: dict[str, KindSpec] = {
    k.kind: k
    for k in (
        KindSpec("site", "sites", "id"),
        KindSpec("skill", "skills", "id"),
        KindSpec("business", "businesses", "id"),
        KindSpec("agent", "agents", "id"),
        KindSpec("agent_group", "agent_groups", None),
        KindSpec("tariff", "tariffs", "version"),
        KindSpec("directory_entry", "directory", "number"),
        KindSpec("person", "people", "id"),
        KindSpec("outage", "outages", "id"),
        KindSpec("routing", "routing", None, singleton=True),
        KindSpec("tiers", "customer_tiers", None, singleton=True),
        KindSpec("province", "province", None, singleton=True),
        KindSpec("document", "", None, singleton=True),
    )
}
OPS = ("upsert", "delete")


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    op: str
    id: str = ""
    entity: Any = None  # file-form table (upsert); None for a delete

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "op": self.op, "id": self.id}
        if self.entity is not None:
            out["entity"] = self.entity
        return out


def kind_spec(kind: str, field: str = "kind") -> KindSpec:
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput(
            f"unknown entity kind {kind!r}; expected one of {', '.join(KINDS)}", field=field
        )
    return spec


# -- conversions ---------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """TOML data as plain JSON data (dates and times as ISO strings)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def document_from_toml(text: str, source: str = "<province>") -> Document:
    """A province file's text as a document (not yet validated: see :func:`validate`)."""
    try:
        data = parse_bounded(lambda: tomllib.loads(text), "toml")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: malformed TOML: {exc}", field="toml", source=source) from None
    result = jsonable(check_depth(data, "toml"))
    assert isinstance(result, dict)
    return result


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def document_hash(doc: Document) -> str:
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def loads_json(raw: bytes | str, field: str, *, max_bytes: int = MAX_ENTITY_BYTES) -> Any:
    """Parse JSON from the API, naming ``field`` when it is too large or malformed."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise InvalidInput(
            f"{field}: {size} bytes is over the limit of {max_bytes} bytes", field=field
        )
    try:
        return jsonable(check_depth(parse_bounded(lambda: json.loads(raw), field), field))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{field}: malformed JSON: {exc}", field=field) from None


def change_from_dict(data: Any, index: int = 0) -> Change:
    """A change from ``{kind, op, id, entity}`` (the JSON form), checked for shape."""
    at = f"changes[{index}]"
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{at}: must be a table", field=at)
    unknown = sorted(set(data) - {"kind", "op", "id", "entity"})
    if unknown:
        raise InvalidInput(f"{at}.{unknown[0]}: unknown key", field=f"{at}.{unknown[0]}")
    return check_change(
        Change(
            str(data.get("kind", "")),
            str(data.get("op", "")),
            str(data.get("id", "") or ""),
            data.get("entity"),
        ),
        index,
    )


def check_change(change: Change, index: int = 0) -> Change:
    """Check a change's shape (kind, op, id, entity present for an upsert)."""
    at = f"changes[{index}]"
    spec = kind_spec(change.kind, f"{at}.kind")
    if change.op not in OPS:
        raise InvalidInput(
            f"{at}.op: must be upsert or delete, got {change.op!r}", field=f"{at}.op"
        )
    if change.op == "upsert" and not isinstance(change.entity, Mapping):
        raise InvalidInput(
            f"{at}.entity: an upsert needs the entity as a table", field=f"{at}.entity"
        )
    if change.op == "delete" and spec.singleton:
        raise InvalidInput(
            f"{at}.op: {change.kind} cannot be deleted, only replaced", field=f"{at}.op"
        )
    if change.op == "delete" and not change.id:
        raise InvalidInput(f"{at}.id: a delete names the entity", field=f"{at}.id")
    return change


# -- applying ------------------------------------------------------------------------------


def apply_changes(doc: Document, changes: Sequence[Change]) -> Document:
    """A new document with ``changes`` applied in order (``doc`` is left unchanged).

    Only addressing is checked here (unknown kind, missing entity, id mismatch); the
    result must still pass :func:`validate`.
    """
    out = copy.deepcopy(doc)
    for i, change in enumerate(changes):
        check_change(change, i)
        out = _apply_one(out, change, i)
    return out


def _apply_one(doc: Document, change: Change, i: int) -> Document:
    at = f"changes[{i}]"
    spec = KINDS[change.kind]
    if change.kind == "document":
        entity = jsonable(change.entity)
        assert isinstance(entity, dict)
        return entity
    if spec.singleton:
        doc[spec.section] = jsonable(change.entity)
        return doc
    items = doc.get(spec.section)
    if items is None:
        items = doc[spec.section] = []
    if not isinstance(items, list):
        raise InvalidInput(f"{spec.section}: must be an array of tables", field=spec.section)
    if spec.key is None:
        _apply_positional(items, change, at)
    else:
        _apply_keyed(items, spec.key, change, at)
    if not items:
        del doc[spec.section]
    return doc


def _apply_keyed(items: list[Any], key: str, change: Change, at: str) -> None:
    if change.op == "upsert":
        entity = dict(jsonable(change.entity))
        given = entity.get(key)
        if change.id and given is not None and str(given) != change.id:
            raise InvalidInput(
                f"{at}.entity.{key}: {given!r} does not match the id {change.id!r} of the change",
                field=f"{at}.entity.{key}",
            )
        if given is None:
            if not change.id:
                raise InvalidInput(f"{at}.id: the entity has no {key}", field=f"{at}.id")
            entity[key] = change.id
        target = str(entity[key])
    else:
        entity, target = {}, change.id
    pos = next(
        (
            n
            for n, item in enumerate(items)
            if isinstance(item, Mapping) and str(item.get(key)) == target
        ),
        None,
    )
    if change.op == "delete":
        if pos is None:
            raise NotFound(f"{at}.id: no {change.kind} {target!r}", field=f"{at}.id")
        del items[pos]
    elif pos is None:
        items.append(entity)
    else:
        items[pos] = entity


def _apply_positional(items: list[Any], change: Change, at: str) -> None:
    if change.id == "" and change.op == "upsert":
        items.append(jsonable(change.entity))
        return
    try:
        pos = int(change.id)
    except ValueError:
        raise InvalidInput(
            f"{at}.id: a {change.kind} is addressed by its position (0, 1, ...), got {change.id!r}",
            field=f"{at}.id",
        ) from None
    limit = len(items) if change.op == "upsert" else len(items) - 1
    if not 0 <= pos <= limit:
        raise NotFound(
            f"{at}.id: no {change.kind} at position {pos} (there are {len(items)})",
            field=f"{at}.id",
        )
    if change.op == "delete":
        del items[pos]
    elif pos == len(items):
        items.append(jsonable(change.entity))
    else:
        items[pos] = jsonable(change.entity)


def validate(doc: Document, source: str = "directory") -> Province:
    """The province the document describes; ConfigError (INVALID) naming each field.

    With several problems the error's ``field`` is the first one's path (the message
    lists them all).
    """
    try:
        return parse_province_mapping(doc, source)
    except ConfigError as err:
        problems = err.details.get("problems") or []
        if err.field is not None or not problems:
            raise
        first = str(problems[0]).split(": ", 1)[0]
        raise ConfigError(err.message, field=first, **err.details) from None


def apply_and_validate(
    doc: Document, changes: Sequence[Change], source: str = "directory"
) -> tuple[Document, Province]:
    new = apply_changes(doc, changes)
    return new, validate(new, source)


# -- reading -------------------------------------------------------------------------------


def entity_id(spec: KindSpec, position: int, entity: Any) -> str:
    if spec.singleton:
        return ""
    if spec.key is None:
        return str(position)
    return str(entity.get(spec.key, "")) if isinstance(entity, Mapping) else ""


def list_entities(doc: Document, kind: str) -> list[tuple[str, Any]]:
    """``(id, entity)`` of every entity of ``kind``, in document order."""
    spec = kind_spec(kind)
    if kind == "document":
        return [("", doc)]
    if spec.singleton:
        return [("", doc[spec.section])] if spec.section in doc else []
    items = doc.get(spec.section) or []
    return [(entity_id(spec, n, item), item) for n, item in enumerate(items)]


def get_entity(doc: Document, kind: str, ident: str) -> Any:
    for found, entity in list_entities(doc, kind):
        if found == ident:
            return entity
    raise NotFound(f"no {kind} {ident!r}", field="id")
