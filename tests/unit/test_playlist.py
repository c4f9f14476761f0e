"""HLS playlists: exact texts, per-feature versions, round trips, malformed input, ffmpeg."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import pickle
import struct
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.hls.playlist import (
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    PlaylistError,
    PreloadHint,
    RenditionReport,
    Segment,
    Variant,
    parse_media,
    parse_multivariant,
    render_media,
    render_multivariant,
)
from tests.harness.paths import require

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


# ---------------------------------------------------------------------------------------
# Exact texts, written by hand.

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
#EXT-X-INDEPENDENT-SEGMENTS
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


def test_low_latency_playlist_exact_text() -> None:
    assert render_media(LL_PLAYLIST) == LL_TEXT
    assert parse_media(LL_TEXT) == LL_PLAYLIST


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
#EXT-X-INDEPENDENT-SEGMENTS
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


def test_discontinuity_and_new_map_exact_text() -> None:
    assert render_media(WINDOW) == WINDOW_FULL
    assert parse_media(WINDOW_FULL) == WINDOW


def test_delta_update_exact_text() -> None:
    assert render_media(WINDOW, skip=True) == WINDOW_DELTA
    delta = parse_media(WINDOW_DELTA)
    assert delta.media_sequence == 100
    assert delta.discontinuity_sequence == 3
    assert delta.segments == WINDOW.segments[4:]
    # A parsed delta update renders back to itself.
    assert render_media(delta) == WINDOW_DELTA


def test_delta_update_only_when_possible() -> None:
    # No CAN-SKIP-UNTIL: never skip. Nothing old enough: the full playlist is the answer.
    no_skip = dataclasses.replace(WINDOW, can_skip_until=None)
    assert render_media(no_skip, skip=True) == render_media(no_skip)
    short = dataclasses.replace(WINDOW, can_skip_until=20.0)
    assert render_media(short, skip=True) == render_media(short)
    assert "#EXT-X-SKIP" not in render_media(short, skip=True)
    # Exactly on the boundary: the segment that ends 12 s before the end is skipped.
    assert "SKIPPED-SEGMENTS=4\n" in render_media(WINDOW, skip=True)
    just_over = dataclasses.replace(WINDOW, can_skip_until=12.00001)
    assert "SKIPPED-SEGMENTS=3\n" in render_media(just_over, skip=True)


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
#EXT-X-INDEPENDENT-SEGMENTS
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


def test_reconnect_before_the_first_new_segment_exact_text() -> None:
    # PART-HOLD-BACK defaults to three part targets (4.4.3.8).
    assert render_media(RECONNECT) == RECONNECT_TEXT
    assert parse_media(RECONNECT_TEXT) == dataclasses.replace(RECONNECT, part_hold_back=1.5)


def test_ended_playlist_exact_text() -> None:
    ended = dataclasses.replace(
        LL_PLAYLIST,
        segments=LL_PLAYLIST.segments[:1],
        trailing_parts=(),
        rendition_reports=(),
        ended=True,
    )
    # The preload hint is left out: that part will never exist.
    assert render_media(ended) == (
        """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
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
    )
    assert parse_media(render_media(ended)) == dataclasses.replace(ended, preload_hint=None)


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
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=6000000,AVERAGE-BANDWIDTH=4500000,CODECS="avc1.64002a,mp4a.40.2",\
RESOLUTION=1920x1080,FRAME-RATE=29.970,NAME="source"
source/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,CODECS="avc1.64001f,mp4a.40.2",\
RESOLUTION=1280x720,FRAME-RATE=30.000
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2"
audio/index.m3u8
"""


def test_multivariant_exact_text() -> None:
    # The caller's order is kept: the first variant is where hls.js starts.
    assert render_multivariant(MULTIVARIANT) == MULTIVARIANT_TEXT
    assert parse_multivariant(MULTIVARIANT_TEXT) == MULTIVARIANT


# ---------------------------------------------------------------------------------------
# EXT-X-VERSION per feature (RFC 8216bis, 7).

PLAIN = playlist((segment(0, map_uri=None), segment(1, map_uri=None)))


@pytest.mark.parametrize(
    ("pl", "skip", "version"),
    [
        # Floating-point EXTINF: 3.
        (PLAIN, False, 3),
        # LL-HLS tags alone raise nothing.
        (
            dataclasses.replace(
                PLAIN,
                part_target=0.5,
                part_hold_back=1.5,
                trailing_parts=(Part("p.m4s", 0.5, True),),
                preload_hint=PreloadHint("q.m4s"),
                rendition_reports=(RenditionReport("r.m3u8", 1, 0),),
            ),
            False,
            3,
        ),
        # EXT-X-MAP without EXT-X-I-FRAMES-ONLY: 6.
        (WINDOW, False, 6),
        (LL_PLAYLIST, False, 6),
        (RECONNECT, False, 6),
        # A map for the trailing parts only counts too.
        (
            dataclasses.replace(
                PLAIN,
                part_target=0.5,
                trailing_parts=(Part("p.m4s", 0.5, True),),
                trailing_map_uri="init.mp4",
            ),
            False,
            6,
        ),
        # EXT-X-SKIP: 9.
        (WINDOW, True, 9),
        (dataclasses.replace(PLAIN, can_skip_until=2.0), True, 9),
        # Asked to skip, but nothing is skipped: no EXT-X-SKIP, no 9.
        (dataclasses.replace(PLAIN, can_skip_until=4.0), True, 3),
    ],
)
def test_version_per_feature(pl: MediaPlaylist, skip: bool, version: int) -> None:
    assert version_of(render_media(pl, skip=skip)) == version


# ---------------------------------------------------------------------------------------
# What other servers write.


def test_parse_real_world_variants() -> None:
    text = (
        "#EXTM3U\r\n"
        "#EXT-X-VERSION:7\r\n"
        "#EXT-X-TARGETDURATION:4.0\r\n"
        "#EXT-X-PLAYLIST-TYPE:EVENT\r\n"
        "# a comment\r\n"
        '#EXT-X-MAP:URI="init_0.mp4"\r\n'
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T14:00:00.5+02:00\r\n"
        "#EXTINF:4.004,\t\r\n"
        "chunk_7.m4s\r\n"
        "\r\n"
        "#EXT-X-BITRATE:800\r\n"
        '#EXT-X-DATERANGE:ID="ad",START-DATE="2024-05-01T12:00:04Z"\r\n'
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.004\r\n"
        "#EXTINF:3.987\r\n"
        "chunk_8.m4s\r\n"
        "#EXT-X-KEY:METHOD=NONE\r\n"
        "#EXT-X-GAP\r\n"
        "#EXTINF:4,no title needed\r\n"
        "chunk_9.m4s\r\n"
        # Numbers are given out at the end, so a late EXT-X-MEDIA-SEQUENCE still counts.
        "#EXT-X-MEDIA-SEQUENCE:7\r\n"
        '#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="init_1.mp4"\r\n'
        "#EXT-X-SOMETHING-NEW:WHATEVER=1\r\n"
    )
    pl = parse_media(text)
    assert pl.target_duration == 4
    assert pl.media_sequence == 7
    assert [(s.msn, s.uri, s.duration, s.map_uri) for s in pl.segments] == [
        (7, "chunk_7.m4s", 4.004, "init_0.mp4"),
        (8, "chunk_8.m4s", 3.987, "init_0.mp4"),
        (9, "chunk_9.m4s", 4.0, "init_0.mp4"),
    ]
    assert pl.segments[0].program_date_time == datetime(2024, 5, 1, 12, 0, 0, 500000, UTC)
    # No offset: read as UTC.
    assert pl.segments[1].program_date_time == datetime(2024, 5, 1, 12, 0, 4, 4000, UTC)
    assert pl.part_target is None and pl.preload_hint is None and not pl.ended


def test_parse_low_latency_delta_update_from_another_server() -> None:
    text = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=12.0,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=24.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:300
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.00008,
fileSequence303.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart304.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart304.1.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart304.2.mp4"
#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=304,LAST-PART=1
"""
    pl = parse_media(text)
    assert pl.segments[0].msn == 303
    assert pl.part_target == 0.33334 and pl.part_hold_back == 1.0 and pl.can_skip_until == 24.0
    assert [p.uri for p in pl.trailing_parts] == ["filePart304.0.mp4", "filePart304.1.mp4"]
    assert pl.preload_hint == PreloadHint("filePart304.2.mp4")
    assert pl.rendition_reports == (RenditionReport("../1M/waitForMSN.php", 304, 1),)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n" in render_media(pl)


