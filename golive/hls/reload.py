"""The query of a media playlist request: blocking reload and delta updates (RFC 8216bis,
6.2.5.2 and 6.2.5.1), read from plain strings so that it can be tested without HTTP.

``_HLS_msn`` and ``_HLS_part`` are decimal-integers (RFC 8216bis, 4.2) of at most 12 digits;
``_HLS_part`` only makes sense with ``_HLS_msn``. ``_HLS_skip=YES`` (or ``v2``) asks for a
Playlist Delta Update. Every refusal is a :class:`ReloadQueryError`, whose message is what the
client is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ReloadQuery", "ReloadQueryError", "parse_reload_query"]

_MAX_DIGITS = 12


class ReloadQueryError(ValueError):
    """The query asks for something malformed; the message says what (a 400 answer)."""


@dataclass(frozen=True, slots=True)
class ReloadQuery:
    """What a media playlist request asks for: hold until ``msn`` (part ``part``) exists,
    and whether a delta update will do."""

    msn: int | None = None
    part: int | None = None
    skip: bool = False


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    # str.isdigit() also accepts digits of other scripts and superscripts ("²"), which int()
    # then reads differently or refuses: a decimal-integer is ASCII digits only.
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_DIGITS:
        raise ReloadQueryError(f"{name} must be a non-negative integer")
    return int(value)


def parse_reload_query(query: Mapping[str, str]) -> ReloadQuery:
    """Read ``_HLS_msn``, ``_HLS_part`` and ``_HLS_skip``; raise ``ReloadQueryError``."""
    msn = _int_param(query, "_HLS_msn")
    part = _int_param(query, "_HLS_part")
    if part is not None and msn is None:
        raise ReloadQueryError("_HLS_part needs _HLS_msn")
    return ReloadQuery(msn, part, query.get("_HLS_skip") in ("YES", "v2"))
