"""Who is calling: a session cookie (RFC 6265) guarded by a double-submit CSRF token, or a
bearer token (RFC 6750, 2.1). Both carry the same session token.

Browsers get the cookies: ``golive_session`` is HttpOnly and SameSite=Lax so that scripts
cannot read it and other sites cannot send it with their forms; ``golive_csrf`` is random,
readable by the page's own scripts and SameSite=Strict. A state-changing request that rests
on the cookie must echo the CSRF cookie in ``X-CSRF-Token``: another site can make the
browser send cookies, but it can neither read them nor set that header without a CORS
preflight, which this API never grants. A bearer token is not sent by the browser on its
own, so bearer requests need no CSRF token.

After each login the browser also gets a device cookie for that account
(golive.accounts.devices), ``golive_device_<room name>``: one per account, so that people who
share a browser do not replace each other's, HttpOnly, SameSite=Lax, sent only to the login
route (Path=/api/sessions) and kept for :data:`DEVICE_COOKIE_DAYS`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from aiohttp import hdrs, web

from ..accounts.domain import USERNAME_RE, NotAuthenticated, User, room_name
from ..accounts.services import Accounts
from ..http_errors import HttpError

SESSION_COOKIE = "golive_session"
CSRF_COOKIE = "golive_csrf"
CSRF_HEADER = "X-CSRF-Token"
DEVICE_COOKIE_PREFIX = "golive_device_"
DEVICE_COOKIE_PATH = "/api/sessions"
# How long a browser stays trusted for an account without logging in again; defaults to a
# year (each login renews it).
DEVICE_COOKIE_DAYS = 365
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What domain.new_token makes (token_urlsafe); anything else cannot be a session, and
# refusing it early keeps odd bytes (lone surrogates, kilobytes) away from the stores.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str
    via_cookie: bool


def credentials(request: web.Request) -> Credentials | None:
    """The session token the request carries: a bearer token wins over the cookie."""
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    # Other schemes are not ours to judge: a browser sends Basic by itself to a site behind
    # a proxy's password prompt, and that must not hide its session cookie.
    if scheme.lower() == "bearer":  # RFC 9110, 11.1: the scheme is case-insensitive
        token = token.strip()
        if not _TOKEN_RE.fullmatch(token):
            raise NotAuthenticated("send Authorization: Bearer <token> with a session token")
        return Credentials(token, via_cookie=False)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    if not _TOKEN_RE.fullmatch(cookie):
        raise NotAuthenticated("the session has ended; log in again")
    return Credentials(cookie, via_cookie=True)


def check_csrf(request: web.Request) -> None:
    """Double-submit check (OWASP CSRF Prevention Cheat Sheet) for unsafe methods."""
    if request.method not in UNSAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    # Only a value shaped like the tokens this server makes counts: an empty or junk pair
    # proves nothing. Bytes, because compare_digest refuses non-ASCII str; surrogatepass so
    # that no header value, however odd, can raise here.
    if not _TOKEN_RE.fullmatch(cookie) or not hmac.compare_digest(
        cookie.encode("utf-8", "surrogatepass"), header.encode("utf-8", "surrogatepass")
    ):
        raise HttpError(403, "csrf", f"send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}")


def presented(request: web.Request) -> Credentials:
    """The request's credentials, CSRF-checked when they came in a cookie; 401 when none."""
    creds = credentials(request)
    if creds is None:
        raise NotAuthenticated("log in first")
    if creds.via_cookie:
        check_csrf(request)
    return creds


async def current_user(request: web.Request, accounts: Accounts) -> User:
    return await accounts.authenticate(presented(request).token)


def is_secure(request: web.Request) -> bool:
    """Whether the client reached us over https, directly or through a proxy that says so."""
    if request.secure:
        return True
    # A client can forge these, but only to put Secure on its own cookies.
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if proto == "https":
        return True
    forwarded = request.forwarded  # RFC 7239
    return bool(forwarded) and forwarded[0].get("proto", "").lower() == "https"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def set_session_cookies(
    response: web.StreamResponse, request: web.Request, token: str, csrf: str, max_age: int
) -> None:
    secure = is_secure(request)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="Lax",
        secure=secure,
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path="/", samesite="Strict", secure=secure
    )


def clear_session_cookies(response: web.StreamResponse, request: web.Request) -> None:
    # RFC 6265, 3.1: a cookie is removed by setting it again, expired, with the same path.
    secure = is_secure(request)
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=secure)
    response.del_cookie(CSRF_COOKIE, path="/", samesite="Strict", secure=secure)


def device_cookie_name(username: str) -> str | None:
    """The device cookie's name for ``username`` as typed at login; None for a string that
    is no username (no cookie name is made of arbitrary input)."""
    if not USERNAME_RE.fullmatch(username):
        return None
    return DEVICE_COOKIE_PREFIX + room_name(username)


def device_cookie(request: web.Request, username: object) -> str | None:
    """The device cookie the request carries for ``username``, unchecked."""
    name = device_cookie_name(username) if isinstance(username, str) else None
    return request.cookies.get(name) if name else None


def set_device_cookie(
    response: web.StreamResponse, request: web.Request, user: User, value: str
) -> None:
    response.set_cookie(
        DEVICE_COOKIE_PREFIX + user.name, value, max_age=DEVICE_COOKIE_DAYS * 86400,
        path=DEVICE_COOKIE_PATH, httponly=True, samesite="Lax", secure=is_secure(request),
    )  # fmt: skip
