"""A stand-in site for the web gateway's tests: starts the gateway as its child exactly
as a site node does (:func:`vcc_site.web.child.start_gateway`), prints ``<pid> <url>``,
and stops it on SIGTERM. The pages point at a gRPC port nobody serves: the sign-in page
is served without the site.

Usage: gateway_parent.py PROVINCE_FILE
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from vcc_site.web.child import start_gateway
from vcc_site.web.gateway import GatewayConfig
from vcc_site.web.settings import WebSettings


async def main(province: Path) -> None:
    config = GatewayConfig(
        site_id="KM", province_file=province, site_grpc="127.0.0.1:1", parent_pid=os.getpid()
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    child = await start_gateway(config, WebSettings(port=0))
    print(child.pid, child.url, flush=True)
    await stop.wait()
    await child.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
