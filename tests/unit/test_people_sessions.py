"""People, pure: seat roles to person roles, who manages whom, bearer tokens in metadata,
and the session table's idle and absolute limits on explicit times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcc_domain.people import (
    MAX_SESSIONS_PER_PERSON,
    PERSON_ROLES,
    ROLE_OF_SEAT,
    SessionPolicy,
    SessionTable,
    bearer_token,
    may_manage,
    person_role,
    token_digest,
)
from vcc_domain.province import Role
from vcc_proto import authz
from vcc_proto.authz_interceptor import Caller, Person
from vcc_proto.pki import identity

POLICY = SessionPolicy(idle_s=60, absolute_s=300)
T0 = 1_700_000_000_000


def test_every_seat_has_a_person_role_of_the_table() -> None:
    assert set(ROLE_OF_SEAT) == set(Role)
    assert {person_role(r) for r in Role} <= set(authz.ROLES)
    assert authz.ROLES == PERSON_ROLES
    assert person_role(Role.SHIFT_LEADER) == "team_leader"
    assert person_role(Role.SYSTEM_ADMIN) == "site_admin"


def test_who_manages_whom() -> None:
    assert may_manage("team_leader", "agent")
    assert not may_manage("team_leader", "team_leader")
    assert not may_manage("team_leader", "site_admin")
    assert may_manage("site_admin", "team_leader")
    assert not may_manage("site_admin", "province_manager")
    for role in ("agent", "quality_inspector", "data_maintenance"):
        assert not any(may_manage(role, other) for other in PERSON_ROLES)


def test_reset_and_unlock_are_for_the_managers_in_the_table() -> None:
    managers = {r for r in PERSON_ROLES if any(may_manage(r, o) for o in PERSON_ROLES)}
    for rpc in ("People.ResetPassword", "People.Unlock"):
        assert authz.TABLE[rpc].roles == managers


def test_bearer_tokens_in_metadata() -> None:
    assert bearer_token([]) is None
    assert bearer_token([("x-other", "1")]) is None
    assert bearer_token([("authorization", "Bearer abc")]) == "abc"
    assert bearer_token([("Authorization", b"bearer  abc ")]) == "abc"
    assert bearer_token([("authorization", "Basic abc")]) == ""  # there, but refused


def test_only_the_digest_is_kept() -> None:
    table = SessionTable(POLICY)
    token, session = table.open("KM-0131", "agent", "KM", T0)
    assert session.digest == token_digest(token) != token
    assert token not in repr(session)


def test_idle_limit_restarts_with_use() -> None:
    table = SessionTable(POLICY)
    token, _ = table.open("KM-0131", "agent", "KM", T0)
    assert table.use(token, T0 + 59_999) is not None
    assert table.use(token, T0 + 119_998) is not None
    assert table.use(token, T0 + 179_998) is None  # 60 s unused
    assert len(table) == 0


def test_absolute_limit_holds_however_busy() -> None:
    table = SessionTable(POLICY)
    token, _ = table.open("KM-0131", "agent", "KM", T0)
    for t in range(T0, T0 + 300_000, 30_000):
        assert table.use(token, t) is not None
    assert table.use(token, T0 + 300_000) is None


def test_revoke_one_and_all_of_a_person() -> None:
    table = SessionTable(POLICY)
    a, _ = table.open("KM-0131", "agent", "KM", T0)
    b, _ = table.open("KM-0131", "agent", "KM", T0)
    c, _ = table.open("KM-0190", "team_leader", "KM", T0)
    assert table.revoke(a) is not None and table.revoke(a) is None
    assert table.revoke_person("KM-0131") == 1
    assert table.use(b, T0) is None and table.use(c, T0) is not None


def test_a_person_keeps_at_most_a_few_sessions() -> None:
    table = SessionTable(POLICY)
    tokens = [table.open("KM-0131", "agent", "KM", T0 + i)[0] for i in range(10)]
    live = [t for t in tokens if table.use(t, T0 + 20) is not None]
    assert live == tokens[-MAX_SESSIONS_PER_PERSON:]


@given(st.text(max_size=80))
def test_an_unknown_token_finds_nothing(guess: str) -> None:
    table = SessionTable(POLICY)
    table.open("KM-0131", "agent", "KM", T0)
    assert table.use(guess, T0) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SessionPolicy(idle_s=0)


def test_the_audit_actor_is_the_checked_identity() -> None:
    assert Caller(identity("site", "QJ")).actor == "site/QJ"
    assert Caller(identity("ops", "desk"), Person("KM-0190", "team_leader", "KM")).actor == (
        "person:KM-0190"
    )
