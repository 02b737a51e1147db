"""Cookies and request checks of the desktop pages.

* ``vcc_session``: the site's session token from ``AgentDesk.Login``; HttpOnly,
  SameSite=Strict, Secure when the pages are served over HTTPS.
* ``vcc_person``: the person's session from ``People.SignIn`` (the same flags), used to
  change the initial password before the desk opens and to sign the person out.
* ``vcc_csrf``: the double-submit CSRF value and the Origin check, shared with the hub's
  province console (:mod:`vcc_proto.web`).
"""

from __future__ import annotations

from starlette.responses import Response

from vcc_proto.web import CSRF_COOKIE as CSRF_COOKIE
from vcc_proto.web import CSRF_HEADER as CSRF_HEADER
from vcc_proto.web import check_post as check_post
from vcc_proto.web import ensure_csrf as ensure_csrf
from vcc_proto.web import refused as refused

SESSION_COOKIE = "vcc_session"
PERSON_COOKIE = "vcc_person"  # the person's session (People) while the desk is not open


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
