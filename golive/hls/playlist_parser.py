"""Reading HLS playlists back into the models of ``golive.hls.playlist``.

The playlist side of draft-pantos-hls-rfc8216bis ("RFC 8216bis" below), as a client reads it.
Parsing serves the tests and the benchmarks. It reads everything the renderer writes and the
usual variants of other servers: CRLF line ends, blank lines, comments, tabs after the EXTINF
comma, an EXTINF without its comma, date-times with any UTC offset (or none: then UTC), tags
and attributes it does not know (ignored, as RFC 8216bis, 6.3.1 asks of clients). What the
model cannot hold is refused with :class:`PlaylistError` instead of being dropped quietly:
byte ranges, encryption, variables (EXT-X-DEFINE), I-frame playlists. Every failure is a
:class:`PlaylistError` that names the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from .playlist import (
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    PreloadHint,
    RenditionReport,
    Segment,
    Variant,
    check_count,
    check_quoted,
)

__all__ = ["PlaylistError", "parse_media", "parse_multivariant"]

# RFC 8216bis, 4.1: no control characters anywhere (CR only as part of CRLF). A tab is a
# control character too, but Apple's own streams put one after the EXTINF comma, so tabs
# pass here and the models refuse them inside strings.
_LINE_BAD: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class PlaylistError(ValueError):
    """The playlist text is malformed, or uses something the model does not hold."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[type[PlaylistError], tuple[int, str]]:
        return type(self), (self.line, self.message)


# RFC 8216bis, 4.2. Names are upper case letters, digits and "-"; a value is a
# quoted-string or runs to the next comma. White space around the comma is tolerated.
_ATTRIBUTE: Final = re.compile(r'[ \t]*([A-Z0-9-]+)=("[^"]*"[ \t]*|[^",]*)(?:,|\Z)')
_INTEGER: Final = re.compile(r"[0-9]{1,20}")
_FLOAT: Final = re.compile(r"[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20}")
_RESOLUTION: Final = re.compile(r"([0-9]{1,10})x([0-9]{1,10})")

_Attributes = dict[str, str]


def _attributes(value: str) -> _Attributes:
    """An attribute list (RFC 8216bis, 4.2): names to raw values, quotes kept."""
    attributes: _Attributes = {}
    position = 0
    while position < len(value):
        match = _ATTRIBUTE.match(value, position)
        if match is None:
            raise ValueError(f"malformed attribute list at column {position + 1}: {value!r}")
        name = match.group(1)
        if name in attributes:
            raise ValueError(f"attribute {name} appears twice")
        attributes[name] = match.group(2).rstrip(" \t")
        position = match.end()
    return attributes


def _integer(text: str, what: str) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise ValueError(f"{what}: {text!r} is not a decimal-integer")
    value = int(text)
    check_count(what, value)
    return value


def _float(text: str, what: str) -> float:
    if _FLOAT.fullmatch(text) is None:
        raise ValueError(f"{what}: {text!r} is not a decimal-floating-point")
    return float(text)


def _quoted(attributes: _Attributes, name: str, tag: str) -> str | None:
    raw = attributes.get(name)
    if raw is None:
        return None
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        raise ValueError(f"{tag}: {name} must be a quoted-string")
    return raw[1:-1]


def _required_quoted(attributes: _Attributes, name: str, tag: str) -> str:
    value = _quoted(attributes, name, tag)
    if value is None:
        raise ValueError(f"{tag}: {name} is required")
    return value


def _required(attributes: _Attributes, name: str, tag: str) -> str:
    raw = attributes.get(name)
    if raw is None:
        raise ValueError(f"{tag}: {name} is required")
    return raw


def _yes_no(attributes: _Attributes, name: str, tag: str) -> bool:
    raw = attributes.get(name, "NO")
    if raw not in ("YES", "NO"):
        raise ValueError(f"{tag}: {name} must be YES or NO, not {raw!r}")
    return raw == "YES"


def _no_byte_range(attributes: _Attributes, tag: str, *names: str) -> None:
    for name in names:
        if name in attributes:
            raise ValueError(f"{tag}: byte ranges are not supported")


