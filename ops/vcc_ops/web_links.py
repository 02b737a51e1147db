"""The agent desktop pages of the sites a local province starts (``vcc up``, ``vcc demo``).

Each site process serves its pages on a port chosen here (``--web-port``): plain HTTP on
127.0.0.1, or HTTPS with a certificate and key given (``tls``). The launcher records the
URL with the node (``vcc status`` and the start message show it).
"""

from __future__ import annotations

from pathlib import Path

from vcc_ops.infra.ports import HOST, free_port


def web_args(tls: tuple[Path, Path] | None = None) -> tuple[list[str], str]:
    """The site options serving the pages and their URL; ``tls``: (certificate, key)."""
    port = free_port()
    args = ["--web-port", str(port)]
    if tls is None:
        return args, f"http://{HOST}:{port}/"
    cert, key = tls
    return [
        *args,
        "--web-tls-cert",
        str(cert),
        "--web-tls-key",
        str(key),
    ], f"https://{HOST}:{port}/"


def desktop_lines(nodes: list[tuple[str, str]]) -> list[str]:
    """``agent desktop KM: http://...`` for every (node name, web URL) with pages."""
    return [f"agent desktop {name.removeprefix('site-')}: {url}" for name, url in nodes if url]
