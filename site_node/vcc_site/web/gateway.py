"""The site's web gateway in a process of its own: the agent desktop and the team leader
pages, a pure gRPC client of their site (as any desktop would be).

``vcc site-web`` runs one by hand. A site node serving its pages in their own process
(``VCC_WEB_PROCESS=own``, the default) starts it as its child (:mod:`vcc_site.web.child`)
with ``python -m vcc_site.web.gateway`` and everything in the environment
(:func:`child_env`): the site's own variables are not re-read, the values the site
resolved from its flags and environment are handed over.

The gateway stops cleanly on SIGTERM or SIGINT. Once it serves it writes the line
``agent desktop at <url>`` to its standard output (the site waits for it). Started by a
site (``VCC_WEB_PARENT_PID``), it dies with that site (see :func:`die_with_parent`).
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vcc_domain.errors import ConfigError, VccError
from vcc_domain.province import load_province_file
from vcc_proto.nodeconfig import TimeSettings
from vcc_proto.observability import configure_logging, site_var
from vcc_proto.server import install_stop_signals
from vcc_proto.settings import load, spec_of
from vcc_proto.tls import ClientTls
from vcc_site.web.server import page_facts, start_web
from vcc_site.web.settings import WebSettings

READY = "agent desktop at "  # the line's start on standard output once the pages serve
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What the gateway needs beyond :class:`WebSettings`, each a ``VCC_*`` variable."""

    site_id: str  # VCC_SITE
    province_file: Path  # VCC_PROVINCE
    site_grpc: str  # VCC_WEB_SITE_GRPC: the site's gRPC address, host:port
    host: str = "127.0.0.1"  # VCC_HOST: where HTTPS listens (plain HTTP: 127.0.0.1 only)
    advertise_host: str = ""  # VCC_ADVERTISE_HOST: how HTTPS is reached (the URL shown)
    speed: float = 1.0  # VCC_TIME_SPEED: province time's speed-up (``vcc demo``)
    parent_pid: int = 0  # VCC_WEB_PARENT_PID: the site that started it; 0: by hand
    log_level: str = "INFO"  # VCC_LOG_LEVEL
    log_file: Path | None = None  # VCC_LOG_FILE
    log_format: str = "text"  # VCC_LOG_FORMAT


VARIABLES = {
    "site_id": "VCC_SITE",
    "province_file": "VCC_PROVINCE",
    "site_grpc": "VCC_WEB_SITE_GRPC",
    "host": "VCC_HOST",
    "advertise_host": "VCC_ADVERTISE_HOST",
    "speed": "VCC_TIME_SPEED",
    "parent_pid": "VCC_WEB_PARENT_PID",
    "log_level": "VCC_LOG_LEVEL",
    "log_file": "VCC_LOG_FILE",
    "log_format": "VCC_LOG_FORMAT",
}
REQUIRED = ("site_id", "province_file", "site_grpc")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def child_env(config: GatewayConfig, web: WebSettings) -> dict[str, str]:
    """The variables that hand ``config`` and ``web`` to a gateway process."""
    env = {VARIABLES[f.name]: _text(getattr(config, f.name)) for f in dataclasses.fields(config)}
    for f in dataclasses.fields(web):
        spec = spec_of(f)
        if spec is not None:
            env[spec.env] = _text(getattr(web, f.name))
    return env


def from_env(env: Mapping[str, str]) -> tuple[GatewayConfig, WebSettings]:
    """The gateway's configuration from ``env`` (ConfigError naming a missing or bad
    variable)."""
    for name in REQUIRED:
        if not env.get(VARIABLES[name], "").strip():
            raise ConfigError("the web gateway needs this variable", field=VARIABLES[name])
    raw = {name: env.get(var, "").strip() for name, var in VARIABLES.items()}
    config = GatewayConfig(
        site_id=raw["site_id"],
        province_file=Path(raw["province_file"]),
        site_grpc=raw["site_grpc"],
        host=raw["host"] or "127.0.0.1",
        advertise_host=raw["advertise_host"],
        speed=float(_number(raw["speed"] or "1", "speed")),
        parent_pid=int(_number(raw["parent_pid"] or "0", "parent_pid")),
        log_level=raw["log_level"] or "INFO",
        log_file=Path(raw["log_file"]) if raw["log_file"] else None,
        log_format=raw["log_format"] or "text",
    )
    return config, load(WebSettings, env)


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a number", field=VARIABLES[name]) from None
    if name == "parent_pid" and value != int(value):
        raise ConfigError(f"{text!r} is not a process ID", field=VARIABLES[name])
    return value


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the thread that started it ends (Linux's
    parent-death signal; elsewhere nothing). Exits at once if that parent is already
    gone: the signal would never come."""
    if sys.platform.startswith("linux"):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        raise SystemExit("the web gateway's site is gone")


async def run_gateway(
    config: GatewayConfig, web: WebSettings, announce: Callable[[str], None] | None = None
) -> None:
    """Serve the pages until SIGTERM or SIGINT; ``announce``: told the URL once they serve."""
    if not web.enabled:
        raise ConfigError("give the pages' port (0: any free port)", field="VCC_WEB_PORT")
    province = load_province_file(config.province_file)
    if config.site_id not in {s.id for s in province.sites}:
        raise ConfigError(f"no site {config.site_id!r} in the province", field="VCC_SITE")
    site_var.set(config.site_id)
    clock = TimeSettings(speed=config.speed).clock()
    facts = page_facts(province, config.site_id, clock, web.https, web.talk_target_s)
    grpc_tls = ClientTls(web.grpc_tls_dir) if web.grpc_tls_dir is not None else None
    stop = asyncio.Event()
    install_stop_signals(stop)
    server = await start_web(
        web, facts, config.site_grpc, config.host, config.advertise_host, grpc_tls
    )
    try:
        if announce is not None:
            announce(server.url)
        await stop.wait()
    finally:
        await server.stop()


def announce_on_stdout(url: str) -> None:
    print(f"{READY}{url}", flush=True)


def main(env: Mapping[str, str] | None = None) -> None:
    """``python -m vcc_site.web.gateway``: the gateway configured by the environment."""
    try:
        config, web = from_env(os.environ if env is None else env)
        if config.parent_pid:
            die_with_parent(config.parent_pid)
        configure_logging(config.log_level, config.log_file, config.log_format)
        asyncio.run(run_gateway(config, web, announce_on_stdout))
    except VccError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
