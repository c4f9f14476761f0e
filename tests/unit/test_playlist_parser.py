"""HLS playlists read back (golive.hls.playlist_parser): the exact texts golive renders,
what other servers write, malformed input refused with the line named, round trips, and
fuzzing."""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.hls import playlist
from golive.hls.playlist_parser import PlaylistError, parse_media, parse_multivariant
from tests.harness import playlist_texts as texts
from tests.harness.playlist_texts import version_of

# ---------------------------------------------------------------------------------------
# The exact texts golive renders (tests/unit/playlist_texts.py) read back.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(texts.LL_TEXT, texts.LL_PLAYLIST, id="low latency"),
        pytest.param(texts.WINDOW_FULL, texts.WINDOW, id="discontinuity and new map"),
        # The default PART-HOLD-BACK, three part targets, is read back as a value.
        pytest.param(
            texts.RECONNECT_TEXT,
            dataclasses.replace(texts.RECONNECT, part_hold_back=1.5),
            id="reconnect before the first new segment",
        ),
        # An ended playlist has no preload hint in its text.
        pytest.param(
            texts.ENDED_TEXT, dataclasses.replace(texts.ENDED, preload_hint=None), id="ended"
        ),
    ],
)
def test_parse_exact_texts(text: str, expected: playlist.MediaPlaylist) -> None:
    assert parse_media(text) == expected


def test_parse_delta_update_exact_text() -> None:
    delta = parse_media(texts.WINDOW_DELTA)
    assert delta.media_sequence == 100
    assert delta.discontinuity_sequence == 3
    assert delta.segments == texts.WINDOW.segments[4:]
    # A parsed delta update renders back to itself.
    assert playlist.render_media(delta) == texts.WINDOW_DELTA


def test_parse_multivariant_exact_text() -> None:
    assert parse_multivariant(texts.MULTIVARIANT_TEXT) == texts.MULTIVARIANT


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
    assert pl.preload_hint == playlist.PreloadHint("filePart304.2.mp4")
    assert pl.rendition_reports == (playlist.RenditionReport("../1M/waitForMSN.php", 304, 1),)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n" in playlist.render_media(pl)


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
    assert parse_multivariant(text) == playlist.MultivariantPlaylist(
        (
            playlist.Variant(
                "720p/index.m3u8",
                2_500_000,
                2_000_000,
                "avc1.64001f,mp4a.40.2",
                (1280, 720),
                29.97,
            ),
            playlist.Variant("360p.m3u8", 500_000, None, "", None, None),
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
parts = st.builds(playlist.Part, quoted_strings, seconds, st.booleans())


@st.composite
def media_playlists(draw: st.DrawFn) -> playlist.MediaPlaylist:
    """Playlists as the live window builds them, in the form parse_media gives back."""
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
            playlist.Segment(
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
    return playlist.MediaPlaylist(
        target_duration=draw(st.integers(0, 100)),
        part_target=draw(positive_seconds) if low_latency else None,
        media_sequence=media_sequence,
        discontinuity_sequence=draw(counts),
        segments=tuple(segments),
        trailing_parts=trailing,
        preload_hint=(
            draw(st.none() | st.builds(playlist.PreloadHint, quoted_strings))
            if low_latency and not ended
            else None
        ),
        rendition_reports=tuple(
            draw(
                st.lists(
                    st.builds(playlist.RenditionReport, quoted_strings, counts, counts), max_size=2
                )
            )
        ),
        ended=ended,
        can_skip_until=draw(st.none() | positive_seconds),
        part_hold_back=draw(positive_seconds if low_latency else st.none() | positive_seconds),
        trailing_discontinuity=bool(trailing) and draw(st.booleans()),
        trailing_map_uri=None if trailing_map == map_uri else trailing_map,
    )


@given(media_playlists())
def test_media_round_trip(pl: playlist.MediaPlaylist) -> None:
    text = playlist.render_media(pl)
    assert parse_media(text) == pl
    assert playlist.render_media(parse_media(text)) == text
    expected = 6 if "#EXT-X-MAP:" in text else 3
    assert version_of(text) == expected


@given(media_playlists())
def test_delta_update_round_trip(pl: playlist.MediaPlaylist) -> None:
    text = playlist.render_media(pl, skip=True)
    delta = parse_media(text)
    assert playlist.render_media(delta) == text
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
        assert text == playlist.render_media(pl)


variants = st.builds(
    playlist.Variant,
    line_uris,
    counts,
    st.none() | counts,
    st.just("") | quoted_strings,
    st.none() | st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)),
    st.none() | st.integers(1, 240_000).map(lambda n: n / 1000),
    st.none() | quoted_strings,
)


@given(st.lists(variants, min_size=1, max_size=5).map(tuple))
def test_multivariant_round_trip(variant_list: tuple[playlist.Variant, ...]) -> None:
    pl = playlist.MultivariantPlaylist(variant_list)
    text = playlist.render_multivariant(pl)
    assert parse_multivariant(text) == pl
    assert playlist.render_multivariant(parse_multivariant(text)) == text


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
        once = playlist.render_media(pl)
        assert playlist.render_media(parse_media(once)) == once
        playlist.render_media(pl, skip=True)
    try:
        mv = parse_multivariant(text)
    except PlaylistError:
        pass
    else:
        assert parse_multivariant(playlist.render_multivariant(mv)) == mv


@given(media_playlists(), st.data())
def test_damaged_playlists_raise_only_playlist_error(
    pl: playlist.MediaPlaylist, data: st.DataObject
) -> None:
    text = playlist.render_media(pl)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.sampled_from(["", '"', ",", "\n", "=", "#", "x", "-", ":", "\x00"]))
    damaged = text[:at] + insert + text[at + cut :]
    with contextlib.suppress(PlaylistError):
        parse_media(damaged)
