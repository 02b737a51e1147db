"""Serving the agent desktop from the site process: uvicorn in the site's event loop.

Over HTTPS when a certificate and key are configured (listening where the site's gRPC
listens), else plain HTTP on 127.0.0.1 only: a password never crosses a network in
clear. The pages reach the site through its gRPC port on loopback, as any desktop would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from vcc_domain.clock import Clock, wall_seconds
from vcc_domain.errors import ConfigError
from vcc_domain.province import Business, Province
from vcc_domain.workorders import FEEDBACK_FIELDS
from vcc_proto import web
from vcc_proto.server import free_tcp_port
from vcc_proto.tls import ClientTls
from vcc_site.web.app import DeskPages, PageFacts, create_app
from vcc_site.web.board import BoardPages
from vcc_site.web.client import DeskClient
from vcc_site.web.desk_extra import DeskExtras
from vcc_site.web.handover import HandoverPages
from vcc_site.web.qa_client import QualityClient
from vcc_site.web.qa_pages import QaPages
from vcc_site.web.settings import WebSettings

log = logging.getLogger(__name__)

# the agents' own targets the desk and the console show (ring and after-call work are the
# province's ring-no-answer and wrap-up limits)
TALK_TARGET_S = 150
TRANSFER_TARGET_PCT = 3
LOOPBACK = "127.0.0.1"


@dataclass
class WebServer:
    url: str
    pages: DeskPages
    server: web.QuietServer
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.pages.feeds.close()  # ends the pages' event streams first
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.pages.client.close()


def page_facts(
    province: Province, site_id: str, clock: Clock, https: bool, talk_s: int = TALK_TARGET_S
) -> PageFacts:
    site = province.site(site_id)
    return PageFacts(
        site_id=site_id,
        site_name=site.name,
        sites=[{"id": s.id, "name": s.name} for s in province.sites],
        businesses=[
            {
                "id": b.id,
                "name": b.name,
                "sites": list(b.accepting_sites),
                "form": form_of(b),
                "qa_form": qa_form_of(b),
            }
            for b in province.businesses
        ],
        wrapup_ms=round(wall_seconds(clock, province.routing.wrapup_s) * 1000),
        https=https,
        kpi={
            "ring_s": province.routing.ring_timeout_s,
            "acw_s": province.routing.wrapup_s,
            "talk_s": talk_s,
            "transfer_pct": TRANSFER_TARGET_PCT,
        },
    )


def form_of(business: Business) -> list[str]:
    """The fields an agent fills in to open an order of ``business`` (none: no form)."""
    spec = business.work_order
    return [f for f in spec.fields if f not in FEEDBACK_FIELDS] if spec is not None else []


def qa_form_of(business: Business) -> list[dict[str, str | int]]:
    """The inspectors' scoring form of ``business``: its items and their maximum points
    (none: its calls are not inspected)."""
    form = business.quality_form
    if form is None:
        return []
    return [{"id": i.id, "name": i.name, "max": i.max_points} for i in form.items]


def gateway_tls(settings: WebSettings, secure: bool) -> ClientTls | None:
    """What the pages present to the site's gRPC port: nothing in plaintext, else their
    gateway certificate (the site's own would be refused: sites may not act as desks)."""
    if not secure:
        return None
    if settings.grpc_tls_dir is None:
        raise ConfigError(
            "the site's gRPC port requires mutual TLS: give the pages an operator "
            "certificate to reach it with (--web-grpc-tls-dir; `vcc pki issue ops web-<SITE>`)",
            field="VCC_WEB_GRPC_TLS_DIR",
        )
    return ClientTls(settings.grpc_tls_dir)


def grpc_target(host: str, port: int) -> str:
    """The site's gRPC port as seen from its own process."""
    return f"{LOOPBACK if host in ('', '0.0.0.0', '::') else host}:{port}"


async def start_web(
    settings: WebSettings,
    facts: PageFacts,
    grpc_endpoint: str,
    host: str,
    advertise_host: str = "",
    grpc_tls: ClientTls | None = None,
) -> WebServer:
    """Serve the pages; ``host``: where the site listens and ``advertise_host`` how it is
    reached (both used only with HTTPS)."""
    bind = host if settings.https else LOOPBACK
    port = settings.port or free_tcp_port(bind)
    sock = web.listen(bind, port, "--web-port")
    pages = DeskPages(DeskClient(grpc_endpoint, grpc_tls), facts)
    more = [*BoardPages(pages).routes(), *HandoverPages(pages).routes()]
    more += QaPages(pages, QualityClient(pages.client.channel)).routes()
    app = create_app(pages, [*more, *DeskExtras(pages).routes()])
    try:
        server, task = await web.serve(
            app, sock, settings.tls_cert, settings.tls_key, "VCC_WEB_TLS_CERT"
        )
    except ConfigError:
        await pages.client.close()
        raise
    scheme = "https" if settings.https else "http"
    shown = LOOPBACK if bind == LOOPBACK else (advertise_host or bind)
    url = f"{scheme}://{shown}:{port}/"
    log.info("agent desktop at %s", url)
    return WebServer(url, pages, server, task)
