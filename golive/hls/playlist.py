"""HLS playlists for fMP4 low-latency HLS: the models, rendered for every request.

This is the playlist side of draft-pantos-hls-rfc8216bis (HTTP Live Streaming 2nd Edition,
"RFC 8216bis" below; section numbers of draft 14 and later).

Rendering is pure and cheap: no I/O, no clock (every time is a field of the model), one list
of lines joined once. It runs on the event loop for every playlist request and for every
blocking reload that wakes up, so the models check themselves when they are built and the
renderer trusts them. A Segment also renders its own lines once, when built: a caller that
keeps its Segment objects from one request to the next renders a 40-segment LL-HLS playlist
in about 10 us; building the 40 Segments again costs some 100 us more. Reading a playlist
back into these models is ``golive.hls.playlist_parser``'s job.

Choices, and why:

- EXT-X-VERSION is the lowest that the features in use need (RFC 8216bis, 7): 3 for
  floating-point EXTINF durations (always), 6 for EXT-X-MAP in a playlist that is not
  I-frames only, 9 for EXT-X-SKIP. The LL-HLS tags (EXT-X-PART, -PART-INF, -SERVER-CONTROL,
  -PRELOAD-HINT, -RENDITION-REPORT) need no particular version: the spec's LL-HLS example
  is a version 6 playlist, and Apple's test stream answers delta updates with version 9.
- Durations have five decimals. 10 us is finer than one tick of the 90 kHz video timescale,
  so the playlist timeline adds up to the media timeline, as in the spec's example
  (``EXTINF:4.00008``, ``PART-TARGET=0.33334``).
- EXT-X-PROGRAM-DATE-TIME is written in UTC with milliseconds and ``Z``: hls.js and Safari
  read it with ``Date.parse``, and players measure latency with it.
- Tag order inside a segment: EXT-X-DISCONTINUITY, EXT-X-MAP, EXT-X-PROGRAM-DATE-TIME, its
  EXT-X-PARTs, EXTINF, URI. The date-time after the map means no client has to carry a
  date-time across an EXT-X-MAP.
- The multivariant playlist lists the variants in the caller's order. hls.js starts with the
  first variant listed (``Hls.firstLevel``) and so does AVPlayer, so the caller decides where
  playback starts; golive puts the source copy first, because it exists as soon as the
  publisher does and needs no transcoder to catch up, and adaptive bitrate then moves down
  when the viewer's bandwidth is short.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "PLAYLIST_TYPE",
    "MediaPlaylist",
    "MultivariantPlaylist",
    "Part",
    "PreloadHint",
    "RenditionReport",
    "Segment",
    "Variant",
    "render_media",
    "render_multivariant",
]

# RFC 8216bis, 4: the media type of every playlist, the multivariant and the media ones.
PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"

_UTC: Final = UTC

# RFC 8216bis, 4.2: a quoted-string holds no double quote, CR or LF. A tab is a control
# character too; the models refuse it inside strings (the parser lets tabs through between
# tokens only).
_QUOTED_BAD: Final = re.compile(r'["\x00-\x1f\x7f-\x9f]')


# ---------------------------------------------------------------------------------------
# Checks run once, when a model is built (by the live window, or by the parser). The parser also
# runs check_quoted and check_count on values it reads before any model holds them.


def check_quoted(what: str, value: str) -> None:
    if not value or _QUOTED_BAD.search(value):
        raise ValueError(f"{what} {value!r} cannot be a quoted-string (RFC 8216bis, 4.2)")


def _check_uri_line(what: str, value: str) -> None:
    # A URI line is a whole line: it must not read as a tag or comment, and readers strip
    # the white space around it.
    if not value or value[0] == "#" or value != value.strip() or _QUOTED_BAD.search(value):
        raise ValueError(f"{what} {value!r} cannot be a URI line (RFC 8216bis, 4.1)")


def _check_seconds(what: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        sign = "positive" if positive else "at least 0"
        raise ValueError(f"{what} must be finite and {sign}, not {value!r}")


def check_count(what: str, value: int) -> None:
    # decimal-integer, RFC 8216bis, 4.2: 0 to 2**64 - 1.
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{what} must be a decimal-integer, not {value!r}")


# ---------------------------------------------------------------------------------------
# Media playlist: one small type per tag, each with its own render.


@dataclass(frozen=True, slots=True)
class Part:
    """A partial segment, RFC 8216bis, 4.4.4.9 EXT-X-PART."""

    uri: str
    duration: float  # seconds
    independent: bool  # starts with a sync sample: INDEPENDENT=YES

    def __post_init__(self) -> None:
        check_quoted("part URI", self.uri)
        _check_seconds("part duration", self.duration)

    def render(self) -> str:
        if self.independent:
            return f'#EXT-X-PART:DURATION={self.duration:.5f},URI="{self.uri}",INDEPENDENT=YES'
        return f'#EXT-X-PART:DURATION={self.duration:.5f},URI="{self.uri}"'


@dataclass(frozen=True, slots=True)
class Segment:
    """A media segment (RFC 8216bis, 3) with the tags that apply to it.

    ``parts`` are kept only for the segments within three target durations of the end of
    the playlist (RFC 8216bis, 4.4.4.9), empty otherwise. ``program_date_time`` must be
    timezone-aware; it is kept in UTC and rendered to the millisecond. ``map_uri`` is the
    EXT-X-MAP in force from this segment on (RFC 8216bis, 4.4.4.5): the renderer writes the
    tag where it changes and before the first segment listed. Once a playlist has a map,
    later segments cannot go back to none (HLS has no tag for that).
    """

    msn: int  # media sequence number
    uri: str
    duration: float  # seconds
    parts: tuple[Part, ...]
    program_date_time: datetime | None
    discontinuity: bool  # EXT-X-DISCONTINUITY before this segment
    map_uri: str | None
    _body: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_count("media sequence number", self.msn)
        _check_uri_line("segment URI", self.uri)
        _check_seconds("segment duration", self.duration)
        if self.map_uri is not None:
            check_quoted("EXT-X-MAP URI", self.map_uri)
        pdt = self.program_date_time
        if pdt is not None and pdt.tzinfo is not _UTC:
            if pdt.utcoffset() is None:
                raise ValueError("program_date_time must be timezone-aware")
            object.__setattr__(self, "program_date_time", pdt.astimezone(_UTC))
        # Everything after the map, rendered once: a segment is built once and rendered for
        # every request while it stays in the window, and formatting its date-time alone
        # costs more than joining the whole playlist.
        object.__setattr__(self, "_body", self._render_body())

    def render(self, map_in_force: str | None) -> str:
        """The lines of this segment; ``map_in_force`` is the EXT-X-MAP written before it."""
        body = self._body
        if self.map_uri is not None and self.map_uri != map_in_force:
            body = _map_line(self.map_uri) + "\n" + body
        if self.discontinuity:
            return "#EXT-X-DISCONTINUITY\n" + body  # RFC 8216bis, 4.4.4.3
        return body

    def _render_body(self) -> str:
        lines: list[str] = []
        if self.program_date_time is not None:
            lines.append(_date_time_line(self.program_date_time))
        lines.extend(part.render() for part in self.parts)
        # RFC 8216bis, 4.4.4.1; the title after the comma stays empty.
        lines.append(f"#EXTINF:{self.duration:.5f},\n{self.uri}")
        return "\n".join(lines)


def _map_line(uri: str) -> str:
    """RFC 8216bis, 4.4.4.5 EXT-X-MAP: the fMP4 initialization section."""
    return f'#EXT-X-MAP:URI="{uri}"'


def _date_time_line(when: datetime) -> str:
    """RFC 8216bis, 4.4.4.6 EXT-X-PROGRAM-DATE-TIME, UTC to the millisecond with ``Z``."""
    # The models keep date-times in UTC, so isoformat ends in "+00:00".
    return f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds')[:-6]}Z"


@dataclass(frozen=True, slots=True)
class PreloadHint:
    """The next part, not yet available: RFC 8216bis, 4.4.5.3 EXT-X-PRELOAD-HINT, TYPE=PART."""

    uri: str

    def __post_init__(self) -> None:
        check_quoted("preload hint URI", self.uri)

    def render(self) -> str:
        return f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.uri}"'


@dataclass(frozen=True, slots=True)
class RenditionReport:
    """Where another rendition stands: RFC 8216bis, 4.4.5.4 EXT-X-RENDITION-REPORT."""

    uri: str  # the other rendition's media playlist, relative to this one
    last_msn: int
    last_part: int

    def __post_init__(self) -> None:
        check_quoted("rendition report URI", self.uri)
        check_count("LAST-MSN", self.last_msn)
        check_count("LAST-PART", self.last_part)

    def render(self) -> str:
        return (
            f'#EXT-X-RENDITION-REPORT:URI="{self.uri}",'
            f"LAST-MSN={self.last_msn},LAST-PART={self.last_part}"
        )


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A media playlist, RFC 8216bis, 4.4.3 to 4.4.5.

    ``part_target`` None means no LL-HLS tags (then no parts and no preload hint either).
    ``can_skip_until`` enables delta updates (RFC 8216bis, 6.2.5.1); the spec wants it at
    least six target durations. ``part_hold_back`` must be at least three part targets
    (RFC 8216bis, 4.4.3.8); None with a part target renders exactly three.

    When the first segment's ``msn`` is above ``media_sequence``, the playlist is a delta
    update whose segments in between were skipped (``playlist_parser.parse_media`` returns
    delta updates that way) and ``render_media`` writes EXT-X-SKIP for them.

    ``trailing_discontinuity`` and ``trailing_map_uri`` belong to the segment in progress,
    whose parts are ``trailing_parts``: after a publisher reconnects, its first parts follow
    an EXT-X-DISCONTINUITY and a new EXT-X-MAP before any segment of the new session is
    complete. ``trailing_map_uri`` None keeps the map of the last segment in force.
    """

    target_duration: int  # the rounded-up longest segment produced (RFC 8216bis, 4.4.3.1)
    part_target: float | None
    media_sequence: int
    discontinuity_sequence: int
    segments: tuple[Segment, ...]
    trailing_parts: tuple[Part, ...]
    preload_hint: PreloadHint | None
    rendition_reports: tuple[RenditionReport, ...]
    ended: bool  # EXT-X-ENDLIST
    can_skip_until: float | None
    part_hold_back: float | None
    trailing_discontinuity: bool = False
    trailing_map_uri: str | None = None

    def __post_init__(self) -> None:
        check_count("target duration", self.target_duration)
        check_count("media sequence", self.media_sequence)
        check_count("discontinuity sequence", self.discontinuity_sequence)
        if self.part_target is not None:
            _check_seconds("part target", self.part_target, positive=True)
        if self.can_skip_until is not None:
            _check_seconds("CAN-SKIP-UNTIL", self.can_skip_until, positive=True)
        if self.part_hold_back is not None:
            _check_seconds("PART-HOLD-BACK", self.part_hold_back, positive=True)
        if self.trailing_map_uri is not None:
            check_quoted("EXT-X-MAP URI", self.trailing_map_uri)
        if (self.trailing_discontinuity or self.trailing_map_uri) and not self.trailing_parts:
            raise ValueError("trailing discontinuity and map need trailing parts")
        has_parts = bool(self.trailing_parts) or self.preload_hint is not None
        mapped = False
        previous: int | None = None
        for segment in self.segments:
            # Only the first segment may be ahead of media_sequence: past skipped ones.
            if previous is None:
                if segment.msn < self.media_sequence:
                    raise ValueError(f"segment {segment.msn} is before media_sequence")
            elif segment.msn != previous + 1:
                raise ValueError(f"segment {segment.msn} follows {previous}: not consecutive")
            previous = segment.msn
            if segment.map_uri is not None:
                mapped = True
            elif mapped:
                raise ValueError(f"segment {segment.msn} has no map after segments with one")
            if segment.parts:
                has_parts = True
        if has_parts and self.part_target is None:
            raise ValueError("parts and preload hints need a part target (EXT-X-PART-INF)")


