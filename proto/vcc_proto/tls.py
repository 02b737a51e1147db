"""Mutual TLS for gRPC from a node's certificate directory, reloaded without a restart.

A node's directory (made by ``vcc pki issue``, see :mod:`vcc_proto.pki`) holds its key
``tls.key``, its certificate ``tls.crt`` and the province CA ``ca.crt``.

* :class:`ServerTls` gives server credentials that require a client certificate signed by
  the province CA. gRPC asks for the certificate configuration at every new handshake; the
  fetcher looks at the files' inode, mtime and size and re-reads them only when they
  changed, so a rotated certificate is served to the next connection, no restart.
* :class:`ClientTls` gives channel credentials presenting the node's certificate and
  trusting the province CA; each new channel is built from the current files.
* :func:`identity_of` turns the peer certificate of an RPC into an :class:`Identity`.
* ``vcc_tls_cert_expiry_seconds{kind, id}``: the Unix time at which the certificate a
  process serves or presents expires (its notAfter), and the CA's (``kind="ca"``);
  the ``VccCertificateExpiresSoon`` alerts compare it with ``time()``.

Files changed half-way (a key that does not match its certificate, a truncated file) are
not loaded: the previous material stays in use and the next handshake looks again.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import Gauge

from vcc_proto.pki import (
    CA_CERT,
    NODE_CERT,
    NODE_KEY,
    Identity,
    PkiError,
    identity_from_uri,
    identity_of_cert,
)

log = logging.getLogger(__name__)

CERT_EXPIRY = Gauge(
    "vcc_tls_cert_expiry_seconds",
    "Unix time at which a certificate this process serves or presents expires",
    ["kind", "id"],
)
CA_LABELS = ("ca", "province")


@dataclass(frozen=True, slots=True)
class Material:
    """One consistent reading of a node's directory."""

    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    identity: Identity
    serial: int
    not_after: float  # Unix time


def read_material(directory: Path) -> Material:
    """Read and check a node's key, certificate and CA (a :class:`PkiError` if unusable)."""
    try:
        key_pem = (directory / NODE_KEY).read_bytes()
        cert_pem = (directory / NODE_CERT).read_bytes()
        ca_pem = (directory / CA_CERT).read_bytes()
    except FileNotFoundError as err:
        raise PkiError(
            f"missing {err.filename}: a node directory holds {NODE_KEY}, "
            f"{NODE_CERT} and {CA_CERT} (vcc pki issue)",
            field="tls_dir",
        ) from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except (ValueError, TypeError) as err:
        raise PkiError(
            f"unreadable key or certificate in {directory}: {err}", field="tls_dir"
        ) from None
    if key.public_key() != cert.public_key():
        raise PkiError(
            f"{directory / NODE_KEY} is not the key of {directory / NODE_CERT}", field="tls_dir"
        )
    who = identity_of_cert(cert)
    if who is None:
        raise PkiError(
            f"{directory / NODE_CERT} names no vcc identity (a spiffe://vcc/ URI)", field="tls_dir"
        )
    CERT_EXPIRY.labels(*CA_LABELS).set(ca.not_valid_after_utc.timestamp())
    not_after = cert.not_valid_after_utc.timestamp()
    CERT_EXPIRY.labels(who.kind, who.id).set(not_after)
    return Material(key_pem, cert_pem, ca_pem, who, cert.serial_number, not_after)


Signature = tuple[tuple[int, int, int], ...]


