"""Directory versions are signed by a hub's certificate and checked against the province CA
(:mod:`vcc_proto.signing`): only a hub of this CA, over exactly this version and hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_proto import pki
from vcc_proto.signing import DirectorySigner, DirectoryVerifier, SignatureRefused
from vcc_proto.tls import ClientTls

HUB = pki.identity("hub", "hub-1")
KM = pki.identity("site", "KM")
HASH = "ab" * 32


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    pki.init_ca(d)
    for who in (HUB, KM):
        pki.issue(d, who)
    other = d / "other"  # another province's CA and hub
    pki.init_ca(other)
    pki.issue(other, HUB)
    return d


def _tls(certs: Path, who: pki.Identity) -> ClientTls:
    return ClientTls(pki.node_dir(certs, who))


def _reason(verifier: DirectoryVerifier, version: int, doc_hash: str, sig: object) -> str:
    with pytest.raises(SignatureRefused) as refused:
        verifier.verify(version, doc_hash, sig.signature, sig.certificate)  # type: ignore[attr-defined]
    return refused.value.reason


def test_a_hub_s_signature_verifies_at_a_site(certs: Path) -> None:
    signed = DirectorySigner(_tls(certs, HUB)).sign(7, HASH)
    assert (
        DirectoryVerifier(_tls(certs, KM)).verify(7, HASH, signed.signature, signed.certificate)
        == "hub-1"
    )


def test_another_version_or_hash_does_not_verify(certs: Path) -> None:
    signed = DirectorySigner(_tls(certs, HUB)).sign(7, HASH)
    verifier = DirectoryVerifier(_tls(certs, KM))
    assert _reason(verifier, 8, HASH, signed) == "signature"
    assert _reason(verifier, 7, "cd" * 32, signed) == "signature"


def test_unsigned_is_refused(certs: Path) -> None:
    verifier = DirectoryVerifier(_tls(certs, KM))
    with pytest.raises(SignatureRefused) as refused:
        verifier.verify(7, HASH, b"", b"")
    assert refused.value.reason == "unsigned"
    with pytest.raises(SignatureRefused):  # a signature over no hash proves nothing
        verifier.verify(7, "", b"x", b"y")


def test_only_a_hub_of_this_province_may_sign(certs: Path) -> None:
    verifier = DirectoryVerifier(_tls(certs, KM))
    by_site = DirectorySigner(_tls(certs, KM)).sign(7, HASH)  # a site's own key
    assert _reason(verifier, 7, HASH, by_site) == "signer"
    foreign = DirectorySigner(_tls(certs / "other", HUB)).sign(7, HASH)  # another CA's hub
    assert _reason(verifier, 7, HASH, foreign) == "signer"
    garbage = DirectorySigner(_tls(certs, HUB)).sign(7, HASH)
    with pytest.raises(SignatureRefused) as refused:
        verifier.verify(7, HASH, garbage.signature, b"-----BEGIN CERTIFICATE-----\nnope")
    assert refused.value.reason == "signer"


def test_a_hub_certificate_with_another_key_does_not_verify(certs: Path) -> None:
    """The certificate sent along must be the signer's: a genuine hub certificate beside
    a signature made with another key is refused."""
    genuine = DirectorySigner(_tls(certs, HUB)).sign(7, HASH)
    forged = DirectorySigner(_tls(certs, KM)).sign(7, HASH)
    verifier = DirectoryVerifier(_tls(certs, KM))
    with pytest.raises(SignatureRefused) as refused:
        verifier.verify(7, HASH, forged.signature, genuine.certificate)
    assert refused.value.reason == "signature"


def test_a_rotated_hub_key_signs_from_then_on(tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    for who in (HUB, KM):
        pki.issue(tmp_path, who)
    signer = DirectorySigner(_tls(tmp_path, HUB))
    before = signer.sign(9, HASH)
    pki.rotate(tmp_path, HUB)
    after = signer.sign(9, HASH)
    assert after.certificate != before.certificate
    verifier = DirectoryVerifier(_tls(tmp_path, KM))
    assert verifier.verify(9, HASH, after.signature, after.certificate) == "hub-1"
