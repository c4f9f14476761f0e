"""The one shape of an HTTP error body, and the error middleware that answers in it for every
sub-application that speaks JSON (the API, the nginx-rtmp callbacks, HLS)::

    {"error": {"code": "username_taken", "message": "that username is taken", "field": "..."}}

``code`` is stable and machine-readable; ``message`` is for people; ``field`` names the
offending input when there is one. This is the ``Error`` schema of the OpenAPI document.

``http_error_middleware`` builds one sub-application's middleware. Whatever goes wrong below
it is answered in this shape, with the sub-application's own headers (HLS's CORS headers):

- an ``HttpError``, a refusal by the HTTP layer itself (CSRF, media type, size, a query
  parameter HLS cannot use, a file that is not there), with its status;
- a use case's refusal, by the sub-application's table from error classes to statuses
  (RFC 9110, 15.5);
- aiohttp's own HTTP errors (no route, wrong method, a body too large), re-dressed: a 405
  keeps its Allow header (RFC 9110, 15.5.6), a miss says what the sub-application calls it;
  redirects pass through untouched;
- anything else is a bug: it is logged and answered with a JSON 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Protocol, TypeVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware


class HttpError(Exception):
    """A refusal by the HTTP layer itself rather than by a use case: CSRF, media type, size,
    a query parameter HLS cannot use, a file that is not there."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class Refusal(Protocol):
    """A use case's refusal, as the error table of a sub-application names it
    (golive.accounts.domain's errors). A ``field`` attribute, when it has one, names the
    offending input; a ``retry_after`` (seconds) becomes the Retry-After header."""

    code: str
    message: str


R = TypeVar("R", bound=Refusal)

# aiohttp raises these itself (routing, body size). The codes are spelled here rather than
# taken from http.HTTPStatus because its phrases change between Python versions (413).
_AIOHTTP_ERRORS = {
    400: ("bad_request", "the request is malformed"),
    405: ("method_not_allowed", "method not allowed here"),
    413: ("payload_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "unsupported media type"),
}
# Headers of aiohttp's errors that stay on the re-dressed answer.
_KEPT = (hdrs.ALLOW, hdrs.RETRY_AFTER)


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status, headers=headers)


def http_error_response(exc: HttpError, headers: Mapping[str, str] | None = None) -> web.Response:
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


def refusal_response(
    status: int, exc: Refusal, headers: Mapping[str, str] | None = None
) -> web.Response:
    extra = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)):
        # RFC 9110, 10.2.3: delay-seconds is a non-negative integer; round up, never 0.
        extra[hdrs.RETRY_AFTER] = str(max(1, math.ceil(retry_after)))
    field = getattr(exc, "field", None)
    return error_response(
        status, exc.code, exc.message, field if isinstance(field, str) else None, extra
    )


def _aiohttp_error_response(
    exc: web.HTTPException, miss: str, headers: Mapping[str, str] | None
) -> web.Response:
    if exc.status == 404:
        code, message = "not_found", miss
    else:
        code, message = _AIOHTTP_ERRORS.get(exc.status, (f"http_{exc.status}", exc.reason))
    extra = dict(headers or {})
    extra.update((name, exc.headers[name]) for name in _KEPT if name in exc.headers)
    return error_response(exc.status, code, message, headers=extra)


def http_error_middleware(
    miss: str,
    *,
    logger: str,
    headers: Mapping[str, str] | None = None,
    refusals: Mapping[type[R], int] | None = None,
) -> Middleware:
    """The error middleware of one sub-application: ``miss`` is its answer to a path it does
    not have ("no such API endpoint"), ``logger`` names the log its 500s go to, ``headers``
    go on every error answer, and ``refusals`` maps its use cases' error classes to statuses
    (a subclass takes its nearest mapped ancestor's)."""
    log = logging.getLogger(logger)
    statuses: dict[type, int] = dict(refusals or {})
    refused = tuple(refusals or ())

    def status_of(exc: Refusal) -> int:
        return next(statuses[cls] for cls in type(exc).__mro__ if cls in statuses)

    @web.middleware
    async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpError as exc:
            return http_error_response(exc, headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _aiohttp_error_response(exc, miss, headers)
        except Exception as exc:
            if isinstance(exc, refused):
                return refusal_response(status_of(exc), exc, headers)
            # The path only (never the query or the body): no secret can reach the log this way.
            log.exception("unexpected error answering %s %s", request.method, request.path)
            return error_response(500, "internal", "an unexpected error occurred", None, headers)

    return answer_errors
