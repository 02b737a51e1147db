"""What the hub's province console can be told (``vcc settings`` lists them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcc_proto.settings import SettingsError, setting


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The province console served by the hub process."""

    port: int = setting(
        "VCC_CONSOLE_PORT",
        -1,
        "port of the province console pages (0: any free port; -1: no pages)",
        flag="--console-port",
    )
    tls_cert: str = setting(
        "VCC_CONSOLE_TLS_CERT",
        "",
        "PEM certificate (chain) the console is served with over HTTPS; "
        "empty: plain HTTP, listening on 127.0.0.1 only",
        flag="--console-tls-cert",
    )
    tls_key: str = setting(
        "VCC_CONSOLE_TLS_KEY",
        "",
        "PEM private key of VCC_CONSOLE_TLS_CERT",
        flag="--console-tls-key",
    )
    grpc_tls_dir: Path | None = setting(
        "VCC_CONSOLE_GRPC_TLS_DIR",
        None,
        "certificate directory the console presents to the hub's own gRPC port under mutual "
        "TLS: an operator (ops) identity (`vcc pki issue ops web-hub`); none: plaintext, "
        "when the hub runs --insecure",
        flag="--console-grpc-tls-dir",
        default_text="none",
    )
    drill_reports: Path | None = setting(
        "VCC_CONSOLE_DRILL_REPORTS",
        None,
        "folder of `vcc drill SCENARIO --json FILE` reports the console lists to operations and province "
        "managers (read only); none: no drill reports",
        flag="--console-drill-reports",
        default_text="none",
    )

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError(
                "give both the certificate and its key, or neither", field="VCC_CONSOLE_TLS_KEY"
            )
        if self.port < -1 or self.port > 65535:
            raise SettingsError(f"{self.port} is not a port", field="VCC_CONSOLE_PORT")

    @property
    def enabled(self) -> bool:
        return self.port >= 0

    @property
    def https(self) -> bool:
        return bool(self.tls_cert)
