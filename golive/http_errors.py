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

A request too malformed to reach a handler is answered by aiohttp itself (400, plain text);
``QuietMalformedRequests`` turns the traceback aiohttp logs for it into one INFO line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, TypeVar

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

from .logs import add_filter, escape_for_log


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
            log.exception(
                "unexpected error answering %s %s",
                escape_for_log(request.method),
                escape_for_log(request.path),
            )
            return error_response(500, "internal", "an unexpected error occurred", None, headers)

    return answer_errors


def _malformed(exc: BaseException | None) -> str | None:
    """The first line of a malformed-request error, if ``exc`` is one: the
    parser's own error, or the RequestPayloadError aiohttp wraps around it for a body. Any
    other exception, even one raised while handling those, is not the peer's doing."""
    if isinstance(exc, web.RequestPayloadError):
        if not isinstance(exc.__cause__, HttpProcessingError):
            return str(exc).split("\n", 1)[0] or "the body could not be read"
        exc = exc.__cause__
    if not isinstance(exc, HttpProcessingError):
        return None
    reason = exc.message or type(exc).__name__
    return reason.split("\n", 1)[0].rstrip(": ")


def _peer_in(tb: TracebackType | None) -> str | None:
    """The remote address of the request a traceback went through, if one of its frames
    holds that request."""
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, web.BaseRequest):
                return value.remote
        tb = tb.tb_next
    return None


class QuietMalformedRequests(logging.Filter):
    """Turns aiohttp's ERROR traceback for a malformed request into one INFO line.

    aiohttp answers such a request with a 400 (RFC 9112, 6.3: both Content-Length and
    Transfer-Encoding; RFC 9110, 8.4: a body its Content-Encoding cannot decode), then logs
    the parser's exception with its traceback: "Error handling request from ADDRESS" when
    the request line or headers are bad, "Unhandled exception" when it drains a body it
    cannot decode. Both are the peer's fault, not the server's. Attach it to the
    ``aiohttp.server`` logger; every other record goes through unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO or not record.exc_info:
            return True
        _, exc, tb = record.exc_info
        reason = _malformed(exc)
        if reason is None:
            return True
        if record.msg == "Error handling request from %s" and isinstance(record.args, tuple):
            if isinstance(exc, web.RequestPayloadError):
                return True  # a handler let the body's error through: a 500, ours to fix
            peer: object = record.args[0]
        else:
            peer = _peer_in(tb) or "an unknown address"
        # No status: aiohttp answered 400, or the route's own answer if it had one before
        # the body turned out to be undecodable.
        record.msg = "malformed HTTP request from %s: %s"
        record.args = (escape_for_log(peer), escape_for_log(reason))
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def quiet_malformed_requests() -> None:
    """Attach ``QuietMalformedRequests`` to aiohttp's server logger (once)."""
    add_filter(logging.getLogger("aiohttp.server"), QuietMalformedRequests)
