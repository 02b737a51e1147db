"""Where a site serves its pages: in a gateway process of their own (the default), or in
the site's own event loop (``VCC_WEB_PROCESS=site``)."""

from __future__ import annotations

import os
from dataclasses import replace

from vcc_domain.clock import Clock
from vcc_domain.province import Province
from vcc_proto.nodeconfig import NodeConfig
from vcc_site.web.child import GatewayChild, start_gateway
from vcc_site.web.gateway import GatewayConfig
from vcc_site.web.server import (
    WebServer,
    gateway_tls,
    grpc_target,
    page_facts,
    start_web,
)
from vcc_site.web.settings import WebSettings

SitePages = WebServer | GatewayChild  # both: ``url`` and ``await stop()``


async def start_site_pages(
    config: NodeConfig,
    site_id: str,
    province: Province,
    clock: Clock,
    web: WebSettings,
    grpc_port: int,
    secure: bool,
) -> SitePages | None:
    """The agent desktop pages, a client of the site's gRPC port on ``grpc_port`` (None: not
    asked for); ``secure``: the port requires mutual TLS, so the pages present their
    gateway's certificate."""
    if not web.enabled:
        return None
    target = grpc_target(config.host, grpc_port)
    grpc_tls = gateway_tls(web, secure)  # a missing certificate stops the site here
    if web.own_process:
        gateway = gateway_config(config, site_id, clock, target)
        return await start_gateway(gateway, resolved(web, secure))
    facts = page_facts(province, site_id, clock, web.https, web.talk_target_s)
    return await start_web(web, facts, target, config.host, config.advertise_host, grpc_tls)


def gateway_config(config: NodeConfig, site_id: str, clock: Clock, target: str) -> GatewayConfig:
    """The gateway process of this site (which its parent-death signal follows)."""
    speed = getattr(clock, "speed", 1.0)
    return GatewayConfig(
        site_id=site_id,
        province_file=config.province_file,
        site_grpc=target,
        host=config.host,
        advertise_host=config.advertise_host,
        speed=float(speed) if isinstance(speed, int | float) else 1.0,
        parent_pid=os.getpid(),
        log_level=config.log_level,
        log_file=config.log_file,
        log_format=config.log_format,
    )


def resolved(web: WebSettings, secure: bool) -> WebSettings:
    """``web`` as the gateway process takes it: no certificate toward a plaintext gRPC
    port."""
    return web if secure else replace(web, grpc_tls_dir=None)
