"""What sites receive of the directory: no password hash of anybody."""

from __future__ import annotations

from vcc_domain.directory_doc import Change
from vcc_domain.directory_secrets import change_without_secrets, without_secrets

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def test_the_document_loses_agents_and_groups_hashes_and_nothing_else() -> None:
    doc = {
        "agents": [{"id": "KM-1", "password_hash": HASH}, {"id": "KM-2"}],
        "agent_groups": [{"site": "DL", "count": 3, "password_hash": HASH}],
        "sites": [{"id": "KM"}],
    }
    out = without_secrets(doc)
    assert out == {
        "agents": [{"id": "KM-1"}, {"id": "KM-2"}],
        "agent_groups": [{"site": "DL", "count": 3}],
        "sites": [{"id": "KM"}],
    }
    assert doc["agents"][0]["password_hash"] == HASH  # the hub's copy is left as it was


def test_changes_lose_the_hash_of_an_agent_a_group_and_a_whole_document() -> None:
    agent = change_without_secrets(
        Change("agent", "upsert", "KM-1", {"id": "KM-1", "password_hash": HASH})
    )
    assert agent.entity == {"id": "KM-1"}
    group = change_without_secrets(Change("agent_group", "upsert", "", {"password_hash": HASH}))
    assert group.entity == {}
    whole = change_without_secrets(
        Change("document", "upsert", "", {"agents": [{"id": "X", "password_hash": HASH}]})
    )
    assert whole.entity == {"agents": [{"id": "X"}]}
    deleted = Change("agent", "delete", "KM-1")
    assert change_without_secrets(deleted) is deleted
