"""Log lines peers cannot forge, and malformed HTTP requests told in one INFO line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

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
