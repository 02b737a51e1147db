"""The province's PKI: one certificate authority, one certificate per node.

Every process of a province (the hubs, each site, the access edge, an operator's tool)
holds a key and a certificate signed by the province CA. The certificate names the node in
its subject alternative names as a URI, ``spiffe://vcc/<kind>/<id>`` (``spiffe://vcc/site/KM``),
beside the DNS names and IP addresses other processes reach it by. That URI is the node's
identity: :mod:`vcc_proto.tls` reads it back from a peer's certificate.

A PKI directory holds::

    ca.crt  ca.key                 the province CA (the key readable by its owner only)
    <kind>-<id>/tls.crt tls.key    a node's certificate and key
    <kind>-<id>/ca.crt             a copy of the CA certificate: the node's trust root
    <kind>-<id>/tls.crt.prev ...   the certificate and key before the last rotation

so a node is given its own ``<kind>-<id>`` directory and needs nothing else. Files are
replaced atomically (written beside, then renamed), the key before the certificate, so a
process that reloads while a rotation runs sees either the old pair or the new one (a key
that does not match its certificate is not loaded: :func:`load_pair`).

Keys are ECDSA P-256 (what every TLS stack, gRPC's included, accepts), certificates
SHA-256 signed; the CA lives ten years, a node certificate one year unless told otherwise.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vcc_domain.errors import InvalidInput

TRUST_DOMAIN = "vcc"
KINDS = ("hub", "site", "edge", "ops", "infra", "trunk")
# infra: the NATS and etcd servers; trunk: the telephony side that hands callers to the edge
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
CA_DAYS = 3650
NODE_DAYS = 365
CA_CERT, CA_KEY = "ca.crt", "ca.key"
NODE_CERT, NODE_KEY = "tls.crt", "tls.key"
PREV = ".prev"


class PkiError(InvalidInput):
    """A PKI request that cannot be done as asked (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a certificate names: a node kind and the node's ID (``site`` and ``KM``)."""

    kind: str
    id: str

    @property
    def uri(self) -> str:
        return f"spiffe://{TRUST_DOMAIN}/{self.kind}/{self.id}"

    @property
    def label(self) -> str:  # the node's directory name and its certificate's common name
        return f"{self.kind}-{self.id}"

    def __str__(self) -> str:
        return f"{self.kind}/{self.id}"


def identity(kind: str, node_id: str) -> Identity:
    """A checked identity: a known kind and an ID of letters, digits, ``_ . -``."""
    if kind not in KINDS:
        raise PkiError(f"unknown node kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    if not NODE_ID.fullmatch(node_id):
        raise PkiError(
            f"bad node id {node_id!r}: 1 to 63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field="id",
        )
    return Identity(kind, node_id)


def identity_from_uri(uri: str) -> Identity | None:
    """The identity a SAN URI names, or None when it is not one of ours."""
    prefix = f"spiffe://{TRUST_DOMAIN}/"
    if not uri.startswith(prefix):
        return None
    kind, _, node_id = uri[len(prefix) :].partition("/")
    if kind not in KINDS or not NODE_ID.fullmatch(node_id):
        return None
    return Identity(kind, node_id)


def identity_of_cert(cert: x509.Certificate) -> Identity | None:
    """The identity in a certificate's SAN URIs (None: the certificate names none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        found = identity_from_uri(uri)
        if found is not None:
            return found
    return None


# -- files ------------------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (never readable by others first)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise PkiError(f"no certificate at {path}", field="dir") from None
    except ValueError as err:
        raise PkiError(f"{path} is not a PEM certificate: {err}", field="dir") from None


def read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A private key, refused when others than its owner may read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise PkiError(f"no key at {path}", field="dir") from None
    if mode & 0o077:
        raise PkiError(
            f"{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}", field="dir"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise PkiError(
            f"{path} is not an unencrypted PEM private key: {err}", field="dir"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path} is not an EC key", field="dir")
    return key


def key_matches(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    return key.public_key() == cert.public_key()


# -- the authority ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authority:
    """The province CA: its certificate and key, loaded from a PKI directory."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def init_ca(directory: Path, name: str = "vcc province", days: int = CA_DAYS) -> x509.Certificate:
    """Create the province CA in ``directory`` (refused when one is there already)."""
    if days < 1:
        raise PkiError(f"a CA must be valid for at least a day, not {days}", field="days")
    if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
        raise PkiError(
            f"a CA exists already in {directory}; a new one would orphan every "
            "certificate it signed",
            field="dir",
        )
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA"),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / CA_KEY, _key_pem(key), 0o600)
    _write(directory / CA_CERT, _cert_pem(cert), 0o644)
    return cert


def load_ca(directory: Path) -> Authority:
    if not (directory / CA_CERT).exists():
        raise PkiError(
            f"no CA in {directory}; create one with: vcc pki init --dir {directory}", field="dir"
        )
    cert = read_cert(directory / CA_CERT)
    key = read_key(directory / CA_KEY)
    if not key_matches(key, cert):
        raise PkiError(f"{directory / CA_KEY} is not the key of {directory / CA_CERT}", field="dir")
    return Authority(cert, key)


# -- node certificates ------------------------------------------------------------------


def _sans(who: Identity, dns: Sequence[str], ips: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(who.uri)]
    names += [x509.DNSName(d) for d in dns]
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PkiError(f"bad IP address {ip!r}", field="ip") from None
    return x509.SubjectAlternativeName(names)


def sign_node(
    ca: Authority,
    who: Identity,
    key: ec.EllipticCurvePrivateKey,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    days: int = NODE_DAYS,
) -> x509.Certificate:
    """A node certificate for ``who`` (server and client use), ending no later than the CA."""
    if days < 1:
        raise PkiError(f"a certificate must be valid for at least a day, not {days}", field="days")
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, who.label)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_sans(who, dns, ips), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def node_dir(directory: Path, who: Identity) -> Path:
    return directory / who.label


def _write_node(
    ca: Authority, where: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(where / CA_CERT, _cert_pem(ca.cert), 0o644)
    _write(where / NODE_KEY, _key_pem(key), 0o600)  # the key first: see the module's text
    _write(where / NODE_CERT, _cert_pem(cert), 0o644)


def issue(
    directory: Path,
    who: Identity,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    days: int = NODE_DAYS,
) -> x509.Certificate:
    """A first key and certificate for ``who`` (refused when it has one: rotate it)."""
    ca = load_ca(directory)
    where = node_dir(directory, who)
    if (where / NODE_CERT).exists():
        raise PkiError(
            f"{who} has a certificate already ({where / NODE_CERT}); "
            f"replace it with: vcc pki rotate --kind {who.kind} --id {who.id}",
            field="id",
        )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_node(ca, who, key, dns, ips, days)
    _write_node(ca, where, key, cert)
    return cert


def rotate(
    directory: Path,
    who: Identity,
    dns: Sequence[str] | None = None,
    ips: Sequence[str] | None = None,
    days: int = NODE_DAYS,
) -> x509.Certificate:
    """A new key and certificate for ``who``; the current pair is kept as ``.prev`` (a
    fallback until it expires). Without ``dns``/``ips`` the current certificate's are kept."""
    ca = load_ca(directory)
    where = node_dir(directory, who)
    if not (where / NODE_CERT).exists():
        raise PkiError(
            f"{who} has no certificate in {directory}; issue one with: "
            f"vcc pki issue --kind {who.kind} --id {who.id}",
            field="id",
        )
    current = read_cert(where / NODE_CERT)
    if dns is None or ips is None:
        old_dns, old_ips = sans_of(current)
        dns = old_dns if dns is None else dns
        ips = old_ips if ips is None else ips
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_node(ca, who, key, dns, ips, days)
    for name in (NODE_KEY, NODE_CERT):
        os.replace(where / name, where / f"{name}{PREV}")
    _write_node(ca, where, key, cert)
    return cert


def sans_of(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses (as text) of a certificate's SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return list(san.get_values_for_type(x509.DNSName)), ips


@dataclass(frozen=True, slots=True)
class CertInfo:
    """One certificate of a PKI directory as ``vcc pki show`` lists it."""

    path: Path
    who: str  # "ca" or kind/id
    serial: int
    not_after: dt.datetime
    dns: tuple[str, ...]
    ips: tuple[str, ...]

    def days_left(self, now: dt.datetime | None = None) -> float:
        return (self.not_after - (now or _now())).total_seconds() / 86400


def _info(path: Path, who: str) -> CertInfo:
    cert = read_cert(path)
    dns, ips = sans_of(cert)
    return CertInfo(path, who, cert.serial_number, cert.not_valid_after_utc, tuple(dns), tuple(ips))


def inventory(directory: Path) -> list[CertInfo]:
    """The CA and every node certificate (current and previous) in ``directory``."""
    if not (directory / CA_CERT).exists():
        raise PkiError(
            f"no CA in {directory}; create one with: vcc pki init --dir {directory}", field="dir"
        )
    found = [_info(directory / CA_CERT, "ca")]
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        for name in (NODE_CERT, NODE_CERT + PREV):
            path = sub / name
            if path.exists():
                cert = read_cert(path)
                who = identity_of_cert(cert)
                label = str(who) if who is not None else f"? ({sub.name})"
                found.append(_info(path, label + (" (previous)" if name.endswith(PREV) else "")))
    return found
