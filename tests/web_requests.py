"""Starlette requests as a page sends them (cookies, the CSRF header, a JSON body), for
the web handlers' unit tests."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

CSRF = "csrf-value"


def page_request(
    method: str,
    body: dict[str, Any] | None = None,
    *,
    cookies: dict[str, str] | None = None,
    csrf: bool = True,
    path: str = "/",
    query: str = "",
    params: dict[str, str] | None = None,
) -> Request:
    """A request with the CSRF cookie, ``cookies``, the CSRF header unless not ``csrf``,
    and ``body`` as JSON."""
    pairs = [f"vcc_csrf={CSRF}"] + [f"{k}={v}" for k, v in (cookies or {}).items()]
    headers = [(b"cookie", "; ".join(pairs).encode()), (b"host", b"127.0.0.1:8443")]
    if csrf:
        headers.append((b"x-vcc-csrf", CSRF.encode()))
    raw = json.dumps(body or {}).encode()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {
        "type": "http", "method": method, "path": path, "query_string": query.encode(),
        "headers": headers, "scheme": "https", "server": ("127.0.0.1", 8443),
        "path_params": params or {},
    }  # fmt: skip
    return Request(scope, receive)