def _date_time(text: str) -> datetime:
    """RFC 8216bis, 4.4.4.6: ISO 8601 with any offset; none at all is read as UTC."""
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"EXT-X-PROGRAM-DATE-TIME: {text!r} is not a date-time") from exc


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered non-blank lines after the EXTM3U header (RFC 8216bis, 4.1 and 4.4.1.1)."""
    raw_lines = text.split("\n")
    if raw_lines[0].strip(" \t\r") != "#EXTM3U":
        raise PlaylistError(1, "the first line must be #EXTM3U")
    for number, raw in enumerate(raw_lines[1:], start=2):
        line = raw.strip(" \t\r")
        if _LINE_BAD.search(line):
            raise PlaylistError(number, "control character")
        if line:
            yield number, line


# Tags of the other kind of playlist: a playlist is one kind or the other (RFC 8216bis, 4.4).
_MULTIVARIANT_TAGS: Final = frozenset(
    {
        "EXT-X-MEDIA",
        "EXT-X-STREAM-INF",
        "EXT-X-I-FRAME-STREAM-INF",
        "EXT-X-SESSION-DATA",
        "EXT-X-SESSION-KEY",
        "EXT-X-CONTENT-STEERING",
    }
)
_MEDIA_TAGS: Final = frozenset(
    {
        "EXTINF",
        "EXT-X-TARGETDURATION",
        "EXT-X-MEDIA-SEQUENCE",
        "EXT-X-DISCONTINUITY-SEQUENCE",
        "EXT-X-ENDLIST",
        "EXT-X-PLAYLIST-TYPE",
        "EXT-X-I-FRAMES-ONLY",
        "EXT-X-PART-INF",
        "EXT-X-SERVER-CONTROL",
        "EXT-X-BYTERANGE",
        "EXT-X-DISCONTINUITY",
        "EXT-X-KEY",
        "EXT-X-MAP",
        "EXT-X-PROGRAM-DATE-TIME",
        "EXT-X-GAP",
        "EXT-X-BITRATE",
        "EXT-X-PART",
        "EXT-X-SKIP",
        "EXT-X-PRELOAD-HINT",
        "EXT-X-RENDITION-REPORT",
    }
)
# Tags that change what a URI means in ways the model cannot hold: refused, not dropped.
_UNSUPPORTED: Final = {
    "EXT-X-BYTERANGE": "byte ranges are not supported",
    "EXT-X-I-FRAMES-ONLY": "I-frame playlists are not supported",
    "EXT-X-DEFINE": "variable substitution (EXT-X-DEFINE) is not supported",
}


def _split_tag(line: str) -> tuple[str, str]:
    name, _, value = line[1:].partition(":")
    return name, value


# uri, duration, parts, program date-time, discontinuity, map: a Segment without its number,
# which is known only at the end (EXT-X-MEDIA-SEQUENCE may come late, RFC 8216bis 4.4.3.2).
_RawSegment = tuple[str, float, tuple[Part, ...], datetime | None, bool, str | None]


@dataclass(slots=True)
class _PendingSegment:
    duration: float | None = None
    parts: list[Part] | None = None
    program_date_time: datetime | None = None
    discontinuity: bool = False
    map_changed: bool = False


class _MediaParser:
    """State of one parse_media call; one method per tag, dispatched by ``_MEDIA_HANDLERS``."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.target_duration: int | None = None
        self.media_sequence = 0
        self.discontinuity_sequence = 0
        self.part_target: float | None = None
        self.part_hold_back: float | None = None
        self.can_skip_until: float | None = None
        self.skipped = 0
        self.ended = False
        self.preload_hint: PreloadHint | None = None
        self.reports: list[RenditionReport] = []
        self.map_uri: str | None = None
        self.segments: list[_RawSegment] = []
        self.pending = _PendingSegment()

    def feed(self, line: str) -> None:
        if line[0] != "#":
            self.uri(line)
            return
        if not line.startswith("#EXT"):
            return  # a comment (RFC 8216bis, 4.1)
        name, value = _split_tag(line)
        handler = _MEDIA_HANDLERS.get(name)
        if handler is not None:
            handler(self, value)
        elif name in _UNSUPPORTED:
            raise ValueError(_UNSUPPORTED[name])
        elif name in _MULTIVARIANT_TAGS:
            raise ValueError(f"{name} belongs in a multivariant playlist")
        # Any other tag is ignored (RFC 8216bis, 6.3.1).

    def once(self, name: str) -> None:
        if name in self.seen:
            raise ValueError(f"{name} appears twice")
        self.seen.add(name)

    def before_segments(self, name: str) -> None:
        if self.segments or self.pending.parts:
            raise ValueError(f"{name} must come before the first segment")

    def version(self, value: str) -> None:
        # RFC 8216bis, 4.4.1.2. Servers often state less than they use, so the number is
        # only checked for syntax.
        self.once("EXT-X-VERSION")
        _integer(value, "EXT-X-VERSION")

    def target(self, value: str) -> None:
        # RFC 8216bis, 4.4.3.1 wants a decimal-integer; some servers write "6.0".
        self.once("EXT-X-TARGETDURATION")
        self.target_duration = math.ceil(_float(value, "EXT-X-TARGETDURATION"))

    def sequence(self, value: str) -> None:
        # RFC 8216bis, 4.4.3.2 puts it before the first segment; hls.js met servers that
        # write it later, and numbers are given out at the end, so the order does not matter.
        self.once("EXT-X-MEDIA-SEQUENCE")
        self.media_sequence = _integer(value, "EXT-X-MEDIA-SEQUENCE")

    def discontinuity_seq(self, value: str) -> None:
        self.once("EXT-X-DISCONTINUITY-SEQUENCE")
        self.discontinuity_sequence = _integer(value, "EXT-X-DISCONTINUITY-SEQUENCE")

    def endlist(self, value: str) -> None:
        self.once("EXT-X-ENDLIST")
        self.no_value("EXT-X-ENDLIST", value)
        self.ended = True

    def part_inf(self, value: str) -> None:
        self.once("EXT-X-PART-INF")
        attributes = _attributes(value)
        raw = _required(attributes, "PART-TARGET", "EXT-X-PART-INF")
        self.part_target = _float(raw, "PART-TARGET")

    def server_control(self, value: str) -> None:
        tag = "EXT-X-SERVER-CONTROL"
        self.once(tag)
        attributes = _attributes(value)
        _yes_no(attributes, "CAN-BLOCK-RELOAD", tag)
        if "PART-HOLD-BACK" in attributes:
            self.part_hold_back = _float(attributes["PART-HOLD-BACK"], "PART-HOLD-BACK")
        if "CAN-SKIP-UNTIL" in attributes:
            self.can_skip_until = _float(attributes["CAN-SKIP-UNTIL"], "CAN-SKIP-UNTIL")

    def skip(self, value: str) -> None:
        self.once("EXT-X-SKIP")
        self.before_segments("EXT-X-SKIP")
        attributes = _attributes(value)
        raw = _required(attributes, "SKIPPED-SEGMENTS", "EXT-X-SKIP")
        self.skipped = _integer(raw, "SKIPPED-SEGMENTS")

    def extinf(self, value: str) -> None:
        if self.pending.duration is not None:
            raise ValueError("two EXTINF tags for one segment")
        duration = value.partition(",")[0].strip(" \t")
        self.pending.duration = _float(duration, "EXTINF")

    def discontinuity(self, value: str) -> None:
        self.no_value("EXT-X-DISCONTINUITY", value)
        self.pending.discontinuity = True

    def init_map(self, value: str) -> None:
        attributes = _attributes(value)
        _no_byte_range(attributes, "EXT-X-MAP", "BYTERANGE")
        uri = _required_quoted(attributes, "URI", "EXT-X-MAP")
        # Checked here: a map that no segment follows is never built into a model.
        check_quoted("EXT-X-MAP URI", uri)
        self.map_uri = uri
        self.pending.map_changed = True

    def program_date_time(self, value: str) -> None:
        self.pending.program_date_time = _date_time(value)

    def key(self, value: str) -> None:
        attributes = _attributes(value)
        if attributes.get("METHOD") != "NONE":
            raise ValueError("encrypted segments (EXT-X-KEY) are not supported")

    def part(self, value: str) -> None:
        tag = "EXT-X-PART"
        attributes = _attributes(value)
        _no_byte_range(attributes, tag, "BYTERANGE")
        duration = _float(_required(attributes, "DURATION", tag), "DURATION")
        part = Part(
            _required_quoted(attributes, "URI", tag),
            duration,
            _yes_no(attributes, "INDEPENDENT", tag),
        )
        if self.pending.parts is None:
            self.pending.parts = []
        self.pending.parts.append(part)

    def preload(self, value: str) -> None:
        tag = "EXT-X-PRELOAD-HINT"
        attributes = _attributes(value)
        kind = _required(attributes, "TYPE", tag)
        uri = _required_quoted(attributes, "URI", tag)
        # A MAP hint, or a type this parser does not know (RFC 8216bis, 6.3.1), is ignored.
        if kind != "PART":
            return
        _no_byte_range(attributes, tag, "BYTERANGE-START", "BYTERANGE-LENGTH")
        if self.preload_hint is not None:
            raise ValueError("two EXT-X-PRELOAD-HINT tags of TYPE=PART")
        self.preload_hint = PreloadHint(uri)

    def report(self, value: str) -> None:
        tag = "EXT-X-RENDITION-REPORT"
        attributes = _attributes(value)
        self.reports.append(
            RenditionReport(
                _required_quoted(attributes, "URI", tag),
                _integer(_required(attributes, "LAST-MSN", tag), "LAST-MSN"),
                # RFC 8216bis lets LAST-PART out for renditions without parts; golive's
                # model always has one, so such a report is refused.
                _integer(_required(attributes, "LAST-PART", tag), "LAST-PART"),
            )
        )

    def uri(self, line: str) -> None:
        pending = self.pending
        if pending.duration is None:
            raise ValueError("a URI without EXTINF")
        self.segments.append(
            (
                line,
                pending.duration,
                tuple(pending.parts or ()),
                pending.program_date_time,
                pending.discontinuity,
                self.map_uri,
            )
        )
        self.pending = _PendingSegment()

    @staticmethod
    def no_value(name: str, value: str) -> None:
        if value:
            raise ValueError(f"{name} takes no value")

    def finish(self) -> MediaPlaylist:
        pending = self.pending
        if pending.duration is not None:
            raise ValueError("EXTINF without a URI at the end")
        if self.target_duration is None:
            raise ValueError("EXT-X-TARGETDURATION is required")
        first = self.media_sequence + self.skipped
        trailing = tuple(pending.parts or ())
        return MediaPlaylist(
            target_duration=self.target_duration,
            part_target=self.part_target,
            media_sequence=self.media_sequence,
            discontinuity_sequence=self.discontinuity_sequence,
            segments=tuple(
                Segment(first + index, uri, duration, parts, pdt, discontinuity, map_uri)
                for index, (uri, duration, parts, pdt, discontinuity, map_uri) in enumerate(
                    self.segments
                )
            ),
            trailing_parts=trailing,
            preload_hint=self.preload_hint,
            rendition_reports=tuple(self.reports),
            ended=self.ended,
            can_skip_until=self.can_skip_until,
            part_hold_back=self.part_hold_back,
            # The tags that precede the trailing parts; with no parts they describe nothing.
            trailing_discontinuity=bool(trailing) and pending.discontinuity,
            trailing_map_uri=self.map_uri if trailing and pending.map_changed else None,
        )


