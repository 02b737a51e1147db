"""Serving the province console from the hub process: uvicorn in the hub's event loop.

Over HTTPS when a certificate and key are configured (listening where the hub's gRPC
listens), else plain HTTP on 127.0.0.1 only: a password never crosses a network in
clear. The pages reach the hub through its own gRPC port, as any client would; under
mutual TLS with an operator certificate (``ops/web-hub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from vcc_domain.errors import ConfigError
from vcc_domain.province import Province
from vcc_hub.web.app import ConsolePages, create_app
from vcc_hub.web.client import HubClient
from vcc_hub.web.settings import ConsoleSettings
from vcc_hub.web.views import ConsoleFacts
from vcc_proto import web
from vcc_proto.server import free_tcp_port
from vcc_proto.tls import ClientTls

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
FIELD = "--console-port"


@dataclass
class ConsoleServer:
    url: str
    client: HubClient
    server: web.QuietServer
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.client.close()


def console_tls(settings: ConsoleSettings, secure: bool) -> ClientTls | None:
    """What the console presents to the hub's gRPC port: nothing in plaintext, else its
    operator certificate (the hub's own may not act for a person)."""
    if not secure:
        return None
    if settings.grpc_tls_dir is None:
        raise ConfigError(
            "the hub's gRPC port requires mutual TLS: give the console an operator "
            "certificate to reach it with (--console-grpc-tls-dir; `vcc pki issue ops web-hub`)",
            field="VCC_CONSOLE_GRPC_TLS_DIR",
        )
    return ClientTls(settings.grpc_tls_dir)


async def start_console(
    settings: ConsoleSettings,
    province: Province,
    grpc_host: str,
    grpc_port: int,
    advertise_host: str = "",
    grpc_tls: ClientTls | None = None,
) -> ConsoleServer:
    """Serve the console, a client of the hub's gRPC port ``grpc_host:grpc_port``."""
    bind = grpc_host if settings.https else LOOPBACK
    port = settings.port or free_tcp_port(bind)
    sock = web.listen(bind, port, FIELD)
    target = f"{LOOPBACK if grpc_host in ('', '0.0.0.0', '::') else grpc_host}:{grpc_port}"
    client = HubClient(target, grpc_tls)
    facts = ConsoleFacts(
        {s.id: s.name for s in province.sites}, settings.https, settings.drill_reports
    )
    try:
        server, task = await web.serve(
            create_app(ConsolePages(client, facts)),
            sock,
            settings.tls_cert,
            settings.tls_key,
            FIELD,
        )
    except ConfigError:
        await client.close()
        raise
    scheme = "https" if settings.https else "http"
    shown = LOOPBACK if bind == LOOPBACK else (advertise_host or bind)
    url = f"{scheme}://{shown}:{port}/"
    log.info("province console at %s", url)
    return ConsoleServer(url, client, server, task)
