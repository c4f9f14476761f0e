"""Request bodies: bounded reads, JSON objects (RFC 8259) and HTML form fields
(application/x-www-form-urlencoded, as nginx-rtmp's notify module sends them).

Every way a body can be wrong ends in a 400 that names the field (``body`` for the whole of
it), a 413 or a 415, so no input reaches the use cases in a shape they do not expect.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..accounts.domain import InvalidInput
from ..http_errors import HttpError

MAX_BODY = 64 * 1024  # far above any real request; bounds memory and parsing per request
MAX_FORM_FIELDS = 64  # nginx-rtmp sends about ten
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _too_large() -> HttpError:
    return HttpError(413, "payload_too_large", f"the request body exceeds {MAX_BODY} bytes")


async def read_body(request: web.Request) -> bytes:
    """The body, refusing it as soon as it passes ``MAX_BODY`` (with or without Content-Length)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > MAX_BODY:
                raise _too_large()
            chunks.append(chunk)
    except (web.RequestPayloadError, HttpProcessingError, ConnectionResetError):
        # A broken Content-Encoding, or the client left halfway: its fault, not a 500 of ours.
        raise InvalidInput("body", "the body could not be read") from None
    return b"".join(chunks)


def _media_type(request: web.Request, expected: str) -> None:
    charset = (request.charset or "utf-8").lower()
    # RFC 8259, 8.1: JSON exchanged between systems is UTF-8; a form body is ASCII.
    if request.content_type != expected or charset not in ("utf-8", "utf8"):
        raise HttpError(415, "unsupported_media_type", f"send the body as {expected}")


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python accepts, RFC 8259 not


async def json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object, or a 400 / 413 / 415."""
    _media_type(request, JSON)
    raw = await read_body(request)
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):  # bad UTF-8, bad JSON, nesting deep enough to recurse
        raise InvalidInput("body", "not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("body", "must be a JSON object")
    return value


async def form_fields(request: web.Request) -> dict[str, str]:
    """The body as form fields; the first value of a repeated name wins."""
    _media_type(request, FORM)
    raw = await read_body(request)
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # non-ASCII bytes, percent-escapes that are not UTF-8, too many fields
        raise InvalidInput("body", "not a valid form") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def string_field(body: Mapping[str, object], name: str) -> str:
    """A required string member; its absence and its type are named to the caller."""
    if name not in body:
        raise InvalidInput(name, "required")
    value = body[name]
    if not isinstance(value, str):
        raise InvalidInput(name, "must be a string")
    try:
        # JSON's \\ud800 escapes decode to lone surrogates, which no store or hasher can encode.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(name, "must be valid Unicode text") from None
    return value
