"""The directory document: changes applied in order and validated by the province loader."""

from __future__ import annotations

import pytest

from vcc_domain.directory_doc import (
    Change,
    apply_and_validate,
    apply_changes,
    change_from_dict,
    document_from_toml,
    document_hash,
    get_entity,
    list_entities,
    loads_json,
    validate,
)
from vcc_domain.errors import ConfigError, InvalidInput, NotFound
from vcc_domain.province import parse_province, parse_province_mapping
from vcc_ops.cli import example_province_path


@pytest.fixture(scope="module")
def text() -> str:
    return example_province_path().read_text(encoding="utf-8")


@pytest.fixture
def doc(text: str) -> dict:  # type: ignore[type-arg]
    return document_from_toml(text)


def lead(**extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "id": "KM-LEAD",
        "name": "Lead",
        "home_site": "KM",
        "role": "specialist",
        "skills": {"billing": 5},
        **extra,
    }


def test_document_is_the_province_file(doc: dict, text: str) -> None:  # type: ignore[type-arg]
    assert validate(doc) == parse_province(text)
    assert parse_province_mapping(doc) == parse_province(text)
    # JSON-able: dates are ISO strings
    assert isinstance(doc["tariffs"][0]["effective_from"], str)


def test_upsert_replaces_agent_and_changes_skills(doc: dict) -> None:  # type: ignore[type-arg]
    new, province = apply_and_validate(doc, [Change("agent", "upsert", "KM-LEAD", lead())])
    agent = province.agent("KM-LEAD")
    assert agent.skills == {"billing": 5} and agent.role == "specialist"
    assert len(new["agents"]) == len(doc["agents"])  # replaced in place, not appended
    assert get_entity(doc, "agent", "KM-LEAD")["role"] == "shift_leader"  # input untouched
    assert document_hash(new) != document_hash(doc)


def test_changes_apply_in_order(doc: dict) -> None:  # type: ignore[type-arg]
    changes = [
        Change("skill", "upsert", "night", {"id": "night", "name": "Night desk"}),
        Change("agent", "upsert", "KM-LEAD", lead(skills={"night": 2})),
    ]
    _, province = apply_and_validate(doc, changes)
    assert province.agent("KM-LEAD").skills == {"night": 2}
    # reversed, the agent refers to a skill that does not exist yet at that point, but the
    # whole result is what is validated: still fine
    _, again = apply_and_validate(doc, list(reversed(changes)))
    assert again.agent("KM-LEAD").skills == {"night": 2}
    # a later change overrides an earlier one on the same entity
    _, last = apply_and_validate(
        doc,
        [
            Change("agent", "upsert", "KM-LEAD", lead()),
            Change("agent", "upsert", "KM-LEAD", lead(skills={"fault": 1})),
        ],
    )
    assert last.agent("KM-LEAD").skills == {"fault": 1}


def test_invalid_entity_names_the_field(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        apply_and_validate(doc, [Change("agent", "upsert", "KM-LEAD", lead(home_site="XX"))])
    position = [a["id"] for a in doc["agents"]].index("KM-LEAD")
    assert err.value.field == f"agents[{position}].home_site"
    assert "unknown site 'XX'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        apply_and_validate(doc, [Change("agent", "upsert", "KM-LEAD", lead(skils={}))])
    assert err.value.field == f"agents[{position}].skils"


def test_deleting_a_referenced_entity_is_refused(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        apply_and_validate(doc, [Change("site", "delete", "QJ")])
    assert err.value.field is not None and err.value.field.endswith(".site")
    assert "unknown site 'QJ'" in str(err.value)
    with pytest.raises(ConfigError, match="unknown skill 'billing'"):
        apply_and_validate(doc, [Change("skill", "delete", "billing")])


def test_delete_and_addressing(doc: dict) -> None:  # type: ignore[type-arg]
    number = doc["directory"][0]["number"]
    new, province = apply_and_validate(doc, [Change("directory_entry", "delete", number)])
    assert len(province.directory) == len(doc["directory"]) - 1
    assert number not in [i for i, _ in list_entities(new, "directory_entry")]
    with pytest.raises(NotFound) as nf:
        apply_changes(doc, [Change("agent", "delete", "NOBODY")])
    assert nf.value.field == "changes[0].id"
    with pytest.raises(InvalidInput) as bad:
        apply_changes(doc, [Change("agent", "upsert", "KM-LEAD", lead(id="OTHER"))])
    assert bad.value.field == "changes[0].entity.id"
    with pytest.raises(InvalidInput) as bad:
        apply_changes(doc, [Change("routing", "delete", "")])
    assert bad.value.field == "changes[0].op"


def test_singletons_and_agent_groups(doc: dict) -> None:  # type: ignore[type-arg]
    routing = {**doc["routing"], "ring_timeout_s": 20}
    groups = len(doc["agent_groups"])
    group = {"site": "DL", "count": 3, "id_prefix": "DLX", "role": "general", "general_levels": [2]}
    _, province = apply_and_validate(
        doc, [Change("routing", "upsert", "", routing), Change("agent_group", "upsert", "", group)]
    )
    assert province.routing.ring_timeout_s == 20
    assert province.agent("DLX-0001").home_site == "DL"
    assert [i for i, _ in list_entities(doc, "agent_group")] == [str(n) for n in range(groups)]
    with pytest.raises(ConfigError) as err:
        apply_and_validate(doc, [Change("routing", "upsert", "", {**routing, "wrapup_s": 0})])
    assert err.value.field == "routing.wrapup_s"


def test_unknown_kind_op_and_json(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as err:
        change_from_dict({"kind": "planet", "op": "upsert", "entity": {}}, 3)
    assert err.value.field == "changes[3].kind"
    with pytest.raises(InvalidInput) as err:
        change_from_dict({"kind": "agent", "op": "merge", "id": "x"}, 0)
    assert err.value.field == "changes[0].op"
    with pytest.raises(InvalidInput) as err:
        loads_json(b"{not json", "changes[0].entity_json")
    assert err.value.field == "changes[0].entity_json"
    with pytest.raises(InvalidInput, match="over the limit"):
        loads_json(b"[" + b"1," * 600_000 + b"1]", "changes[0].entity_json")


def test_document_import_replaces_everything(doc: dict) -> None:  # type: ignore[type-arg]
    smaller = {**doc, "directory": doc["directory"][:1]}
    new, province = apply_and_validate({}, [Change("document", "upsert", "", smaller)])
    assert new == smaller and len(province.directory) == 1
