"""Directory versions signed by a hub, checked by a site before it applies them.

A directory delta or snapshot names the version it produces and the hash of the whole
document at that version (sha256 of its canonical JSON). The hub signs
``vcc-directory/v1\\n<version>\\n<hash>`` with the key of its own certificate (ECDSA,
SHA-256) and sends the signature and the certificate with the delta, on JetStream and in
GetDeltas/GetSnapshot answers alike. A site accepts a version only when:

* the certificate was issued by the province CA (the site's own ``ca.crt``), is valid
  now, and names a hub (``spiffe://vcc/hub/...``): another node's key, a key of another
  CA or a hub certificate that expired signs nothing;
* the signature over that version and hash verifies with the certificate's key;
* the document it builds has that hash (:mod:`vcc_site.sync.directory` checks it after
  applying the changes, before storing anything).

So a client holding the broker's credentials (or a site's certificate) cannot put a
version of its own making into a site. A hub with no certificate (``--insecure``) signs
nothing and a site with none (``--insecure``) checks nothing: plaintext provinces accept
unsigned versions, with a warning.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vcc_proto.pki import identity_of_cert
from vcc_proto.tls import ClientTls

DOMAIN = b"vcc-directory/v1"
SIGNER_KIND = "hub"
_CACHE = 256  # signatures kept per hub (a site catching up asks for up to 500 deltas)


class SignatureRefused(Exception):
    """A directory version a site must not apply; ``reason`` is the metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # unsigned | signer | signature


def signed_text(version: int, doc_hash: str) -> bytes:
    """What is signed for ``version``: the domain, the version and the document hash."""
    return b"\n".join((DOMAIN, str(int(version)).encode(), doc_hash.encode("ascii", "replace")))


@dataclass(frozen=True, slots=True)
class Signature:
    signature: bytes
    certificate: bytes  # the signer's certificate, PEM


class DirectorySigner:
    """Signs with the current key of a hub's certificate directory (a rotated key is used
    from the next signature on)."""

    def __init__(self, tls: ClientTls) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._done: dict[tuple[int, str, bytes], Signature] = {}

    def sign(self, version: int, doc_hash: str) -> Signature:
        material = self._tls.material()
        key = _private_key(material.key_pem)
        cached = (version, doc_hash, material.cert_pem)
        with self._lock:
            found = self._done.get(cached)
        if found is not None:
            return found
        signed = Signature(
            key.sign(signed_text(version, doc_hash), ec.ECDSA(hashes.SHA256())),
            material.cert_pem,
        )
        with self._lock:
            if len(self._done) >= _CACHE:
                self._done.clear()
            self._done[cached] = signed
        return signed


class DirectoryVerifier:
    """Checks a hub's signature against the province CA of a site's certificate directory."""

    def __init__(self, tls: ClientTls) -> None:
        self._tls = tls

    def verify(self, version: int, doc_hash: str, signature: bytes, certificate: bytes) -> str:
        """The signing hub's ID, or :class:`SignatureRefused` saying why not."""
        if not signature or not certificate or not doc_hash:
            raise SignatureRefused("unsigned", f"directory version {version} is not signed")
        hub = _hub_of(certificate, self._tls.material().ca_pem, _now_hour())
        public = _public_key(certificate)
        try:
            public.verify(signature, signed_text(version, doc_hash), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureRefused(
                "signature", f"directory version {version}: the signature does not verify"
            ) from None
        return hub


def _now_hour() -> int:
    """The current hour: a certificate's check is cached for at most that long."""
    return int(dt.datetime.now(dt.UTC).timestamp() // 3600)


@lru_cache(maxsize=64)
def _hub_of(certificate: bytes, ca_pem: bytes, _hour: int) -> str:
    """The hub a certificate names, when the CA issued it and it is valid now."""
    try:
        cert = x509.load_pem_x509_certificate(certificate)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise SignatureRefused("signer", "the signer's certificate is unreadable") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise SignatureRefused("signer", "the signer's certificate is not the province's") from None
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureRefused("signer", "the signer's certificate is not valid now")
    who = identity_of_cert(cert)
    if who is None or who.kind != SIGNER_KIND:
        raise SignatureRefused("signer", f"{who or 'an unnamed node'} may not sign the directory")
    if not isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        raise SignatureRefused("signer", "the signer's key is not an ECDSA key")
    return who.id


@lru_cache(maxsize=64)
def _public_key(certificate: bytes) -> ec.EllipticCurvePublicKey:
    key = x509.load_pem_x509_certificate(certificate).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # checked by _hub_of first
    return key


@lru_cache(maxsize=8)
def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("a hub's certificate key must be an ECDSA key")
    return key
