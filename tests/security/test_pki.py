"""The province PKI through ``vcc pki``: a CA, node certificates naming their identity,
rotation keeping the previous pair, the inventory, and clear refusals."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from vcc_ops.cli import main
from vcc_proto import pki
from vcc_proto.pki import Identity, PkiError


def vcc(*args: str) -> Result:
    return CliRunner().invoke(main, ["pki", *args])


def ok(*args: str) -> str:
    result = vcc(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def refused(*args: str) -> str:
    """The PKI error a command ended with (what ``vcc`` prints after ``error:``)."""
    result = vcc(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, PkiError), (result.output, result.exception)
    return str(result.exception)


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def days(c: x509.Certificate) -> float:
    return (c.not_valid_after_utc - c.not_valid_before_utc).total_seconds() / 86400


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    ok("init", "--dir", str(d))
    return d


def test_init_makes_a_ten_year_p256_ca_with_a_private_key(ca_dir: Path) -> None:
    ca = cert(ca_dir / "ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert 3649 < days(ca) < 3651
    assert mode(ca_dir / "ca.key") == 0o600
    assert "a CA exists already" in refused("init", "--dir", str(ca_dir))


def test_issue_names_the_node_in_its_san_and_is_signed_by_the_ca(ca_dir: Path) -> None:
    out = ok(
        "issue",
        "--dir",
        str(ca_dir),
        "--kind",
        "site",
        "--id",
        "KM",
        "--dns",
        "km.vcc.local",
        "--ip",
        "127.0.0.1",
        "--ip",
        "::1",
    )
    assert "spiffe://vcc/site/KM" in out
    node = ca_dir / "site-KM"
    c = cert(node / "tls.crt")
    c.verify_directly_issued_by(cert(ca_dir / "ca.crt"))  # raises if not signed by the CA
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://vcc/site/KM"]
    assert san.get_values_for_type(x509.DNSName) == ["km.vcc.local"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 364 < days(c) < 366
    assert pki.identity_of_cert(c) == Identity("site", "KM")
    assert mode(node / "tls.key") == 0o600
    assert (node / "ca.crt").read_bytes() == (ca_dir / "ca.crt").read_bytes()
    assert pki.key_matches(pki.read_key(node / "tls.key"), c)


def test_every_kind_can_be_issued_and_a_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    ok("init", "--dir", str(d), "--days", "30")
    for kind, node_id in (("hub", "hub-1"), ("edge", "edge-1"), ("ops", "alice")):
        ok("issue", "--dir", str(d), "--kind", kind, "--id", node_id)
        assert pki.identity_of_cert(cert(d / f"{kind}-{node_id}" / "tls.crt")) == Identity(
            kind, node_id
        )
    assert (
        cert(d / "hub-hub-1" / "tls.crt").not_valid_after_utc
        <= cert(d / "ca.crt").not_valid_after_utc
    )


def test_rotate_makes_a_new_key_and_keeps_the_old_pair_as_prev(ca_dir: Path) -> None:
    ok("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "KM", "--ip", "127.0.0.1")
    node = ca_dir / "site-KM"
    before, old_key = cert(node / "tls.crt"), (node / "tls.key").read_bytes()
    out = ok("rotate", "--dir", str(ca_dir), "--kind", "site", "--id", "KM")
    assert "rotated" in out
    after = cert(node / "tls.crt")
    assert after.serial_number != before.serial_number
    assert (node / "tls.key").read_bytes() != old_key
    assert pki.key_matches(pki.read_key(node / "tls.key"), after)
    assert cert(node / "tls.crt.prev").serial_number == before.serial_number
    assert (node / "tls.key.prev").read_bytes() == old_key
    assert mode(node / "tls.key.prev") == 0o600
    assert pki.sans_of(after) == ([], ["127.0.0.1"])  # the names are kept
    ok("rotate", "--dir", str(ca_dir), "--kind", "site", "--id", "KM", "--dns", "km.local")
    assert pki.sans_of(cert(node / "tls.crt")) == (["km.local"], ["127.0.0.1"])


def test_show_lists_identities_and_expiry(ca_dir: Path) -> None:
    ok("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "KM")
    ok("issue", "--dir", str(ca_dir), "--kind", "hub", "--id", "hub-1", "--days", "10")
    ok("rotate", "--dir", str(ca_dir), "--kind", "site", "--id", "KM")
    text = ok("show", "--dir", str(ca_dir))
    assert [line.split()[0] for line in text.splitlines()] == [
        "ca",
        "hub/hub-1",
        "site/KM",
        "site/KM",
    ]
    assert "(previous)" in text
    listed = json.loads(ok("show", "--dir", str(ca_dir), "--json"))
    by_who = {item["who"]: item for item in listed}
    assert set(by_who) == {"ca", "hub/hub-1", "site/KM", "site/KM (previous)"}
    assert 9 < by_who["hub/hub-1"]["days_left"] <= 10
    hub = cert(ca_dir / "hub-hub-1" / "tls.crt")
    assert dt.datetime.fromisoformat(by_who["hub/hub-1"]["not_after"]) == hub.not_valid_after_utc
    assert by_who["site/KM"]["serial"] == f"{cert(ca_dir / 'site-KM' / 'tls.crt').serial_number:x}"


def test_clear_refusals(ca_dir: Path, tmp_path: Path) -> None:
    bad_kind = vcc("issue", "--dir", str(ca_dir), "--kind", "printer", "--id", "KM")
    assert bad_kind.exit_code == 2 and "'printer' is not one of" in bad_kind.output
    assert "bad node id" in refused("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "K M")
    assert "bad node id" in refused("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "../x")
    assert "bad IP address" in refused(
        "issue", "--dir", str(ca_dir), "--kind", "site", "--id", "KM", "--ip", "10.0.0.300"
    )
    missing = tmp_path / "nowhere"
    assert "no CA in" in refused("issue", "--dir", str(missing), "--kind", "site", "--id", "KM")
    assert "no CA in" in refused("show", "--dir", str(missing))
    assert "has no certificate" in refused(
        "rotate", "--dir", str(ca_dir), "--kind", "site", "--id", "KM"
    )
    ok("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "KM")
    assert "pki rotate" in refused("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "KM")
    (ca_dir / "ca.key").chmod(0o644)
    message = refused("issue", "--dir", str(ca_dir), "--kind", "site", "--id", "QJ")
    assert "readable by others (mode 0644)" in message and "chmod 600" in message
    assert not (ca_dir / "site-QJ").exists()


def test_the_vcc_command_prints_the_error_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vcc_ops.cli",
            "pki",
            "issue",
            "--dir",
            str(tmp_path / "none"),
            "--kind",
            "site",
            "--id",
            "KM",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error:" in done.stderr and "vcc pki init" in done.stderr
    assert "Traceback" not in done.stderr
