"""The one shape of an HTTP error body, shared by every sub-application that answers in JSON
(the API, the nginx-rtmp callbacks, HLS)::

    {"error": {"code": "username_taken", "message": "that username is taken", "field": "..."}}

``code`` is stable and machine-readable; ``message`` is for people; ``field`` names the
offending input when there is one. This is the ``Error`` schema of the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
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