def test_parse_real_world_multivariant() -> None:
    text = (
        "#EXTM3U\r\n"
        "#EXT-X-VERSION:6\r\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\r\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",DEFAULT=YES,URI="a.m3u8"\r\n'
        "#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=2500000, AVERAGE-BANDWIDTH=2000000,"
        'CODECS="avc1.64001f,mp4a.40.2" ,RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="aud"\r\n'
        "# a comment between the tag and its URI\r\n"
        "720p/index.m3u8\r\n"
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframes.m3u8"\r\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=500000\r\n"
        "360p.m3u8\r\n"
    )
    assert parse_multivariant(text) == MultivariantPlaylist(
        (
            Variant(
                "720p/index.m3u8",
                2_500_000,
                2_000_000,
                "avc1.64001f,mp4a.40.2",
                (1280, 720),
                29.97,
            ),
            Variant("360p.m3u8", 500_000, None, "", None, None),
        )
    )


# ---------------------------------------------------------------------------------------
# Malformed input: PlaylistError, naming the line.

GOOD_HEAD = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "#EXTM3U"),
        ("\ufeff#EXTM3U\n#EXT-X-TARGETDURATION:2\n", 1, "#EXTM3U"),
        ("#EXTM3U\n#EXTINF:2,\nseg.m4s\n", 3, "TARGETDURATION is required"),
        (GOOD_HEAD + "seg.m4s\n", 3, "without EXTINF"),
        (GOOD_HEAD + "#EXTINF:2,\n", 3, "without a URI"),
        (GOOD_HEAD + "#EXTINF:2,\n#EXTINF:2,\nseg.m4s\n", 4, "two EXTINF"),
        (GOOD_HEAD + "#EXTINF:two,\nseg.m4s\n", 3, "decimal-floating-point"),
        (GOOD_HEAD + "#EXTINF:-1,\nseg.m4s\n", 3, "decimal-floating-point"),
        (GOOD_HEAD + "#EXTINF:nan,\nseg.m4s\n", 3, "decimal-floating-point"),
        (GOOD_HEAD + "#EXT-X-MEDIA-SEQUENCE:1_000\n", 3, "decimal-integer"),
        (GOOD_HEAD + "#EXT-X-MEDIA-SEQUENCE:99999999999999999999\n", 3, "decimal-integer"),
        (GOOD_HEAD + "#EXT-X-TARGETDURATION:3\n", 3, "appears twice"),
        (GOOD_HEAD + "#EXT-X-ENDLIST:YES\n", 3, "takes no value"),
        (GOOD_HEAD + '#EXT-X-MAP:URI="a",URI="b"\n', 3, "appears twice"),
        (GOOD_HEAD + "#EXT-X-MAP:URI=init.mp4\n", 3, "quoted-string"),
        (GOOD_HEAD + '#EXT-X-MAP:URI="in"it"\n', 3, "malformed attribute list"),
        (GOOD_HEAD + '#EXT-X-MAP:URI="init.mp4",BYTERANGE="600@0"\n', 3, "byte ranges"),
        (GOOD_HEAD + "#EXT-X-BYTERANGE:600@0\n", 3, "byte ranges"),
        (GOOD_HEAD + '#EXT-X-KEY:METHOD=AES-128,URI="k"\n', 3, "encrypted"),
        (GOOD_HEAD + "#EXT-X-I-FRAMES-ONLY\n", 3, "I-frame"),
        (GOOD_HEAD + '#EXT-X-DEFINE:NAME="a",VALUE="b"\n', 3, "EXT-X-DEFINE"),
        (GOOD_HEAD + "#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", 3, "multivariant"),
        (GOOD_HEAD + "#EXT-X-PROGRAM-DATE-TIME:yesterday\n", 3, "date-time"),
        (GOOD_HEAD + "#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59-01:00\n", 3, "date-time"),
        (GOOD_HEAD + '#EXT-X-PART:DURATION=0.5,URI="p"\n#EXTINF:2,\ns\n', 5, "part target"),
        (GOOD_HEAD + '#EXT-X-PART:URI="p"\n', 3, "DURATION is required"),
        (GOOD_HEAD + '#EXT-X-PART:DURATION=0.5,URI="p",INDEPENDENT=MAYBE\n', 3, "YES or NO"),
        (GOOD_HEAD + "#EXT-X-PART-INF:PART-TARGET=0\n", 3, "positive"),
        (GOOD_HEAD + '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a"\n' * 2, 4, "two EXT-X-PRELOAD"),
        (GOOD_HEAD + '#EXT-X-RENDITION-REPORT:URI="r",LAST-MSN=3\n', 3, "LAST-PART"),
        (GOOD_HEAD + "#EXTINF:2,\ns\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n", 5, "before the first"),
        (GOOD_HEAD + "#EXT-X-SKIP:SKIPPED=1\n", 3, "SKIPPED-SEGMENTS is required"),
        (GOOD_HEAD + "#EXTINF:2,\nseg\x01.m4s\n", 4, "control character"),
        (GOOD_HEAD + "#EXTINF:2,\nseg\r.m4s\n", 4, "control character"),
        (GOOD_HEAD + '#EXT-X-MAP:URI="a\tb"\n', 3, "quoted-string"),
        (GOOD_HEAD + '#EXT-X-MAP:URI="a"\n#EXTINF:2,\ns\n#EXT-X-MAP:URI=""\n', 6, "quoted"),
    ],
)
def test_parse_media_rejects(text: str, line: int, words: str) -> None:
    with pytest.raises(PlaylistError, match=f"^line {line}: .*{words}") as caught:
        parse_media(text)
    assert caught.value.line == line
    assert pickle.loads(pickle.dumps(caught.value)).args == caught.value.args


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("#EXTM3\n", 1, "#EXTM3U"),
        ("#EXTM3U\n", 1, "no EXT-X-STREAM-INF"),
        ("#EXTM3U\nv.m3u8\n", 2, "without EXT-X-STREAM-INF"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", 2, "without a URI"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\n", 3, "URI"),
        ('#EXTM3U\n#EXT-X-STREAM-INF:CODECS="a"\nv.m3u8\n', 2, "BANDWIDTH is required"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280*720\nv\n", 2, "RESOLUTION"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,FRAME-RATE=0\nv\n", 2, "positive"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n", 2, "media playlist"),
        ("#EXTM3U\n#EXTINF:2,\n", 2, "media playlist"),
    ],
)
def test_parse_multivariant_rejects(text: str, line: int, words: str) -> None:
    with pytest.raises(PlaylistError, match=f"^line {line}: .*{words}") as caught:
        parse_multivariant(text)
    assert caught.value.line == line