class _Reloader:
    """The current material of a node's directory, re-read when its files change."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()  # gRPC may call the fetcher from its own threads
        self._signature = self._stat()
        self.material = read_material(self.directory)

    def _stat(self) -> Signature:
        out = []
        for name in (NODE_KEY, NODE_CERT, CA_CERT):
            try:
                st = os.stat(self.directory / name)
            except FileNotFoundError:
                out.append((0, 0, -1))
            else:
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def refresh(self) -> Material | None:
        """New material when the files changed and read well, else None."""
        signature = self._stat()
        with self._lock:
            if signature == self._signature:
                return None
            try:
                material = read_material(self.directory)
            except PkiError as err:  # caught mid-rotation or broken: keep serving the old
                log.warning("TLS files in %s not reloaded: %s", self.directory, err)
                return None
            self._signature, self.material = signature, material
        log.info("TLS certificate of %s reloaded (serial %x)", material.identity, material.serial)
        return material


class ServerTls:
    """Server credentials from a node's directory: clients must present a certificate
    signed by the province CA; a rotated certificate is served to new connections."""

    def __init__(self, directory: Path) -> None:
        self._files = _Reloader(directory)

    @property
    def identity(self) -> Identity:
        return self._files.material.identity

    @staticmethod
    def _config(material: Material) -> Any:
        return grpc.ssl_server_certificate_configuration(
            [(material.key_pem, material.cert_pem)], root_certificates=material.ca_pem
        )

    def _fetch(self) -> Any:
        try:
            material = self._files.refresh()
        except Exception:  # an exception must not reach gRPC's handshake
            log.exception("TLS reload of %s failed", self._files.directory)
            return None
        return None if material is None else self._config(material)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._config(self._files.material), self._fetch, require_client_authentication=True
        )


class ClientTls:
    """Channel credentials from a node's directory (its certificate, the province CA).

    ``server_name`` replaces the host name checked against the server's certificate (its
    DNS and IP SANs) when the endpoint's address is not among them."""

    def __init__(self, directory: Path, server_name: str | None = None) -> None:
        self._files = _Reloader(directory)
        self.server_name = server_name

    @property
    def identity(self) -> Identity:
        return self._files.material.identity

    @property
    def directory(self) -> Path:
        return self._files.directory

    def material(self) -> Material:
        """The node's key, certificate and CA as the files are now."""
        self._files.refresh()
        return self._files.material

    def ssl_context(self) -> ssl.SSLContext:
        """A client context for other TLS servers of the province (NATS): it trusts only
        the province CA, checks the server's name, and presents the node's certificate."""
        material = self.material()
        context = ssl.create_default_context(cadata=material.ca_pem.decode("ascii"))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.directory / NODE_CERT, self.directory / NODE_KEY)
        return context

    def credentials(self) -> grpc.ChannelCredentials:
        self._files.refresh()
        material = self._files.material
        return grpc.ssl_channel_credentials(
            root_certificates=material.ca_pem,
            private_key=material.key_pem,
            certificate_chain=material.cert_pem,
        )

    def options(self) -> list[tuple[str, Any]]:
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]

    def channel(
        self, target: str, options: list[tuple[str, Any]] | None = None
    ) -> grpc.aio.Channel:
        """A new ``grpc.aio`` channel to ``target`` over mutual TLS."""
        return grpc.aio.secure_channel(
            target, self.credentials(), [*self.options(), *(options or [])]
        )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@lru_cache(maxsize=256)
def _identity_of_pem(pem: bytes) -> Identity | None:
    try:
        return identity_of_cert(x509.load_pem_x509_certificate(pem))
    except ValueError:
        return None


def identity_of(context: Any) -> Identity | None:
    """The identity in the verified peer certificate of an RPC (``grpc.aio`` servicer
    context); None over plaintext or when the certificate names no vcc identity.

    The server only completes a handshake with a certificate its CA signed, so what the
    certificate names is who called. The SPIFFE ID and SANs gRPC lists are read first; the PEM is parsed
    (once per distinct certificate) only when they name no identity."""
    auth: dict[str, list[Any]] = context.auth_context() or {}
    if [_text(v) for v in auth.get("transport_security_type", [])] != ["ssl"]:
        return None
    for value in [*auth.get("peer_spiffe_id", []), *auth.get("x509_subject_alternative_name", [])]:
        found = identity_from_uri(_text(value))
        if found is not None:
            return found
    for pem in auth.get("x509_pem_cert", []):
        found = _identity_of_pem(pem if isinstance(pem, bytes) else str(pem).encode())
        if found is not None:
            return found
    return None