_MEDIA_HANDLERS: Final[dict[str, Callable[[_MediaParser, str], None]]] = {
    "EXT-X-VERSION": _MediaParser.version,
    "EXT-X-TARGETDURATION": _MediaParser.target,
    "EXT-X-MEDIA-SEQUENCE": _MediaParser.sequence,
    "EXT-X-DISCONTINUITY-SEQUENCE": _MediaParser.discontinuity_seq,
    "EXT-X-ENDLIST": _MediaParser.endlist,
    "EXT-X-PART-INF": _MediaParser.part_inf,
    "EXT-X-SERVER-CONTROL": _MediaParser.server_control,
    "EXT-X-SKIP": _MediaParser.skip,
    "EXTINF": _MediaParser.extinf,
    "EXT-X-DISCONTINUITY": _MediaParser.discontinuity,
    "EXT-X-MAP": _MediaParser.init_map,
    "EXT-X-PROGRAM-DATE-TIME": _MediaParser.program_date_time,
    "EXT-X-KEY": _MediaParser.key,
    "EXT-X-PART": _MediaParser.part,
    "EXT-X-PRELOAD-HINT": _MediaParser.preload,
    "EXT-X-RENDITION-REPORT": _MediaParser.report,
}


def parse_media(text: str) -> MediaPlaylist:
    """Read a media playlist; raises :class:`PlaylistError` naming the line on bad input.

    A delta update comes back with its first segment numbered after the skipped ones
    (``segments[0].msn - media_sequence`` of them), and renders back to the same text.
    """
    parser = _MediaParser()
    last = 1
    for number, line in _lines(text):
        last = number
        try:
            parser.feed(line)
        except ValueError as exc:
            raise PlaylistError(number, str(exc)) from None
    try:
        return parser.finish()
    except ValueError as exc:
        raise PlaylistError(last, str(exc)) from None


