"""What the site's web pages can be told (``vcc settings`` lists them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcc_proto.settings import SettingsError, setting

OWN_PROCESS = "own"  # a child process of the site, supervised by it (another core)
IN_SITE = "site"  # the site's own event loop
PROCESSES = (OWN_PROCESS, IN_SITE)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The agent desktop and team leader pages a site serves."""

    port: int = setting(
        "VCC_WEB_PORT",
        -1,
        "port of the agent desktop pages (0: any free port; -1: no web pages)",
        flag="--web-port",
    )
    tls_cert: str = setting(
        "VCC_WEB_TLS_CERT",
        "",
        "PEM certificate (chain) the pages are served with over HTTPS; "
        "empty: plain HTTP, listening on 127.0.0.1 only",
        flag="--web-tls-cert",
    )
    tls_key: str = setting(
        "VCC_WEB_TLS_KEY", "", "PEM private key of VCC_WEB_TLS_CERT", flag="--web-tls-key"
    )

    talk_target_s: int = setting(
        "VCC_WEB_TALK_TARGET_S",
        150,
        "an agent's talk time target, seconds: the desk shows the agent's average against "
        "it and the team leader's console warns of a call talked longer",
        flag="--web-talk-target-s",
    )

    grpc_tls_dir: Path | None = setting(
        "VCC_WEB_GRPC_TLS_DIR",
        None,
        "certificate directory the pages present to the site's own gRPC port under mutual "
        "TLS: an operator (ops) identity, the gateway desktops sign in through "
        "(`vcc pki issue ops web-KM`); none: plaintext, when the site runs --insecure",
        flag="--web-grpc-tls-dir",
        default_text="none",
    )

    process: str = setting(
        "VCC_WEB_PROCESS",
        OWN_PROCESS,
        "where the pages run: own (a gateway process the site starts, supervises and "
        "stops with itself; the pages' HTTP, event streams and gRPC calls use another "
        "core) or site (in the site's own event loop)",
        flag="--web-process",
    )

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError(
                "give both the certificate and its key, or neither", field="VCC_WEB_TLS_KEY"
            )
        if self.talk_target_s < 1:
            raise SettingsError("must be at least 1 second", field="VCC_WEB_TALK_TARGET_S")
        if self.port < -1 or self.port > 65535:
            raise SettingsError(f"{self.port} is not a port", field="VCC_WEB_PORT")
        if self.process not in PROCESSES:
            raise SettingsError(
                f"{self.process!r} is not one of {', '.join(PROCESSES)}", field="VCC_WEB_PROCESS"
            )

    @property
    def enabled(self) -> bool:
        return self.port >= 0

    @property
    def own_process(self) -> bool:
        return self.process == OWN_PROCESS

    @property
    def https(self) -> bool:
        return bool(self.tls_cert)
