"""Playlists written by hand, as models and as the exact text golive renders for them: shared
by the rendering tests and the parser tests. Plain data and builders, no tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from golive.hls.playlist import (
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    PreloadHint,
    RenditionReport,
    Segment,
    Variant,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def segment(
    msn: int,
    duration: float = 2.0,
    *,
    parts: tuple[Part, ...] = (),
    pdt: datetime | None = None,
    discontinuity: bool = False,
    map_uri: str | None = "init.mp4",
) -> Segment:
    return Segment(msn, f"seg{msn}.m4s", duration, parts, pdt, discontinuity, map_uri)


def playlist(segments: tuple[Segment, ...], **changes: object) -> MediaPlaylist:
    """A plain (not low-latency) live playlist of ``segments``, with ``changes`` applied."""
    base = MediaPlaylist(
        target_duration=2,
        part_target=None,
        media_sequence=segments[0].msn if segments else 0,
        discontinuity_sequence=0,
        segments=segments,
        trailing_parts=(),
        preload_hint=None,
        rendition_reports=(),
        ended=False,
        can_skip_until=None,
        part_hold_back=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def version_of(text: str) -> int:
    (line,) = [line for line in text.splitlines() if line.startswith("#EXT-X-VERSION:")]
    return int(line.partition(":")[2])


LL_PLAYLIST = MediaPlaylist(
    target_duration=2,
    part_target=0.5,
    media_sequence=120,
    discontinuity_sequence=0,
    segments=(
        segment(120, pdt=T0),
        segment(
            121,
            1.96667,
            pdt=T0 + timedelta(seconds=2),
            parts=(
                Part("seg121.0.m4s", 0.5, True),
                Part("seg121.1.m4s", 0.5, False),
                Part("seg121.2.m4s", 0.5, False),
                Part("seg121.3.m4s", 0.46667, False),
            ),
        ),
    ),
    trailing_parts=(Part("seg122.0.m4s", 0.5, True), Part("seg122.1.m4s", 0.5, False)),
    preload_hint=PreloadHint("seg122.2.m4s"),
    rendition_reports=(RenditionReport("../360p/index.m3u8", 122, 1),),
    ended=False,
    can_skip_until=12.0,
    part_hold_back=1.5,
)

LL_TEXT = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000,CAN-SKIP-UNTIL=12.00000
#EXT-X-PART-INF:PART-TARGET=0.50000
#EXT-X-MEDIA-SEQUENCE:120
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.00000,
seg120.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXT-X-PART:DURATION=0.50000,URI="seg121.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI="seg121.1.m4s"
#EXT-X-PART:DURATION=0.50000,URI="seg121.2.m4s"
#EXT-X-PART:DURATION=0.46667,URI="seg121.3.m4s"
#EXTINF:1.96667,
seg121.m4s
#EXT-X-PART:DURATION=0.50000,URI="seg122.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI="seg122.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg122.2.m4s"
#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=122,LAST-PART=1
"""


# Ten 2 s segments; the third starts a new session (discontinuity, new map); one
# discontinuity slid out of the window before.
WINDOW = playlist(
    tuple(
        segment(
            100 + i,
            discontinuity=i == 2,
            map_uri="init-a.mp4" if i < 2 else "init-b.mp4",
        )
        for i in range(10)
    ),
    discontinuity_sequence=3,
    can_skip_until=12.0,
)

WINDOW_HEAD = """\
#EXTM3U
#EXT-X-VERSION:{version}
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=12.00000
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-DISCONTINUITY-SEQUENCE:3
"""
WINDOW_TAIL = "".join(f"#EXTINF:2.00000,\nseg{msn}.m4s\n" for msn in range(105, 110))

WINDOW_FULL = (
    WINDOW_HEAD.format(version=6)
    + """\
#EXT-X-MAP:URI="init-a.mp4"
#EXTINF:2.00000,
seg100.m4s
#EXTINF:2.00000,
seg101.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-b.mp4"
#EXTINF:2.00000,
seg102.m4s
#EXTINF:2.00000,
seg103.m4s
#EXTINF:2.00000,
seg104.m4s
"""
    + WINDOW_TAIL
)

# 6.2.5.1: the four oldest segments (8 s) end at least 12 s before the end, the fifth
# does not. The discontinuity and both maps go with the skipped ones, the map in force is
# stated again, and both sequence numbers stay those of the full playlist.
WINDOW_DELTA = (
    WINDOW_HEAD.format(version=9)
    + """\
#EXT-X-SKIP:SKIPPED-SEGMENTS=4
#EXT-X-MAP:URI="init-b.mp4"
#EXTINF:2.00000,
seg104.m4s
"""
    + WINDOW_TAIL
)


RECONNECT = MediaPlaylist(
    target_duration=2,
    part_target=0.5,
    media_sequence=50,
    discontinuity_sequence=0,
    segments=(
        segment(50, pdt=T0, map_uri="init-1.mp4"),
        segment(
            51,
            1.0,
            pdt=T0 + timedelta(seconds=2),
            map_uri="init-1.mp4",
            parts=(Part("seg51.0.m4s", 0.5, True), Part("seg51.1.m4s", 0.5, False)),
        ),
    ),
    # The publisher came back with another resolution: the new session's first parts.
    trailing_parts=(Part("seg52.0.m4s", 0.5, True),),
    preload_hint=PreloadHint("seg52.1.m4s"),
    rendition_reports=(),
    ended=False,
    can_skip_until=None,
    part_hold_back=None,
    trailing_discontinuity=True,
    trailing_map_uri="init-2.mp4",
)

RECONNECT_TEXT = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000
#EXT-X-PART-INF:PART-TARGET=0.50000
#EXT-X-MEDIA-SEQUENCE:50
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.00000,
seg50.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXT-X-PART:DURATION=0.50000,URI="seg51.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI="seg51.1.m4s"
#EXTINF:1.00000,
seg51.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-2.mp4"
#EXT-X-PART:DURATION=0.50000,URI="seg52.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg52.1.m4s"
"""


# The low-latency playlist once the stream ended. The preload hint is left out of the text:
# that part will never exist.
ENDED = dataclasses.replace(
    LL_PLAYLIST,
    segments=LL_PLAYLIST.segments[:1],
    trailing_parts=(),
    rendition_reports=(),
    ended=True,
)

ENDED_TEXT = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000,CAN-SKIP-UNTIL=12.00000
#EXT-X-PART-INF:PART-TARGET=0.50000
#EXT-X-MEDIA-SEQUENCE:120
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.00000,
seg120.m4s
#EXT-X-ENDLIST
"""


MULTIVARIANT = MultivariantPlaylist(
    (
        Variant(
            "source/index.m3u8",
            6_000_000,
            4_500_000,
            "avc1.64002a,mp4a.40.2",
            (1920, 1080),
            29.97,
            "source",
        ),
        Variant("720p/index.m3u8", 3_000_000, 2_500_000, "avc1.64001f,mp4a.40.2", (1280, 720), 30),
        Variant("audio/index.m3u8", 160_000, None, "mp4a.40.2", None, None),
    )
)

MULTIVARIANT_TEXT = """\
#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=6000000,AVERAGE-BANDWIDTH=4500000,CODECS="avc1.64002a,mp4a.40.2",\
RESOLUTION=1920x1080,FRAME-RATE=29.970,NAME="source"
source/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,CODECS="avc1.64001f,mp4a.40.2",\
RESOLUTION=1280x720,FRAME-RATE=30.000
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2"
audio/index.m3u8
"""