def _server_control(pl: MediaPlaylist) -> str | None:
    """RFC 8216bis, 4.4.3.8 EXT-X-SERVER-CONTROL.

    Blocking reload (6.2.5.2) comes with the parts: golive's live window answers _HLS_msn and
    _HLS_part for low-latency playlists, and a PART-HOLD-BACK is required once the playlist
    has EXT-X-PART-INF.
    """
    attributes: list[str] = []
    hold_back = pl.part_hold_back
    if pl.part_target is not None:
        attributes.append("CAN-BLOCK-RELOAD=YES")
        if hold_back is None:
            # Three times the target as written, so rounding cannot put it below 3x.
            hold_back = 3 * round(pl.part_target, 5)
    if hold_back is not None:
        attributes.append(f"PART-HOLD-BACK={hold_back:.5f}")
    if pl.can_skip_until is not None:
        attributes.append(f"CAN-SKIP-UNTIL={pl.can_skip_until:.5f}")
    if not attributes:
        return None
    return "#EXT-X-SERVER-CONTROL:" + ",".join(attributes)


def _skippable(segments: tuple[Segment, ...], boundary: float) -> int:
    """How many leading segments lie wholly before the Skip Boundary (RFC 8216bis, 6.2.5.1).

    A segment is skipped when it ends at least ``boundary`` seconds before the end of the
    last complete segment, so what stays listed covers at least ``boundary`` seconds. The
    trailing parts do not count: measuring from an earlier end skips fewer segments, which
    is the safe side. The last segment is always listed.
    """
    remaining = 0.0
    for segment in segments:
        remaining += segment.duration
    skipped = 0
    for index in range(len(segments) - 1):
        duration = segments[index].duration
        if remaining - duration < boundary:
            break
        remaining -= duration
        skipped += 1
    return skipped


