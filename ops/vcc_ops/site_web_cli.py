"""``vcc site-web``: a site's agent desktop and team leader pages in a process of their
own, a gRPC client of the site (``--site-grpc``) like any desktop.

A site node starts this gateway itself as its child by default (``VCC_WEB_PROCESS=own``
with ``--web-port``); this command runs one by hand, beside a site started without pages
or on another machine::

    vcc site-web --site KM --site-grpc 10.0.0.5:50051 --web-port 8443 \\
        --web-tls-cert web.pem --web-tls-key web.key --web-grpc-tls-dir pki/ops/web-KM

Under mutual TLS it presents an operator gateway certificate (``vcc pki issue ops
web-KM``); SIGTERM or Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from vcc_ops.settings_cli import settings_options, take_flags
from vcc_proto.observability import configure_logging
from vcc_proto.settings import load
from vcc_site.web.settings import WebSettings


@click.command("site-web")
@click.option("--site", "site_id", envvar="VCC_SITE", required=True, help="Site ID, e.g. KM.")
@click.option(
    "--site-grpc",
    envvar="VCC_WEB_SITE_GRPC",
    required=True,
    help="The site's gRPC address, host:port.",
)
@click.option(
    "--province",
    "province_file",
    envvar="VCC_PROVINCE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Province file (TOML). Default: the shipped example province.",
)
@click.option(
    "--host",
    envvar="VCC_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address HTTPS listens on (plain HTTP: 127.0.0.1 only).",
)
@click.option(
    "--advertise-host",
    envvar="VCC_ADVERTISE_HOST",
    default="",
    help="Host name the pages' URL shows. Default: --host.",
)
@click.option(
    "--log-file",
    envvar="VCC_LOG_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write logs here instead of stderr.",
)
@click.option("--log-level", envvar="VCC_LOG_LEVEL", default="INFO", show_default=True)
@click.option(
    "--log-format",
    envvar="VCC_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@settings_options(WebSettings)
def site_web(**kw: Any) -> None:
    """Serve a site's pages in their own process until SIGTERM or Ctrl-C (prints the URL)."""
    from vcc_ops.cli import example_province_path
    from vcc_proto.nodeconfig import TimeSettings
    from vcc_site.web.gateway import GatewayConfig, announce_on_stdout, run_gateway

    web = load(WebSettings, flags=take_flags(WebSettings, kw))
    config = GatewayConfig(
        site_id=kw["site_id"],
        province_file=kw["province_file"] or example_province_path(),
        site_grpc=kw["site_grpc"],
        host=kw["host"],
        advertise_host=kw["advertise_host"],
        speed=load(TimeSettings).speed,
        log_level=kw["log_level"],
        log_file=kw["log_file"],
        log_format=kw["log_format"],
    )
    configure_logging(config.log_level, config.log_file, config.log_format)
    asyncio.run(run_gateway(config, web, announce_on_stdout))