# ---------------------------------------------------------------------------------------
# The models refuse what cannot be rendered (ValueError: the caller's mistake).


@pytest.mark.parametrize(
    "build",
    [
        lambda: Part('a"b', 0.5, False),
        lambda: Part("p.m4s", -0.5, False),
        lambda: Part("p.m4s", math.inf, False),
        lambda: Segment(0, "#seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, " seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, "seg\n.m4s", 2.0, (), None, False, None),
        lambda: Segment(-1, "seg.m4s", 2.0, (), None, False, None),
        lambda: Segment(0, "seg.m4s", 2.0, (), datetime(2024, 1, 1), False, None),
        lambda: PreloadHint(""),
        lambda: RenditionReport("r", 1, -1),
        lambda: Variant("v.m3u8", 1, None, 'a"', None, None),
        lambda: Variant("v.m3u8", 1, None, "", (0, 720), None),
        # Consecutive numbers from media_sequence on.
        lambda: playlist((segment(1), segment(3))),
        lambda: playlist((segment(1),), media_sequence=2),
        # Parts need a part target; trailing tags need trailing parts.
        lambda: playlist((segment(0, parts=(Part("p", 0.5, True),)),)),
        lambda: playlist((segment(0),), preload_hint=PreloadHint("p")),
        lambda: playlist((segment(0),), part_target=0.5, trailing_discontinuity=True),
        # A map cannot be taken back.
        lambda: playlist((segment(0), segment(1, map_uri=None))),
    ],
)
def test_models_refuse_what_cannot_be_rendered(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert not isinstance(caught.value, PlaylistError)


def test_date_times_are_kept_in_utc_and_rendered_to_the_millisecond() -> None:
    paris = timezone(timedelta(hours=2))
    seg = segment(0, pdt=datetime(2024, 5, 1, 14, 0, 0, 123999, tzinfo=paris))
    assert seg.program_date_time == datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC)
    assert seg.program_date_time is not None and seg.program_date_time.tzinfo is UTC
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.123Z\n" in render_media(playlist((seg,)))