def render_media(pl: MediaPlaylist, skip: bool = False) -> str:
    """The text of a media playlist (RFC 8216bis, 4.4.3 to 4.4.5).

    ``skip=True`` answers ``_HLS_skip=YES`` with a Playlist Delta Update (RFC 8216bis,
    6.2.5.1): the segments older than the Skip Boundary (``can_skip_until`` seconds before
    the end) are replaced by ``EXT-X-SKIP:SKIPPED-SEGMENTS=N`` and the version becomes 9
    (RFC 8216bis, 7). EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE keep the values
    of the full playlist: both describe its first segment, the first one skipped, and
    clients (hls.js among them) take the discontinuity count of the skipped segments from
    their previous copy. Nothing is skipped when ``can_skip_until`` is None or when no
    segment is old enough; then the full playlist is the answer, which 6.2.5.1 allows.
    """
    segments = pl.segments
    skipped = segments[0].msn - pl.media_sequence if segments else 0
    if skip and pl.can_skip_until is not None:
        first = _skippable(segments, pl.can_skip_until)
        if first:
            skipped += first
            segments = segments[first:]

    # RFC 8216bis, 7: the lowest version the features in use need.
    if skipped:
        version = 9
    elif (segments and segments[-1].map_uri is not None) or pl.trailing_map_uri is not None:
        version = 6  # a map always stays in force once given, so the last segment tells
    else:
        version = 3

    out = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{pl.target_duration}",
    ]
    server_control = _server_control(pl)
    if server_control is not None:
        out.append(server_control)
    if pl.part_target is not None:
        out.append(f"#EXT-X-PART-INF:PART-TARGET={pl.part_target:.5f}")  # 4.4.3.7
    out.append(f"#EXT-X-MEDIA-SEQUENCE:{pl.media_sequence}")  # 4.4.3.2
    if pl.discontinuity_sequence:
        # 4.4.3.3: absent means 0, so it is written only once a discontinuity slid out.
        out.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{pl.discontinuity_sequence}")
    if skipped:
        # 4.4.5.2; the EXT-X-MAP of the first segment listed follows, so a client never has
        # to dig the map of the skipped segments out of its previous copy.
        out.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")

    map_in_force: str | None = None
    for segment in segments:
        out.append(segment.render(map_in_force))
        map_in_force = segment.map_uri

    if pl.trailing_parts:
        if pl.trailing_discontinuity:
            out.append("#EXT-X-DISCONTINUITY")
        if pl.trailing_map_uri is not None and pl.trailing_map_uri != map_in_force:
            out.append(_map_line(pl.trailing_map_uri))
        out.extend(part.render() for part in pl.trailing_parts)
    # A hint at a part that will never come would hold a client's request open: an ended
    # playlist has none.
    if pl.preload_hint is not None and not pl.ended:
        out.append(pl.preload_hint.render())
    out.extend(report.render() for report in pl.rendition_reports)
    if pl.ended:
        out.append("#EXT-X-ENDLIST")  # 4.4.3.4
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# Multivariant playlist.


