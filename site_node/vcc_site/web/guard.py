"""Cookies and request checks of the desktop pages.

* ``vcc_session``: the site's session token from ``AgentDesk.Login``; HttpOnly,
  SameSite=Strict, Secure when the pages are served over HTTPS.
* ``vcc_person``: the person's session from ``People.SignIn`` (the same flags), used to
  change the initial password before the desk opens and to sign the person out.
* ``vcc_csrf``: a random value the page's script reads and repeats in the
  ``X-VCC-CSRF`` header of every POST (double submit). A POST must also come from this
  origin when the browser names one (``Origin``), so a form on another site can neither
  sign an agent in nor act for one.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SESSION_COOKIE = "vcc_session"
PERSON_COOKIE = "vcc_person"  # the person's session (People) while the desk is not open
CSRF_COOKIE = "vcc_csrf"
CSRF_HEADER = "x-vcc-csrf"


def set_session(response: Response, token: str, https: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=https, samesite="strict", path="/"
    )


def set_person(response: Response, token: str, https: bool) -> None:
    response.set_cookie(
        PERSON_COOKIE, token, httponly=True, secure=https, samesite="strict", path="/"
    )


def clear_session(response: Response, https: bool) -> None:
    for name in (SESSION_COOKIE, PERSON_COOKIE):
        response.delete_cookie(name, httponly=True, secure=https, samesite="strict", path="/")


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
    """An error the page shows: ``code`` (translated there), the site's ``detail`` and the
    input it is about, if any (``fields.question``)."""
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