# ---------------------------------------------------------------------------------------
# Properties.

# Strings that fit a quoted-string and a URI line (RFC 8216bis, 4.1 and 4.2).
quoted_strings = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"'),
    min_size=1,
    max_size=12,
)
line_uris = quoted_strings.filter(lambda s: s[0] != "#" and s == s.strip())
# Durations as the renderer writes them: five decimals.
seconds = st.integers(0, 10_000_000).map(lambda n: n / 100_000)
positive_seconds = st.integers(1, 10_000_000).map(lambda n: n / 100_000)
counts = st.integers(0, 2**40)
date_times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
parts = st.builds(Part, quoted_strings, seconds, st.booleans())


@st.composite
def media_playlists(draw: st.DrawFn) -> MediaPlaylist:
    """Playlists as the muxer builds them, in the form parse_media gives back."""
    low_latency = draw(st.booleans())
    part_lists = st.lists(parts, max_size=4) if low_latency else st.just([])
    media_sequence = draw(counts)
    count = draw(st.integers(0, 8))
    first_mapped = draw(st.integers(0, count))
    map_uri: str | None = None
    segments = []
    for index in range(count):
        if index >= first_mapped and (map_uri is None or draw(st.booleans())):
            map_uri = draw(quoted_strings)
        segments.append(
            Segment(
                media_sequence + index,
                draw(line_uris),
                draw(seconds),
                tuple(draw(part_lists)),
                draw(st.none() | date_times),
                draw(st.booleans()),
                map_uri,
            )
        )
    trailing = tuple(draw(part_lists))
    trailing_map = draw(st.none() | quoted_strings) if trailing else None
    ended = draw(st.booleans())
    return MediaPlaylist(
        target_duration=draw(st.integers(0, 100)),
        part_target=draw(positive_seconds) if low_latency else None,
        media_sequence=media_sequence,
        discontinuity_sequence=draw(counts),
        segments=tuple(segments),
        trailing_parts=trailing,
        preload_hint=(
            draw(st.none() | st.builds(PreloadHint, quoted_strings))
            if low_latency and not ended
            else None
        ),
        rendition_reports=tuple(
            draw(st.lists(st.builds(RenditionReport, quoted_strings, counts, counts), max_size=2))
        ),
        ended=ended,
        can_skip_until=draw(st.none() | positive_seconds),
        part_hold_back=draw(positive_seconds if low_latency else st.none() | positive_seconds),
        trailing_discontinuity=bool(trailing) and draw(st.booleans()),
        trailing_map_uri=None if trailing_map == map_uri else trailing_map,
    )


