"""How a hub, site or edge process speaks gRPC: mutual TLS from its certificate directory,
or plaintext only when told ``--insecure``.

:class:`TlsSettings` is the settings part every service process reads (``--tls-dir`` /
``VCC_TLS_DIR``, ``--insecure`` / ``VCC_INSECURE``); :func:`open_transport` turns it into
the server credentials for the process's :class:`~vcc_proto.server.GrpcHost` (which then
checks every RPC against the authorization table) and makes the node's certificate the
client credentials of every channel the process opens (:mod:`vcc_proto.channels`).

Neither given is an error: a process never falls back to plaintext on its own. Plaintext
logs a warning at every start, since anyone who reaches the port may then call every RPC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from vcc_proto.channels import use_client_tls
from vcc_proto.pki import Identity
from vcc_proto.settings import SettingsError, setting
from vcc_proto.tls import ClientTls, ServerTls

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "%s runs gRPC in PLAINTEXT (--insecure): no certificates, no identities, no "
    "authorization; anyone who reaches its port may call every RPC"
)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Transport security of the process's gRPC server and clients."""

    tls_dir: Path | None = setting(
        "VCC_TLS_DIR",
        None,
        "the node's certificate directory (tls.key, tls.crt, ca.crt: `vcc pki issue`); its "
        "gRPC port then requires mutual TLS and checks every RPC, and its calls present it",
        flag="--tls-dir",
        default_text="none: --insecure needed",
    )
    insecure: bool = setting(
        "VCC_INSECURE",
        False,
        "plaintext gRPC with no identities and no authorization (a warning at every start); "
        "only when no --tls-dir is given",
        flag="--insecure",
    )

    def __post_init__(self) -> None:
        if self.tls_dir is not None and self.insecure:
            raise SettingsError(
                "give a certificate directory or --insecure, not both", field="VCC_INSECURE"
            )


@dataclass(frozen=True, slots=True)
class Transport:
    """The process's credentials: both None in plaintext."""

    server: ServerTls | None
    client: ClientTls | None

    @property
    def secure(self) -> bool:
        return self.server is not None


def open_transport(settings: TlsSettings, expect: Identity) -> Transport:
    """The credentials of the process ``expect`` names, installed as its client
    credentials; a :class:`SettingsError` when it has none, or a certificate of another
    node, and was not told ``--insecure``."""
    if settings.insecure:
        log.warning(INSECURE_WARNING, expect)
        use_client_tls(None)
        return Transport(None, None)
    if settings.tls_dir is None:
        raise SettingsError(
            f"{expect} has no certificate: give --tls-dir (VCC_TLS_DIR) the directory "
            f"`vcc pki issue --kind {expect.kind} --id {expect.id}` made, or --insecure "
            "for plaintext gRPC",
            field="VCC_TLS_DIR",
        )
    server = ServerTls(settings.tls_dir)
    if server.identity != expect:
        raise SettingsError(
            f"{settings.tls_dir} holds the certificate of {server.identity}, not of {expect}",
            field="VCC_TLS_DIR",
        )
    client = ClientTls(settings.tls_dir)
    use_client_tls(client)
    log.info("gRPC over mutual TLS as %s (%s)", expect, settings.tls_dir)
    return Transport(server, client)
