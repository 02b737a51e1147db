"""TLS to the broker (NATS) and the coordination store (etcd), decided by their addresses.

Whoever starts the servers says how they are reached: ``vcc up`` gives every process NATS
as ``tls://host:port`` and etcd as ``https://host:port`` when the province runs with its
PKI (each server then holds an ``infra`` certificate of the province CA), and as
``nats://`` and bare ``host:port`` with ``--insecure`` or for the bare servers of tests
and benchmarks. A process reaching a TLS address trusts only the province CA of its own
certificate directory (the process's client credentials, :func:`vcc_proto.channels.
client_tls`), checks the server's name against the certificate, and presents its own
certificate (the servers do not require one; their users and passwords stay).

NATS is spoken TLS from the first byte (``handshake_first``): the client never waits for
a plaintext greeting a man in the middle could use to talk it out of TLS, so the user's
password only ever crosses inside TLS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_proto.channels import client_tls
from vcc_proto.tls import ClientTls

NATS_TLS = "tls://"
ETCD_TLS = "https://"
ETCD_PLAIN = "http://"


def _split_urls(urls: str | Sequence[str]) -> list[str]:
    items = urls.split(",") if isinstance(urls, str) else list(urls)
    return [u.strip() for u in items if u.strip()]


def _credentials(what: str, tls: ClientTls | None) -> ClientTls:
    tls = tls or client_tls()
    if tls is None:
        raise ConfigError(
            f"{what} is reached over TLS, which needs the province CA: give this process "
            "its certificate directory (--tls-dir / VCC_TLS_DIR)",
            field="VCC_TLS_DIR",
        )
    return tls


def nats_uses_tls(urls: str | Sequence[str]) -> bool:
    """Whether the NATS servers at ``urls`` are reached over TLS (all or none)."""
    given = _split_urls(urls)
    secure = [u.startswith(NATS_TLS) for u in given]
    if any(secure) and not all(secure):
        raise ConfigError(f"NATS URLs mix tls:// and plaintext: {given}", field="VCC_NATS")
    return bool(given) and all(secure)


def nats_tls_options(urls: str | Sequence[str], tls: ClientTls | None = None) -> dict[str, Any]:
    """The ``nats.connect`` keyword arguments for ``urls``: none for plaintext servers;
    for ``tls://`` ones a context trusting the province CA (``tls``, else the process's
    certificate) and the TLS-first handshake."""
    if not nats_uses_tls(urls):
        return {}
    context = _credentials(f"NATS at {','.join(_split_urls(urls))}", tls).ssl_context()
    return {"tls": context, "tls_handshake_first": True}


def etcd_hostports(endpoints: Sequence[str]) -> tuple[list[str], bool]:
    """``host:port`` of each endpoint, and whether they are reached over TLS (all or none)."""
    hostports, secure = [], []
    for endpoint in (e.strip() for e in endpoints):
        if not endpoint:
            continue
        secure.append(endpoint.startswith(ETCD_TLS))
        hostports.append(endpoint.removeprefix(ETCD_TLS).removeprefix(ETCD_PLAIN).rstrip("/"))
    if any(secure) and not all(secure):
        raise ConfigError(f"etcd endpoints mix https:// and plaintext: {list(endpoints)}")
    return hostports, bool(secure) and all(secure)


def etcd_tls_options(hostports: Sequence[str], tls: ClientTls | None = None) -> dict[str, Any]:
    """``Etcd3Client`` keyword arguments for a TLS etcd: the province CA, the process's
    certificate and the name checked against the server's certificate (the first
    endpoint's host: every member's certificate must name the address it is dialled at,
    and one name is checked for all)."""
    material = _credentials(f"etcd at {','.join(hostports)}", tls).material()
    host = hostports[0].rsplit(":", 1)[0].strip("[]") if hostports else "localhost"
    return {
        "ca_cert": material.ca_pem,
        "cert_key": material.key_pem,
        "cert_chain": material.cert_pem,
        "tls_server_name": host,
    }