@given(media_playlists())
def test_media_round_trip(pl: MediaPlaylist) -> None:
    text = render_media(pl)
    assert parse_media(text) == pl
    assert render_media(parse_media(text)) == text
    expected = 6 if "#EXT-X-MAP:" in text else 3
    assert version_of(text) == expected


@given(media_playlists())
def test_delta_update_round_trip(pl: MediaPlaylist) -> None:
    text = render_media(pl, skip=True)
    delta = parse_media(text)
    assert render_media(delta) == text
    # Everything but the skipped segments is there, unchanged.
    kept = len(delta.segments)
    assert delta.segments == pl.segments[len(pl.segments) - kept :]
    assert dataclasses.replace(delta, segments=pl.segments) == pl
    skipped = len(pl.segments) - kept
    assert version_of(text) == (9 if skipped else 6 if "#EXT-X-MAP:" in text else 3)
    if skipped:
        assert pl.can_skip_until is not None
        assert f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}\n" in text
        # What stays covers the Skip Boundary, and one more skipped segment would not.
        listed = sum(s.duration for s in delta.segments)
        assert listed >= pl.can_skip_until - 1e-6
        assert kept == 1 or listed - delta.segments[0].duration < pl.can_skip_until + 1e-6
    else:
        assert text == render_media(pl)


variants = st.builds(
    Variant,
    line_uris,
    counts,
    st.none() | counts,
    st.just("") | quoted_strings,
    st.none() | st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)),
    st.none() | st.integers(1, 240_000).map(lambda n: n / 1000),
    st.none() | quoted_strings,
)


@given(st.lists(variants, min_size=1, max_size=5).map(tuple))
def test_multivariant_round_trip(variant_list: tuple[Variant, ...]) -> None:
    pl = MultivariantPlaylist(variant_list)
    text = render_multivariant(pl)
    assert parse_multivariant(text) == pl
    assert render_multivariant(parse_multivariant(text)) == text


