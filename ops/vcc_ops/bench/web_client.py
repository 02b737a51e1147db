"""A small HTTP/1.1 client for the web bench: what one agent desktop page sends and reads.

The bench opens hundreds of pages from one process, so each page is two plain asyncio
connections to the site's pages (``http://127.0.0.1:port``): one kept alive for its JSON
POSTs (with the cookies the pages set and the double-submit CSRF value, as the page's
script sends them) and one reading ``GET /api/events`` (Server-Sent Events, a chunked
response). Enough HTTP for that and no more: no redirects, no TLS, no compression.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

MAX_LINE = 65_536


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('error', '')} {body.get('detail', '')}")
        self.status, self.body = status, body


async def _head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers of a response (names lower-cased)."""
    status_line = await reader.readuntil(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
    headers: list[tuple[str, str]] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            return int(parts[1]), headers
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The chunks of a chunked body, until the last."""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


class Page:
    """One browser tab of the agent desktop at ``url`` (``http://host:port/``)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.csrf = secrets.token_urlsafe(16)
        self.cookies: dict[str, str] = {"vcc_csrf": self.csrf}
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if "max-age=0" in value.lower() or "expires=thu, 01 jan 1970" in value.lower():
                    self.cookies.pop(key.strip(), None)
                else:
                    self.cookies[key.strip()] = val.strip().strip('"')

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
        return self._conn

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A JSON POST as the page's script sends it; the JSON answer (HttpError if not
        2xx)."""
        data = json.dumps(body or {}).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"X-VCC-CSRF: {self.csrf}\r\nCookie: {self._cookie_header()}\r\n\r\n"
        ).encode() + data
        async with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                reader, writer = await self._open()
                try:
                    writer.write(request)
                    status, headers = await _head(reader)
                    length = int(dict(headers).get("content-length", "0"))
                    raw = await reader.readexactly(length)
                    break
                except (OSError, asyncio.IncompleteReadError) as err:
                    await self.close()
                    # the server closed an idle kept-alive connection before this request
                    # (as browsers do, send it again once on a new connection)
                    stale = isinstance(err, asyncio.IncompleteReadError) and not err.partial
                    if not (reused and stale and attempt == 1):
                        raise
        self._keep(headers)
        answer: dict[str, Any] = json.loads(raw or b"{}")
        if not 200 <= status < 300:
            raise HttpError(status, answer)
        return answer

    async def events(self, path: str = "/api/events") -> AsyncIterator[dict[str, Any]]:
        """The page's Server-Sent Events, parsed, until the stream ends."""
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
        try:
            writer.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Accept: text/event-stream\r\nCookie: {self._cookie_header()}\r\n\r\n"
                ).encode()
            )
            status, headers = await _head(reader)
            if status != 200:
                raise HttpError(status, {})
            if dict(headers).get("transfer-encoding", "") != "chunked":
                raise ConnectionError("the event stream is not chunked")
            buffer = b""
            async for chunk in _chunks(reader):
                buffer += chunk
                while b"\n\n" in buffer:
                    message, buffer = buffer.split(b"\n\n", 1)
                    lines = [ln[5:].strip() for ln in message.split(b"\n") if ln[:5] == b"data:"]
                    if lines:
                        yield json.loads(b"\n".join(lines))
        finally:
            writer.close()

    async def close(self) -> None:
        if self._conn is not None:
            _, writer = self._conn
            self._conn = None
            writer.close()
