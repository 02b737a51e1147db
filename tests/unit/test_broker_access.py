"""The users a province run gets on NATS and etcd, and what each may do (no servers: the
rights are tried on real ones in tests/security/test_broker_rights.py)."""

from __future__ import annotations

import re
from pathlib import Path

from vcc_ops.infra.access import (
    ProvinceAccess,
    nats_password_matches,
    nats_rights,
    read_ops_file,
)
from vcc_proto.access import NATS_USER_ENV, Credentials, inbox_prefix


def _access() -> ProvinceAccess:
    return ProvinceAccess.generate(["hub-1", "hub-2"], ["KM", "QJ"], ["edge"])


def test_every_node_has_its_own_password() -> None:
    access = _access()
    assert sorted(access.users) == ["edge", "hub-1", "hub-2", "ops", "site-KM", "site-QJ"]
    passwords = {u.password for u in access.users.values()} | {access.root.password}
    assert len(passwords) == len(access.users) + 1
    assert all(len(p) >= 32 for p in passwords)
    assert _access().user("site-KM").password != access.user("site-KM").password


def test_a_site_publishes_its_own_subject_and_no_stream_administration() -> None:
    publish, subscribe = nats_rights(_access().user("site-KM"))
    assert "vcc.site.KM.events" in publish
    assert not any("QJ" in s or s.startswith("vcc.site.*") for s in publish)
    assert "vcc.directory.deltas" not in publish
    assert not any(
        s.startswith(("$JS.API.STREAM.CREATE", "$JS.API.STREAM.DELETE")) for s in publish
    )
    assert not any(s.endswith(">") and s.startswith("$JS.API.") for s in publish)
    # it creates no consumer (whose delivery subject it would choose): it fetches from and
    # acknowledges only the one the hub made for it
    assert not any(s.startswith("$JS.API.CONSUMER.CREATE") for s in publish)
    assert "$JS.API.CONSUMER.MSG.NEXT.VCC_DIRECTORY.vcc-dir-KM" in publish
    assert [s for s in publish if s.startswith("$JS.ACK")] == ["$JS.ACK.VCC_DIRECTORY.vcc-dir-KM.>"]
    assert subscribe == ["_INBOX.site-KM.>"]


def test_only_hubs_publish_deltas_and_the_edge_has_no_nats_user() -> None:
    access = _access()
    assert "vcc.directory.deltas" in nats_rights(access.user("hub-1"))[0]
    assert nats_rights(access.user("edge")) == ([], [])
    assert NATS_USER_ENV not in access.env_for("edge")
    assert access.env_for("site-KM")[NATS_USER_ENV] == "site-KM"
    block = access.nats_authorization()
    assert block.count("{user:") == len(access.users)
    assert '"_NOTHING"' in block  # the edge's user may do nothing


def test_the_nats_configuration_holds_no_clear_password() -> None:
    access = _access()
    block = access.nats_authorization()
    for user in access.users.values():
        assert user.password not in block
    hashes = re.findall(r'password: "([^"]+)"', block)
    assert len(hashes) == len(access.users) and all(h.startswith("$2a$") for h in hashes)
    assert any(nats_password_matches(access.user("site-KM").password, h) for h in hashes)
    assert access.nats_authorization() == block  # rewritten configs keep the same hashes


def test_the_operator_file_is_private(tmp_path: Path) -> None:
    access = _access()
    path = access.write_ops_file(tmp_path)
    assert path.stat().st_mode & 0o077 == 0
    assert read_ops_file(tmp_path) == access.user("ops").credentials
    assert read_ops_file(tmp_path / "nowhere") is None


def test_passwords_are_not_shown() -> None:
    secret = Credentials("site-KM", "s3cret")
    assert "s3cret" not in repr(secret)
    assert "s3cret" not in repr(_access().user("site-KM"))
    assert inbox_prefix(secret) == "_INBOX.site-KM"
    assert inbox_prefix(None) == "_INBOX"