def _variant(attributes: _Attributes) -> Variant:
    """EXT-X-STREAM-INF attributes as a Variant whose URI comes with the next line."""
    tag = "EXT-X-STREAM-INF"
    average = attributes.get("AVERAGE-BANDWIDTH")
    resolution = attributes.get("RESOLUTION")
    size: tuple[int, int] | None = None
    if resolution is not None:
        match = _RESOLUTION.fullmatch(resolution)
        if match is None:
            raise ValueError(f"{tag}: RESOLUTION {resolution!r} is not WIDTHxHEIGHT")
        size = (int(match.group(1)), int(match.group(2)))
    frame_rate = attributes.get("FRAME-RATE")
    return Variant(
        uri="-",
        bandwidth=_integer(_required(attributes, "BANDWIDTH", tag), "BANDWIDTH"),
        average_bandwidth=None if average is None else _integer(average, "AVERAGE-BANDWIDTH"),
        codecs=_quoted(attributes, "CODECS", tag) or "",
        resolution=size,
        frame_rate=None if frame_rate is None else _float(frame_rate, "FRAME-RATE"),
        name=_quoted(attributes, "NAME", tag),
    )


def parse_multivariant(text: str) -> MultivariantPlaylist:
    """Read a multivariant playlist's variant streams (RFC 8216bis, 4.4.6.2).

    EXT-X-MEDIA renditions, I-frame streams, session data and unknown tags are ignored;
    tags of media playlists are refused. Raises :class:`PlaylistError` naming the line.
    """
    variants: list[Variant] = []
    pending: Variant | None = None
    pending_line = 0
    version_seen = False
    last = 1
    for number, line in _lines(text):
        last = number
        try:
            if line[0] != "#":
                if pending is None:
                    raise ValueError("a URI without EXT-X-STREAM-INF")
                variants.append(replace(pending, uri=line))
                pending = None
                continue
            if not line.startswith("#EXT"):
                continue  # a comment (RFC 8216bis, 4.1)
            name, value = _split_tag(line)
            if name == "EXT-X-STREAM-INF":
                if pending is not None:
                    raise ValueError("EXT-X-STREAM-INF without a URI")
                pending = _variant(_attributes(value))
                pending_line = number
            elif name == "EXT-X-VERSION":
                if version_seen:
                    raise ValueError("EXT-X-VERSION appears twice")
                version_seen = True
                _integer(value, "EXT-X-VERSION")
            elif name == "EXT-X-DEFINE":
                raise ValueError(_UNSUPPORTED[name])
            elif name in _MEDIA_TAGS:
                raise ValueError(f"{name} belongs in a media playlist")
            # Any other tag is ignored (RFC 8216bis, 6.3.1).
        except ValueError as exc:
            raise PlaylistError(number, str(exc)) from None
    if pending is not None:
        raise PlaylistError(pending_line, "EXT-X-STREAM-INF without a URI")
    if not variants:
        raise PlaylistError(last, "no EXT-X-STREAM-INF")
    return MultivariantPlaylist(tuple(variants))
