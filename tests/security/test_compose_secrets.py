"""The compose province's secrets job (``vcc compose secrets``) and ``VCC_ENV_FILE``
(unit level, no Docker): one folder per container holding only its own secrets, owner
only; a second run keeps them; a node reads its NATS/etcd user from its env file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from vcc_ops.cli import example_province_path, main
from vcc_ops.env_file import EnvFileError, load_env_file
from vcc_proto import pki


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("secrets")
    args = ["compose", "secrets", "--dir", str(out), "--province", str(example_province_path())]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, args)
    assert "kept from an earlier start" in again.output
    return out


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_each_site_folder_holds_only_its_own_secrets(made: Path) -> None:
    km = made / "site-km"
    assert sorted(p.name for p in (km / "initial-secrets").iterdir()) == ["KM.json"]
    assert sorted(p.name for p in (km / "crdb").iterdir()) == [
        "ca.crt",
        "client.site_km.crt",
        "client.site_km.key",
    ]
    cert = x509.load_pem_x509_certificate((km / "tls" / "tls.crt").read_bytes())
    assert pki.identity_of_cert(cert) == pki.identity("site", "KM")
    for key in [km / "tls" / "tls.key", km / "crdb" / "client.site_km.key", km / "vcc.env"]:
        assert _private(key), key
    assert (made / "hub-1" / "initial-secrets" / "hub.json").is_file()
    assert (made / "crdb-2" / "crdb" / "node.key").is_file()
    assert "users" in (made / "nats" / "users.conf").read_text()


def test_a_node_reads_its_users_from_its_env_file(
    made: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("VCC_NATS_USER", "VCC_NATS_PASSWORD", "VCC_ETCD_USER", "VCC_ETCD_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("VCC_ETCD_USER", "already-set")
    assert load_env_file(str(made / "site-qj" / "vcc.env")) == 3
    assert os.environ["VCC_NATS_USER"] == "site-QJ" and os.environ["VCC_NATS_PASSWORD"]
    assert os.environ["VCC_ETCD_USER"] == "already-set"  # the environment wins


def test_an_env_file_others_can_read_is_refused(tmp_path: Path) -> None:
    env = tmp_path / "vcc.env"
    env.write_text("VCC_NATS_PASSWORD=x\n")
    env.chmod(0o644)
    with pytest.raises(EnvFileError):
        load_env_file(str(env))