TAGS = [
    "EXTINF",
    "EXT-X-VERSION",
    "EXT-X-TARGETDURATION",
    "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-DISCONTINUITY",
    "EXT-X-ENDLIST",
    "EXT-X-MAP",
    "EXT-X-PROGRAM-DATE-TIME",
    "EXT-X-PART",
    "EXT-X-PART-INF",
    "EXT-X-SERVER-CONTROL",
    "EXT-X-PRELOAD-HINT",
    "EXT-X-RENDITION-REPORT",
    "EXT-X-SKIP",
    "EXT-X-KEY",
    "EXT-X-STREAM-INF",
    "EXT-X-INDEPENDENT-SEGMENTS",
    "EXT-X-GAP",
]
VALUES = [
    "",
    "0",
    "2",
    "2.5",
    "4,",
    'URI="a"',
    'DURATION=0.5,URI="p"',
    'DURATION=0.5,URI="p",INDEPENDENT=YES',
    'TYPE=PART,URI="h"',
    'TYPE=MAP,URI="h"',
    "SKIPPED-SEGMENTS=2",
    "PART-TARGET=0.5",
    "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=6",
    'URI="r",LAST-MSN=1,LAST-PART=0',
    "METHOD=NONE",
    'BANDWIDTH=1,CODECS="a",RESOLUTION=2x2,FRAME-RATE=30',
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00.123456+05:30",
]
random_lines = st.one_of(
    st.builds(
        lambda tag, value: f"#{tag}:{value}",
        st.sampled_from(TAGS),
        st.sampled_from(VALUES) | st.text(max_size=12),
    ),
    st.sampled_from(TAGS).map(lambda tag: f"#{tag}"),
    st.text(max_size=12),
)
# Near-valid playlists: lines that parse on their own (the tags that may appear once at most
# once), with a random line now and then, so that the checks between tags get exercised.
ONCE_LINES = [
    "#EXT-X-VERSION:6",
    "#EXT-X-MEDIA-SEQUENCE:7",
    "#EXT-X-DISCONTINUITY-SEQUENCE:1",
    "#EXT-X-PART-INF:PART-TARGET=0.5",
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=6",
    "#EXT-X-SKIP:SKIPPED-SEGMENTS=2",
    "#EXT-X-ENDLIST",
    '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="h.m4s"',
]
BODY_LINES = [
    "#EXTINF:2,\nseg.m4s",
    "#EXTINF:1.5\nother.m4s",
    "#EXT-X-DISCONTINUITY",
    '#EXT-X-MAP:URI="init.mp4"',
    '#EXT-X-MAP:URI="init-2.mp4"',
    "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.123456+05:30",
    '#EXT-X-PART:DURATION=0.5,URI="p.m4s",INDEPENDENT=YES',
    '#EXT-X-PART:DURATION=0.25,URI="q.m4s"',
    '#EXT-X-RENDITION-REPORT:URI="r.m3u8",LAST-MSN=1,LAST-PART=0',
    '#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="init-3.mp4"',
    "#EXT-X-GAP",
    "# comment",
    "",
]
MULTIVARIANT_LINES = [
    '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a",RESOLUTION=2x2,FRAME-RATE=30\nv.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=2,NAME="n"\n# between\nw.m3u8',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en"',
    "#EXT-X-INDEPENDENT-SEGMENTS",
    "# comment",
]


def mixed(lines: list[str]) -> st.SearchStrategy[str]:
    return st.integers(0, 7).flatmap(lambda n: st.sampled_from(lines) if n else random_lines)


near_media = st.builds(
    lambda head, body: "\n".join(["#EXTM3U", "#EXT-X-TARGETDURATION:2", *head, *body]),
    st.lists(st.sampled_from(ONCE_LINES), unique=True),
    st.lists(mixed(BODY_LINES), max_size=20),
)
near_multivariant = st.lists(mixed(MULTIVARIANT_LINES), max_size=8).map(
    lambda lines: "\n".join(["#EXTM3U", *lines])
)
fuzz_texts = st.one_of(
    st.text(),
    st.text().map(lambda text: "#EXTM3U\n" + text),
    st.lists(random_lines, max_size=25).map(lambda lines: "\n".join(["#EXTM3U", *lines])),
    near_media,
    near_multivariant,
)


