"""The one place where failures become HTTP answers, for the JSON API and the nginx-rtmp
callbacks: the error middleware of both sub-applications.

Every error body has the one shape of golive.http_errors, the ``Error`` schema of the OpenAPI
document. Domain errors map to statuses by the table below (RFC 9110, 15.5); aiohttp's own
HTTP errors (no route, wrong method, too large) are re-dressed in the same shape; anything
else is a bug: it is logged and answered with a JSON 500 that reveals nothing about it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..accounts.domain import (
    DomainError,
    EmailTaken,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    RoomAlreadyLive,
    UnknownStreamKey,
    UsernameTaken,
    WrongCredentials,
)
from ..http_errors import HttpError, error_response, http_error_response
from ..logs import escape_for_log

log = logging.getLogger("golive.api")

STATUS: Mapping[type[DomainError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    WrongCredentials: 401,
    UnknownStreamKey: 401,
    NotFound: 404,
    UsernameTaken: 409,
    EmailTaken: 409,
    RoomAlreadyLive: 409,
    RateLimited: 429,
}

# aiohttp raises these itself (routing, body size). The codes are spelled here rather than
# taken from http.HTTPStatus because its phrases change between Python versions (413).
_HTTP_ERRORS = {
    400: ("bad_request", "the request is malformed"),
    404: ("not_found", "no such API endpoint"),
    405: ("method_not_allowed", "method not allowed here"),
    413: ("payload_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "unsupported media type"),
}


def status_of(exc: DomainError) -> int:
    # Walk the MRO so a subclass added to the domain later inherits its parent's status.
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400  # a refusal nobody mapped yet is still the caller's request being refused


def domain_error_response(exc: DomainError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        # RFC 9110, 10.2.3: delay-seconds is a non-negative integer; round up, never 0.
        headers[hdrs.RETRY_AFTER] = str(max(1, math.ceil(exc.retry_after)))
    field = exc.field if isinstance(exc, InvalidInput) else None
    return error_response(status_of(exc), exc.code, exc.message, field, headers)


def _aiohttp_error_response(exc: web.HTTPException) -> web.Response:
    code, message = _HTTP_ERRORS.get(exc.status, (f"http_{exc.status}", exc.reason))
    headers: dict[str, str] = {}
    if hdrs.ALLOW in exc.headers:  # RFC 9110, 15.5.6: a 405 lists the allowed methods
        headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
    return error_response(exc.status, code, message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return domain_error_response(exc)
    except HttpError as exc:
        return http_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _aiohttp_error_response(exc)
    except Exception:
        # The path only (never the query or the body): no secret can reach the log this way.
        log.exception(
            "unexpected error answering %s %s",
            escape_for_log(request.method),
            escape_for_log(request.path),
        )
        return error_response(500, "internal", "an unexpected error occurred")
