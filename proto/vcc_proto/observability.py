"""Process-wide logging and metrics setup, done once at process start.

Every log line carries the site, call and agent from context variables, and digit runs
that look like phone or account numbers are masked before they are written.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from pathlib import Path

from prometheus_client import start_http_server

from vcc_domain.privacy import mask_numbers_in

site_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_site", default="-")
call_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_call", default="-")
agent_var: contextvars.ContextVar[str] = contextvars.ContextVar("vcc_agent", default="-")

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [site=%(site)s call=%(call_id)s agent=%(agent)s] "
    "%(message)s"
)


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


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Configure the root logger; call once from a process entry point."""
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def start_metrics_server(port: int, host: str = "127.0.0.1") -> None:
    """Expose the default Prometheus registry over HTTP at ``http://host:port/metrics``."""
    start_http_server(port, addr=host)