@settings(max_examples=400)
@given(fuzz_texts)
def test_parsers_raise_only_playlist_error(text: str) -> None:
    try:
        pl = parse_media(text)
    except PlaylistError:
        pass
    else:
        # Whatever parses renders, and one render is already a fixed point.
        once = render_media(pl)
        assert render_media(parse_media(once)) == once
        render_media(pl, skip=True)
    try:
        mv = parse_multivariant(text)
    except PlaylistError:
        pass
    else:
        assert parse_multivariant(render_multivariant(mv)) == mv


@given(media_playlists(), st.data())
def test_damaged_playlists_raise_only_playlist_error(
    pl: MediaPlaylist, data: st.DataObject
) -> None:
    text = render_media(pl)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.sampled_from(["", '"', ",", "\n", "=", "#", "x", "-", ":", "\x00"]))
    damaged = text[:at] + insert + text[at + cut :]
    with contextlib.suppress(PlaylistError):
        parse_media(damaged)


# ---------------------------------------------------------------------------------------
# A real client: ffmpeg's HLS demuxer (and PyAV's newer one) read a rendered playlist.

FPS = 10
FRAMES_PER_SEGMENT = 5


def write_fragmented_mp4(directory: Path) -> tuple[bytes, list[bytes]]:
    """A 2 s H.264 clip as fMP4, one fragment per frame: the init section and fragments."""
    path = directory / "clip.mp4"
    with av.open(
        str(path),
        "w",
        format="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof+frag_every_frame"},
    ) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={FRAMES_PER_SEGMENT}:min-keyint={FRAMES_PER_SEGMENT}"
            ":scenecut=0",
        }
        for index in range(4 * FRAMES_PER_SEGMENT):
            frame = av.VideoFrame(64, 64, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 12 % 256]) * plane.buffer_size)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    boxes: list[tuple[bytes, bytes]] = []
    position = 0
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        assert size >= 8, "64-bit box sizes are not expected here"
        boxes.append((kind, data[position : position + size]))
        position += size
    assert [kind for kind, _ in boxes[:2]] == [b"ftyp", b"moov"]
    fragments = [
        boxes[i][1] + boxes[i + 1][1] for i in range(2, len(boxes) - 1, 2) if boxes[i][0] == b"moof"
    ]
    return boxes[0][1] + boxes[1][1], fragments


def test_ffmpeg_reads_a_rendered_playlist(tmp_path: Path) -> None:
    ffmpeg = require("ffmpeg")
    init, fragments = write_fragmented_mp4(tmp_path)
    assert len(fragments) == 4 * FRAMES_PER_SEGMENT
    (tmp_path / "init-1.mp4").write_bytes(init)
    (tmp_path / "init-2.mp4").write_bytes(init)
    for index, fragment in enumerate(fragments):
        (tmp_path / f"part{index}.m4s").write_bytes(fragment)
    segments = []
    for msn in range(4):
        first = msn * FRAMES_PER_SEGMENT
        (tmp_path / f"seg{msn}.m4s").write_bytes(
            b"".join(fragments[first : first + FRAMES_PER_SEGMENT])
        )
        segments.append(
            Segment(
                msn,
                f"seg{msn}.m4s",
                FRAMES_PER_SEGMENT / FPS,
                # The last two segments keep their parts, a frame each.
                tuple(
                    Part(f"part{first + i}.m4s", 1 / FPS, i == 0) for i in range(FRAMES_PER_SEGMENT)
                )
                if msn >= 2
                else (),
                T0 + timedelta(seconds=msn * FRAMES_PER_SEGMENT / FPS),
                msn == 2,  # a publisher reconnect: discontinuity and a new map
                "init-1.mp4" if msn < 2 else "init-2.mp4",
            )
        )
    pl = MediaPlaylist(
        target_duration=1,
        part_target=1 / FPS,
        media_sequence=0,
        discontinuity_sequence=0,
        segments=tuple(segments),
        trailing_parts=(),
        preload_hint=None,
        rendition_reports=(RenditionReport("other.m3u8", 3, 4),),
        ended=True,
        can_skip_until=6.0,
        part_hold_back=None,
    )
    path = tmp_path / "index.m3u8"
    path.write_text(render_media(pl))

    result = subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-v",
            "error",
            "-i",
            str(path),
            "-c",
            "copy",
            "-f",
            "framecrc",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    packets = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert len(packets) == 4 * FRAMES_PER_SEGMENT

    with av.open(str(path)) as container:
        read = sum(1 for packet in container.demux(video=0) if packet.size)
    assert read == 4 * FRAMES_PER_SEGMENT
