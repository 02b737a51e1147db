"""Process-wide logging and metrics setup, done once at process start.

Every log line carries the site, call and agent from context variables, and digit runs
that look like phone or account numbers are masked before they are written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import start_http_server

from vcc_domain.errors import ConfigError
from vcc_domain.privacy import mask_numbers_in

site_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_site", default="-")
call_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_call", default="-")
agent_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_agent", default="-")

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [site=%(site)s call=%(call_id)s agent=%(agent)s] "
    "%(message)s"
)


LOG_FORMATS = ("text", "json")


@contextmanager
def call_context(call_id: str, agent_id: str = "", site: str = "") -> Iterator[None]:
    """Log lines written inside the block carry ``call_id`` (and ``agent_id``, and the
    ``site`` whose work it is, when given)."""
    tokens = [(call_var, call_var.set(call_id or "-"))]
    if agent_id:
        tokens.append((agent_var, agent_var.set(agent_id)))
    if site:
        tokens.append((site_var, site_var.set(site)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Stamps site/call/agent from context variables and masks customer numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.site = site_var.get()
        record.call_id = call_var.get()
        record.agent = agent_var.get()
        message = record.getMessage()
        masked = mask_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, site, call_id, agent, msg (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "site": getattr(record, "site", "-"),
            "call_id": getattr(record, "call_id", "-"),
            "agent": getattr(record, "agent", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = mask_numbers_in(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", log_file: Path | None = None, log_format: str = "text"
) -> None:
    """Configure the root logger; call once from a process entry point.

    ``log_format`` is ``text`` (:data:`LOG_FORMAT`) or ``json`` (:class:`JsonFormatter`)."""
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"log format must be one of {LOG_FORMATS}, not {log_format!r}", field="--log-format"
        )
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def start_metrics_server(port: int, host: str = "127.0.0.1") -> None:
    """Expose the default Prometheus registry over HTTP at ``http://host:port/metrics``."""
    start_http_server(port, addr=host)
