"""The live window: sliding, reconnects, discontinuities, end of stream, blocking waits."""

from __future__ import annotations

import asyncio

import pytest

from golive.hls import playlist, playlist_parser
from golive.hls.segmenter import Segmenter
from golive.hls.window import LiveWindow, WaitTooFarError
from golive.media import Codec, TrackConfig
from tests.harness.streams import AVC, av_stream


def publish(r: LiveWindow, seconds: float, start: int = 0, avc: TrackConfig = AVC) -> None:
    seg = Segmenter()
    r.begin()
    for item in av_stream(seconds, start=start):
        if item == AVC:
            item = avc
        r.feed(seg.push(item))
    r.feed(seg.finish())


def parsed(r: LiveWindow, skip: bool = False) -> playlist.MediaPlaylist:
    return playlist_parser.parse_media(r.media_playlist(skip=skip))


def test_window_slides_and_media_sequence_rises() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=10.0)
    publish(r, 30.0)
    pl = parsed(r)
    # Five complete segments and the one in progress, as parts.
    assert pl.media_sequence == 9 and len(pl.segments) == 5 and len(pl.trailing_parts) == 7
    assert pl.target_duration == 2
    assert pl.segments[0].program_date_time is not None
    # Parts are listed only for the last segments.
    assert [bool(s.parts) for s in pl.segments] == [False, False, True, True, True]
    assert r.segment(3) is None, "slid out"


def test_reconnect_continues_with_a_discontinuity_and_no_new_map() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    publish(r, 6.0)
    r.end()
    assert parsed(r).ended
    publish(r, 6.0, start=0)  # the new publisher's clock starts again at 0
    pl = parsed(r)
    assert not pl.ended
    msns = [s.msn for s in pl.segments]
    assert msns == list(range(len(msns)))
    joins = [s for s in pl.segments if s.discontinuity]
    assert [s.msn for s in joins] == [3]
    assert {s.map_uri for s in pl.segments} == {"init-1.mp4"}, "same configuration, same map"


def test_new_configuration_gets_a_new_map_after_a_discontinuity() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    publish(r, 4.0)
    other = TrackConfig(Codec.H264, AVC.record[:-1] + b"\xc1")
    publish(r, 4.0, avc=other)
    r.end()
    pl = parsed(r)
    maps = [(s.msn, s.map_uri, s.discontinuity) for s in pl.segments]
    assert maps[2] == (2, "init-2.mp4", True)
    assert set(r.inits) == {1, 2}


def test_discontinuity_sequence_counts_joins_that_slid_out() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=6.0)
    publish(r, 4.0)
    publish(r, 4.0)
    publish(r, 12.0)
    pl = parsed(r)
    assert pl.discontinuity_sequence == 2
    assert not any(s.discontinuity for s in pl.segments)


def test_delta_update_skips_old_segments() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=40.0)
    publish(r, 36.0)
    text = r.media_playlist(skip=True)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in text
    assert len(text) < len(r.media_playlist())


async def test_blocking_wait_returns_when_the_part_arrives() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0)
    seg = Segmenter()
    r.begin()
    items = list(av_stream(6.0))
    for item in items[:100]:
        r.feed(seg.push(item))
    msn, part = r.last_part()
    waiter = asyncio.create_task(r.wait(msn, part + 1, 5.0))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    for item in items[100:]:
        r.feed(seg.push(item))
    assert await asyncio.wait_for(waiter, 1.0)
    with pytest.raises(WaitTooFarError):
        await r.wait(msn + 10, 0, 1.0)
    assert not await r.wait(r.last_part()[0] + 1, 3, 0.05), "times out"


def test_reconnect_marks_the_parts_in_progress_too() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    publish(r, 4.0)
    r.end()
    seg = Segmenter()
    r.begin()
    for item in av_stream(1.0):  # less than a segment: only parts of the new session
        r.feed(seg.push(item))
    pl = parsed(r)
    assert pl.trailing_parts and pl.trailing_discontinuity
    text = r.media_playlist()
    assert text.index("#EXT-X-DISCONTINUITY") < text.index(pl.trailing_parts[0].uri)
