"""Log lines peers cannot forge, and malformed HTTP requests told in one INFO line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError
from aiohttp.test_utils import make_mocked_request

from golive.http_errors import QuietMalformedRequests
from golive.logs import EscapeControlCharacters, escape_every_handler, escape_for_log

FORGED = "\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("FMLE/3.0", "FMLE/3.0"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x00\x1b[31m\x7f", "\\x00\\x1b[31m\\x7f"),
        ("\x85 \x9f", "\\x85 \\x9f"),  # C1, NEL among them
        ("\u2028\u2029", "\\u2028\\u2029"),  # line and paragraph separators
        ("\u202eevil\u202c \u2066x\u2069", "\\u202eevil\\u202c \\u2066x\\u2069"),  # bidi
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # marks
        ("\udcff", "\\udcff"),  # a lone surrogate, as "surrogateescape" leaves undecodable bytes
        ("café 日本 \\n", "café 日本 \\n"),  # printable text and backslashes stay as they are
    ],
)  # fmt: skip
def test_escape_for_log_shows_control_characters_as_escapes(value: str, shown: str) -> None:
    assert escape_for_log(value) == shown


def test_escape_for_log_keeps_the_forged_line_on_one_line() -> None:
    shown = escape_for_log("FMLE/3.0" + FORGED)
    assert shown.splitlines() == [shown]
    assert (
        shown
        == "FMLE/3.0\\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key"
    )


def test_escape_for_log_cuts_long_values_and_says_so() -> None:
    assert escape_for_log("x" * 200) == "x" * 200
    assert escape_for_log("x" * 1000) == "x" * 200 + "...[800 more characters]"
    assert escape_for_log("\n" * 300, limit=2) == "\\n\\n...[298 more characters]"
    assert escape_for_log("x" * 1000, limit=None) == "x" * 1000


def test_escape_for_log_renders_other_values_and_is_idempotent() -> None:
    assert escape_for_log(ValueError("bad\nthing")) == "bad\\nthing"
    assert escape_for_log(None) == "None"
    once = escape_for_log("a\u202e\nb")
    assert escape_for_log(once) == once


@pytest.fixture
def stream_log() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    """A logger of its own writing to a string through a handler with golive's filters."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("test_logs")
    root.propagate = False
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    escape_every_handler(root)
    escape_every_handler(root)  # once is enough; twice adds nothing
    yield root, handler, out
    root.removeHandler(handler)


def test_every_handler_escapes_whole_messages(
    stream_log: tuple[logging.Logger, logging.Handler, io.StringIO],
) -> None:
    log, handler, out = stream_log
    assert sum(isinstance(f, EscapeControlCharacters) for f in handler.filters) == 1
    log.info("client says %s", "hi" + FORGED)
    log.info("multi\nline")
    try:
        raise ValueError("peer said" + FORGED + "\u202e")
    except ValueError:
        log.exception("failed")
    traceback = out.getvalue().splitlines()[2:]
    assert traceback[0] == "ERROR test_logs: failed"
    assert traceback[1] == "Traceback (most recent call last):"
    assert traceback[-2:] == [
        "  ValueError: peer said",
        "  2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key\\u202e",
    ]
    assert all(line[:1].isspace() for line in traceback[2:])
    # A broken call is left for the handler to report, as logging always does.
    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "broken %d", ("x",), None)
    assert EscapeControlCharacters().filter(broken) and broken.args == ("x",)
    assert out.getvalue().splitlines()[:2] == [
        "INFO test_logs: client says hi\\n2026-12-01 12:00:00 INFO golive: user alice "
        "regenerated their stream key",
        "INFO test_logs: multi\\nline",
    ]


@pytest.fixture(autouse=True)
def server_logs_info() -> Iterator[None]:
    """aiohttp's server logger at INFO, as ``golive serve`` runs it by default."""
    server = logging.getLogger("aiohttp.server")
    level = server.level
    server.setLevel(logging.INFO)
    yield
    server.setLevel(level)


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _record(msg: str, args: tuple[object, ...], exc: BaseException) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__)
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_a_malformed_request_becomes_one_info_line() -> None:
    bad = BadHttpMessage(
        "Transfer-Encoding can't be present with Content-Length",
        headers=None,
    )
    record = _record("Error handling request from %s", ("127.0.0.1",), _raised(bad))
    assert QuietMalformedRequests().filter(record)
    assert record.levelno == logging.INFO and record.levelname == "INFO"
    assert record.exc_info is None
    assert record.getMessage() == (
        "malformed HTTP request from 127.0.0.1: Transfer-Encoding can't be present with "
        "Content-Length"
    )


def _drain(request: web.BaseRequest) -> None:
    """What aiohttp does with a body the handler left: it reads it, and the decoder fails."""
    assert request.remote  # the frame that holds the request is where its address is found
    try:
        raise ContentEncodingError("Can not decode content-encoding: deflate")
    except ContentEncodingError as cause:
        raise web.RequestPayloadError("Can not decode content-encoding: deflate") from cause


def test_an_undecodable_body_found_while_draining_names_the_peer_from_its_request() -> None:
    peer = mock.Mock()
    peer.get_extra_info.side_effect = lambda key: (
        ("192.0.2.7", 50000) if key == "peername" else None
    )
    request = make_mocked_request("POST", "/api/users", transport=peer)
    try:
        _drain(request)
    except web.RequestPayloadError as exc:
        record = _record("Unhandled exception", (), exc)
    assert QuietMalformedRequests().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage() == (
        "malformed HTTP request from 192.0.2.7: Can not decode content-encoding: deflate"
    )


def test_other_errors_and_a_body_error_a_handler_let_through_stay_errors() -> None:
    quiet = QuietMalformedRequests()
    bug = _record("Error handling request from %s", ("127.0.0.1",), _raised(KeyError("x")))
    assert quiet.filter(bug) and bug.levelno == logging.ERROR and bug.exc_info is not None
    # A handler that does not catch the body's error answers 500: a bug of golive's.
    payload = web.RequestPayloadError("Can not decode content-encoding: deflate")
    leaked = _record("Error handling request from %s", ("127.0.0.1",), _raised(payload))
    assert quiet.filter(leaked) and leaked.levelno == logging.ERROR
    # An error raised while handling a malformed request is not the peer's doing either.
    try:
        try:
            raise BadHttpMessage("bad")
        except BadHttpMessage:
            raise RuntimeError("ours") from None
    except RuntimeError as exc:
        ours = _record("Unhandled exception", (), exc)
    assert quiet.filter(ours) and ours.levelno == logging.ERROR


def test_the_info_line_is_dropped_when_info_is_not_logged() -> None:
    server = logging.getLogger("aiohttp.server")
    level = server.level
    server.setLevel(logging.WARNING)
    try:
        bad = _raised(BadHttpMessage("bad"))
        assert not QuietMalformedRequests().filter(
            _record("Error handling request from %s", ("::1",), bad)
        )
    finally:
        server.setLevel(level)


def test_the_peer_and_reason_are_escaped_too() -> None:
    bad = _raised(BadHttpMessage("Invalid header value char\u202e"))
    record = _record("Error handling request from %s", ("fe80::1%\u202e\n",), bad)
    QuietMalformedRequests().filter(record)
    assert record.getMessage() == (
        "malformed HTTP request from fe80::1%\\u202e\\n: Invalid header value char\\u202e"
    )
