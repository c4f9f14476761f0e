"""The recordings' playlist writer (golive.recordings.playlist): EVENT while written, VOD with
EXT-X-ENDLIST once ended, EXT-X-MAP and EXT-X-DISCONTINUITY where they belong."""

from __future__ import annotations

from golive.hls.playlist_parser import parse_media, parse_multivariant
from golive.recordings.playlist import (
    Entry,
    RecordingPlaylist,
    Variant,
    ended_text,
    render_multivariant,
)


def _three() -> RecordingPlaylist:
    pl = RecordingPlaylist(target=2)
    pl.add(Entry("seg-0.m4s", 2.0, "init-1.mp4"))
    pl.add(Entry("seg-1.m4s", 1.5, "init-1.mp4"))
    pl.add(Entry("seg-2.m4s", 2.0, "init-2.mp4", discontinuity=True))
    return pl


def test_a_running_recording_is_an_event_playlist_without_endlist() -> None:
    text = _three().render(ended=False)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT\n" in text
    assert "#EXT-X-ENDLIST" not in text
    assert text.startswith("#EXTM3U\n")


def test_an_ended_recording_is_vod_with_endlist() -> None:
    text = _three().render(ended=True)
    assert "#EXT-X-PLAYLIST-TYPE:VOD\n" in text
    assert text.endswith("#EXT-X-ENDLIST\n")


def test_map_before_the_first_segment_and_again_when_the_init_changes() -> None:
    lines = _three().render(ended=True).splitlines()
    maps = [i for i, ln in enumerate(lines) if ln.startswith("#EXT-X-MAP")]
    assert [lines[i] for i in maps] == [
        '#EXT-X-MAP:URI="init-1.mp4"',
        '#EXT-X-MAP:URI="init-2.mp4"',
    ]
    # The discontinuity comes first, then the new map, then the segment.
    assert lines[maps[1] - 1] == "#EXT-X-DISCONTINUITY"
    assert lines[maps[1] + 2] == "seg-2.m4s"
    assert lines.count("#EXT-X-DISCONTINUITY") == 1


def test_no_discontinuity_before_the_first_segment() -> None:
    pl = RecordingPlaylist()
    pl.add(Entry("seg-0.m4s", 2.0, "init-1.mp4", discontinuity=True))
    assert "#EXT-X-DISCONTINUITY\n" not in pl.render(ended=True)


def test_what_the_parser_reads_back() -> None:
    parsed = parse_media(_three().render(ended=True))
    assert [s.uri for s in parsed.segments] == ["seg-0.m4s", "seg-1.m4s", "seg-2.m4s"]
    assert [s.duration for s in parsed.segments] == [2.0, 1.5, 2.0]
    assert parsed.ended
    assert parsed.target_duration == 2


def test_the_target_covers_every_segment_rounded() -> None:
    pl = RecordingPlaylist(target=2)
    pl.add(Entry("seg-0.m4s", 3.4, "init-1.mp4"))
    assert "#EXT-X-TARGETDURATION:3\n" in pl.render(ended=False)


def test_pop_takes_the_last_entry_back_with_its_tags() -> None:
    pl = _three()
    before = RecordingPlaylist(target=2)
    before.add(Entry("seg-0.m4s", 2.0, "init-1.mp4"))
    before.add(Entry("seg-1.m4s", 1.5, "init-1.mp4"))
    pl.pop()
    assert pl.render(ended=False) == before.render(ended=False)
    assert pl.duration == 3.5
    # The map is written again for the next entry of the new init.
    pl.add(Entry("seg-2.m4s", 2.0, "init-2.mp4", discontinuity=True))
    assert pl.render(ended=True) == _three().render(ended=True)


def test_an_unfinished_event_playlist_is_ended_as_vod() -> None:
    text = _three().render(ended=False)
    assert ended_text(text) == _three().render(ended=True)
    assert ended_text(ended_text(text)) == _three().render(ended=True)


def test_the_multivariant_playlist_lists_every_recorded_rendition() -> None:
    text = render_multivariant(
        [
            Variant("index.m3u8", 900_000, 800_000, "avc1.64001f,mp4a.40.2", (1280, 720)),
            Variant("low/index.m3u8", 200_000, 150_000, "avc1.42c00d,mp4a.40.2", (320, 180)),
        ]
    )
    parsed = parse_multivariant(text)
    assert [v.uri for v in parsed.variants] == ["index.m3u8", "low/index.m3u8"]
    assert parsed.variants[0].bandwidth == 900_000
    assert parsed.variants[1].resolution == (320, 180)
    assert 'CODECS="avc1.42c00d,mp4a.40.2"' in text
