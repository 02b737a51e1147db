"""The container's health check: is this hub or site process serving gRPC health?

``python -m vcc_ops.healthcheck`` asks the standard gRPC health service on
``127.0.0.1:$VCC_GRPC_PORT`` (default 50051) and exits 0 when it answers SERVING, else 1.
"""

from __future__ import annotations

import asyncio
import os
import sys

from vcc_proto.server import check_health


def main() -> int:
    port = os.environ.get("VCC_GRPC_PORT", "50051")
    ok = asyncio.run(check_health(f"127.0.0.1:{port}", timeout_s=3.0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