@dataclass(frozen=True, slots=True)
class Variant:
    """One variant stream, RFC 8216bis, 4.4.6.2 EXT-X-STREAM-INF.

    ``codecs`` is the RFC 6381 list (empty: the attribute is left out). ``name`` is written
    as a NAME attribute, which RFC 8216bis defines for EXT-X-MEDIA only: hls.js reads it
    into ``Level.name`` for the quality menu, and other clients ignore attributes they do
    not know (RFC 8216bis, 6.3.1).
    """

    uri: str
    bandwidth: int  # peak bits per second
    average_bandwidth: int | None
    codecs: str
    resolution: tuple[int, int] | None  # width, height
    frame_rate: float | None
    name: str | None = None

    def __post_init__(self) -> None:
        _check_uri_line("variant URI", self.uri)
        check_count("BANDWIDTH", self.bandwidth)
        if self.average_bandwidth is not None:
            check_count("AVERAGE-BANDWIDTH", self.average_bandwidth)
        if self.codecs:
            check_quoted("CODECS", self.codecs)
        if self.resolution is not None:
            width, height = self.resolution
            if not (0 < width < 1 << 32 and 0 < height < 1 << 32):
                raise ValueError(f"bad resolution {self.resolution!r}")
        if self.frame_rate is not None:
            _check_seconds("FRAME-RATE", self.frame_rate, positive=True)
        if self.name is not None:
            check_quoted("NAME", self.name)

    def render(self) -> str:
        attributes = [f"BANDWIDTH={self.bandwidth}"]
        if self.average_bandwidth is not None:
            attributes.append(f"AVERAGE-BANDWIDTH={self.average_bandwidth}")
        if self.codecs:
            attributes.append(f'CODECS="{self.codecs}"')
        if self.resolution is not None:
            attributes.append(f"RESOLUTION={self.resolution[0]}x{self.resolution[1]}")
        if self.frame_rate is not None:
            attributes.append(f"FRAME-RATE={self.frame_rate:.3f}")
        if self.name is not None:
            attributes.append(f'NAME="{self.name}"')
        return f"#EXT-X-STREAM-INF:{','.join(attributes)}\n{self.uri}"


@dataclass(frozen=True, slots=True)
class MultivariantPlaylist:
    """A multivariant playlist, RFC 8216bis, 4.4.6; variants in playback preference order."""

    variants: tuple[Variant, ...]


def render_multivariant(pl: MultivariantPlaylist) -> str:
    """The text of a multivariant playlist (RFC 8216bis, 4.4.6).

    No EXT-X-VERSION: nothing here needs more than version 1 (RFC 8216bis, 4.4.1.2 and 7),
    and each media playlist states its own.
    """
    # No EXT-X-INDEPENDENT-SEGMENTS (RFC 8216bis, 4.4.2.1) here or in media playlists: a
    # keyframe interval longer than the target duration is split into a segment that starts
    # without a keyframe rather than losing frames, and the tag cannot come and go (6.2.1).
    # Parts say which of them start with one (INDEPENDENT=YES), which is what LL-HLS
    # players start from.
    out = ["#EXTM3U"]
    out.extend(variant.render() for variant in pl.variants)
    out.append("")
    return "\n".join(out)
