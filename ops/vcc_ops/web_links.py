"""The web pages a local province starts (``vcc up``, ``vcc demo``): each site's agent
desktop and wallboard, and the hub's province console.

Each site process serves its pages on a port chosen here (``--web-port``), plain HTTP on
127.0.0.1 (a certificate and key for HTTPS are the ``--web-tls-*`` options). Under the
launcher's mutual TLS the pages reach their site's gRPC port as an operator gateway
(``ops/web-<SITE>``, issued from the launcher's PKI), since a site's own certificate may
not act as a desk; the hub's console likewise as ``ops/web-hub``. The launcher records
the URL with the node; the start message shows it. The console lists the drill reports
filed in the workdir's ``drill-reports`` folder (``vcc drill ... --json`` into it).
"""

from __future__ import annotations

from pathlib import Path

from vcc_ops.infra.ports import HOST, free_port
from vcc_ops.launch_tls import LaunchTls
from vcc_proto import pki

DRILL_REPORTS = "drill-reports"  # the workdir's folder of drill reports the console lists


def web_args(site_id: str, tls: LaunchTls | None) -> tuple[list[str], str]:
    """The site options serving the pages, and their URL."""
    port = free_port()
    args = ["--web-port", str(port)]
    if tls is not None:
        gateway = tls.certificate(pki.identity("ops", f"web-{site_id}"))
        args += ["--web-grpc-tls-dir", str(gateway)]
    return args, f"http://{HOST}:{port}/"


def console_args(tls: LaunchTls | None, drill_reports: Path | None = None) -> tuple[list[str], str]:
    """The hub options serving the province console (listing the drill reports filed in
    ``drill_reports``), and its URL."""
    port = free_port()
    args = ["--console-port", str(port)]
    if drill_reports is not None:
        drill_reports.mkdir(parents=True, exist_ok=True)
        args += ["--console-drill-reports", str(drill_reports)]
    if tls is not None:
        gateway = tls.certificate(pki.identity("ops", "web-hub"))
        args += ["--console-grpc-tls-dir", str(gateway)]
    return args, f"http://{HOST}:{port}/"


def desktop_lines(nodes: list[tuple[str, str]]) -> list[str]:
    """``agent desktop KM: http://...``, ``team leader wallboard KM: http://.../board``,
    the quality inspector's ``.../quality`` and the schedule's ``.../schedule`` for every site (node name, web URL) with pages, ``province console: http://...`` for
    the hubs."""
    lines = []
    for name, url in nodes:
        if url and name.startswith("hub"):
            lines.append(f"province console ({name}): {url}")
        elif url:
            site = name.removeprefix("site-")
            lines += [f"agent desktop {site}: {url}", f"team leader wallboard {site}: {url}board"]
            lines += [f"quality inspection {site}: {url}quality", f"schedule {site}: {url}schedule"]
    return lines
