"""Log lines that peers cannot forge.

Stream names, ``connect``'s ``app`` and ``flashVer``, HTTP paths and headers all come from
whoever connects. Written as they are, a newline in one of them starts a log line of the
peer's making ("user alice regenerated their stream key"), and bidi controls reorder what an
operator reads. ``escape_for_log`` renders such a value for a log line; every log call that
carries one uses it, and ``EscapeControlCharacters`` escapes whole messages as a second line
of defence, for third-party loggers too.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

LOG_VALUE_LIMIT = 200  # characters of one peer-supplied value; a longer one is cut

# C0 controls, DEL and C1 controls (U+0085 is NEL, a line break), the Arabic letter mark, the
# left-to-right and right-to-left marks, the line and paragraph separators, the bidi embeddings
# and overrides (U+202A-U+202E), the bidi isolates (U+2066-U+2069), and lone surrogates
# (bytes a decoder let through with "surrogateescape", which a UTF-8 log stream cannot write).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_for_log(value: object, limit: int | None = LOG_VALUE_LIMIT) -> str:
    """``value`` (``str()`` of it if not a string) fit for one log line.

    Control characters (C0, DEL, C1), line and paragraph separators, bidi controls and lone
    surrogates become Python-style escapes (``\\n``, ``\\x1b``, ``\\u202e``); everything else,
    backslashes included, is kept, so escaping twice changes nothing. Past ``limit`` characters
    the value is cut and ends with ``...[N more characters]``.
    """
    text = value if isinstance(value, str) else str(value)
    rest = 0
    if limit is not None and len(text) > limit:
        text, rest = text[:limit], len(text) - limit
    text = _UNSAFE.sub(_escape, text)
    return f"{text}...[{rest} more characters]" if rest else text


class EscapeControlCharacters(logging.Filter):
    """A handler filter that escapes the whole rendered message, whichever logger wrote it.

    The explicit ``escape_for_log`` at the call sites stays the main defence (it also cuts
    long values); this one covers messages golive does not write, such as aiohttp's or
    asyncio's. A traceback keeps its lines, but an exception's message may carry a peer's
    string: its controls are escaped too, and its lines after the first are indented, so
    none of them can pass for a log line of its own.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # let the handler report the broken call as it always does
            return True
        escaped = escape_for_log(message, limit=None)
        if escaped != message:
            record.msg, record.args = escaped, None
        if record.exc_info and not record.exc_text:
            lines = self._formatter.formatException(record.exc_info).split("\n")
            record.exc_text = "\n".join(
                escape_for_log(line, limit=None)
                if n == 0 or line[:1].isspace()
                else "  " + escape_for_log(line, limit=None)
                for n, line in enumerate(lines)
            )
        return True


def add_filter(target: logging.Logger | logging.Handler, kind: type[logging.Filter]) -> None:
    """Add a ``kind`` filter to ``target`` unless it has one already."""
    if not any(isinstance(f, kind) for f in target.filters):
        target.addFilter(kind())


def escape_every_handler(root: logging.Logger | None = None) -> None:
    """Escape control characters on every handler of ``root`` (the root logger by default);
    calling it again adds nothing."""
    for handler in (root or logging.getLogger()).handlers:
        add_filter(handler, EscapeControlCharacters)


# The attributes a log call may add with ``extra=`` that a JSON line carries as fields.
EXTRA_FIELDS = ("room", "peer", "event")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``,
    ``message``, the ``room``, ``peer`` and ``event`` a log call gave with ``extra=``, any
    fixed ``fields`` (a worker's number), and ``exception`` with its traceback.

    The message is the one ``EscapeControlCharacters`` has escaped already; the extra fields,
    which may be a peer's strings (a stream name), are escaped and cut as ``escape_for_log``
    does. JSON encoding then escapes every non-ASCII character too, so a line is one line
    whatever was logged.
    """

    def __init__(self, **fields: object) -> None:
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = escape_for_log(value)
        line.update(self.fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=True)


def log_handler(log_format: str, text_format: str, **fields: object) -> logging.Handler:
    """A handler to standard error that writes ``text_format`` lines, or JSON ones
    (``log_format`` "json", with ``fields`` in every line)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(**fields))
    else:
        handler.setFormatter(logging.Formatter(text_format))
    return handler


__all__ = [
    "EXTRA_FIELDS",
    "LOG_VALUE_LIMIT",
    "EscapeControlCharacters",
    "JsonFormatter",
    "add_filter",
    "escape_every_handler",
    "escape_for_log",
    "log_handler",
]
