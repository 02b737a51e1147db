"""The authorization table covers the protos exactly: every RPC of every service has one
entry, no entry names an RPC that does not exist, every entry admits somebody, and it
names only known node kinds and roles."""

from __future__ import annotations

import pytest

from vcc_proto import authz
from vcc_proto.pki import KINDS
from vcc_proto.servicing import SERVICES, request_descriptor, service_info


def _rpcs() -> list[str]:
    return [f"{name}.{method}" for name in SERVICES for method in service_info(name).methods]


def test_every_rpc_of_every_service_has_an_entry() -> None:
    missing = [rpc for rpc in _rpcs() if rpc not in authz.TABLE]
    assert not missing, f"RPCs with no entry in vcc_proto.authz.TABLE: {missing}"


def test_no_entry_names_an_unknown_rpc() -> None:
    known = set(_rpcs())
    unknown = [key for key in authz.TABLE if key not in known]
    assert not unknown, f"entries for RPCs the protos do not have: {unknown}"


def test_each_rpc_has_exactly_one_entry() -> None:
    rpcs = _rpcs()
    assert len(rpcs) == len(set(rpcs)) == len(authz.TABLE)


@pytest.mark.parametrize("key", sorted(authz.TABLE))
def test_entry_allows_somebody_known(key: str) -> None:
    rule = authz.TABLE[key]
    assert rule.nodes or rule.roles, f"{key} allows no caller"
    assert rule.nodes <= set(KINDS), f"{key}: unknown kinds {rule.nodes - set(KINDS)}"
    assert rule.roles <= set(authz.ROLES), f"{key}: unknown roles {rule.roles - set(authz.ROLES)}"
    assert rule.own_person in authz.OWN_PERSON


@pytest.mark.parametrize("key", sorted(k for k, r in authz.TABLE.items() if r.own_site))
def test_own_site_names_a_request_field(key: str) -> None:
    """An ``own_site`` path exists in the RPC's request type and only sites are bound by it."""
    service, method = key.split(".")
    message = request_descriptor(service, method)
    rule = authz.TABLE[key]
    for part in rule.own_site.split("."):
        assert message is not None and part in message.fields_by_name, (key, rule.own_site)
        message = message.fields_by_name[part].message_type
    assert "site" in rule.nodes, f"{key} binds sites to themselves but admits no site"


def test_problems_reports_nothing() -> None:
    assert authz.problems() == []


def test_only_the_trunk_side_asserts_a_callers_number() -> None:
    """``Edge.PlaceCall`` carries the caller's number the sites trust: no operator, site
    or person may call it, only the telephony side."""
    rule = authz.TABLE["Edge.PlaceCall"]
    assert rule.nodes == {"trunk"} and not rule.roles
