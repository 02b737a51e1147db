"""What every web page the project serves shares (the sites' desks and wallboards, the
hub's province console): cookies, the CSRF guard, security headers, Server-Sent Events
and serving uvicorn inside a node's own event loop.

* Session cookies are HttpOnly, SameSite=Strict and Secure when served over HTTPS.
* ``vcc_csrf``: a random value the page's script reads and repeats in the ``X-VCC-CSRF``
  header of every POST (double submit). A POST must also come from this origin when the
  browser names one (``Origin``), so a form on another site can neither sign a person in
  nor act for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vcc_domain.errors import ConfigError
from vcc_proto.v1 import people_pb2

CSRF_COOKIE = "vcc_csrf"
CSRF_HEADER = "x-vcc-csrf"
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing a quiet stream
MAX_BODY = 16_384
START_TIMEOUT_S = 10.0

Json = dict[str, Any]


def set_cookie(response: Response, name: str, token: str, https: bool) -> None:
    response.set_cookie(name, token, httponly=True, secure=https, samesite="strict", path="/")


def clear_cookie(response: Response, name: str, https: bool) -> None:
    response.delete_cookie(name, httponly=True, secure=https, samesite="strict", path="/")


def signed_in(reply: people_pb2.SignInReply, cookie: str, https: bool) -> JSONResponse:
    """The answer to a page's sign-in: who signed in (and whether they must change their
    initial password first), the session in the ``cookie``."""
    view = reply.person
    response = JSONResponse(
        {
            "must_change": view.must_change_password,
            "person_id": view.person_id,
            "name": view.name,
            "role": view.role,
        }
    )
    set_cookie(response, cookie, reply.session_token, https)
    return response


def ensure_csrf(request: Request, response: Response, https: bool) -> None:
    """Give the page a CSRF value if it has none."""
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(24),
            httponly=False,
            secure=https,
            samesite="strict",
            path="/",
        )


def refused(code: str, detail: str, status: int, field: str = "") -> JSONResponse:
    """An error the page shows: ``code`` (translated there), the server's ``detail`` and the
    input it is about, if any."""
    return JSONResponse({"error": code, "detail": detail, "field": field}, status_code=status)


def check_post(request: Request) -> JSONResponse | None:
    """None when the POST may go on, else the refusal."""
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            return refused("csrf", f"a request from {origin} is not accepted here", 403)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        return refused("csrf", "reload the page and try again (missing or stale CSRF token)", 403)
    return None


class BodyError(Exception):
    """A request body that cannot be read; ``response`` says why."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


async def json_body(request: Request) -> Json:
    """The request's JSON object (never more than MAX_BODY bytes held)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BodyError(refused("invalid", "request too large", 413))
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise BodyError(refused("invalid", "the body is not JSON", 400)) from None
    if not isinstance(data, dict):
        raise BodyError(refused("invalid", "the body is not a JSON object", 400))
    return data


def sse(events: AsyncIterator[Json]) -> StreamingResponse:
    """A Server-Sent Events answer of ``events`` (a keepalive comment while quiet); the
    stream ends after an event of type ``closed``."""

    async def lines() -> AsyncIterator[str]:
        pending: asyncio.Task[Json] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
                if not done:
                    yield ": keepalive\n\n"
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
                if event.get("type") == "closed":
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending
            close = getattr(events, "aclose", None)
            if close is not None:
                with contextlib.suppress(RuntimeError):
                    await close()

    return StreamingResponse(
        lines(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def queued_lines(
    queue: asyncio.Queue[Json], keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[str]:
    """The event stream's text of the events put in ``queue``, until one of type
    ``closed``; a keepalive comment while quiet. Every event already waiting goes out in
    one piece (one write and one chunk to the page, not one each: hundreds of pages on a
    busy site fall behind together), in order."""
    while True:
        if queue.empty():
            try:
                async with asyncio.timeout(keepalive_s):
                    first = await queue.get()
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
        else:
            first = queue.get_nowait()
        batch = [first]
        while batch[-1].get("type") != "closed" and not queue.empty():
            batch.append(queue.get_nowait())
        yield "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in batch)
        if batch[-1].get("type") == "closed":
            return


SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def with_security_headers(app: ASGIApp) -> ASGIApp:
    """Every answer: scripts and styles from this origin only, never framed."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the node process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int, field: str) -> socket.socket:
    """A listening socket on ``host:port`` (ConfigError naming ``field`` when taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(
            f"the web pages cannot listen on {host}:{port}: {err.strerror}", field=field
        ) from None
    sock.listen(128)
    return sock


async def serve(
    app: ASGIApp, sock: socket.socket, tls_cert: str, tls_key: str, field: str
) -> tuple[QuietServer, asyncio.Task[None]]:
    """Serve ``app`` on ``sock`` (over HTTPS with a certificate) in this event loop; returns
    once it serves (ConfigError naming ``field`` when it cannot)."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=tls_cert or None,
        ssl_keyfile=tls_key or None,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    try:
        config.load()  # reads the certificate and key now, so a bad file stops the start
    except (OSError, ValueError) as err:
        sock.close()
        raise ConfigError(f"the web pages' TLS material: {err}", field=field) from None
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not server.started:  # uvicorn tells nothing else once it serves the socket
        if task.done() or loop.time() > deadline:
            server.should_exit = True
            sock.close()
            raise ConfigError(f"the web pages did not start on {host}:{port}", field=field)
        await asyncio.sleep(0.02)
    return server, task
