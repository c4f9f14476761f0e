"""The one shape of an HTTP error body, shared by every sub-application that answers in JSON
(the API, the nginx-rtmp callbacks, HLS)::

    {"error": {"code": "username_taken", "message": "that username is taken", "field": "..."}}

``code`` is stable and machine-readable; ``message`` is for people; ``field`` names the
offending input when there is one. This is the ``Error`` schema of the OpenAPI document.

A request too malformed to reach a handler is answered by aiohttp itself (400, plain text);
``QuietMalformedRequests`` turns the traceback aiohttp logs for it into one INFO line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType

from aiohttp import web
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


def http_error_middleware(headers: Mapping[str, str] | None = None) -> Middleware:
    """Answers the ``HttpError`` a handler raises, with ``headers`` on every such answer;
    anything else (aiohttp's own 404 and 405 included) passes through as it is."""

    @web.middleware
    async def answer_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpError as exc:
            return http_error_response(exc, headers)

    return answer_http_errors


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
