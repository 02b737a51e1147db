"""The container's health check: is this hub, site or edge process serving gRPC health?

``python -m vcc_ops.healthcheck`` asks the standard gRPC health service on
``127.0.0.1:$VCC_GRPC_PORT`` (default 50051) and exits 0 when it answers SERVING, else 1.
With ``VCC_TLS_DIR`` (the process's own certificate directory) it asks over mutual TLS,
presenting the node's certificate; the server's name is checked against the address
``127.0.0.1`` if the certificate lists it, else against its first DNS name.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from vcc_proto import pki
from vcc_proto.server import check_health
from vcc_proto.tls import ClientTls

LOCAL = "127.0.0.1"


def own_tls(directory: Path) -> ClientTls:
    """Credentials to call this process with its own certificate."""
    dns, ips = pki.sans_of(pki.read_cert(directory / pki.NODE_CERT))
    server_name = None if LOCAL in ips or not dns else dns[0]
    return ClientTls(directory, server_name=server_name)


def main() -> int:
    port = os.environ.get("VCC_GRPC_PORT", "50051")
    tls_dir = os.environ.get("VCC_TLS_DIR", "").strip()
    try:
        tls = own_tls(Path(tls_dir)) if tls_dir else None
    except (OSError, pki.PkiError) as err:
        print(f"healthcheck: {err}", file=sys.stderr)
        return 1
    ok = asyncio.run(check_health(f"{LOCAL}:{port}", timeout_s=3.0, tls=tls))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
