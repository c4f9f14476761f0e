"""The live window: sliding, reconnects, discontinuities, end of stream, blocking waits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from golive.hls import playlist, playlist_parser
from golive.hls.answers import BLOCKING_WAIT_LIMIT, blocking_wait
from golive.hls.segmenter import Segmenter
from golive.hls.window import LiveWindow, WaitTooFarError
from golive.media import Codec, Kind, Sample, TrackConfig
from tests.harness.streams import AVC, av_stream


def publish(r: LiveWindow, seconds: float, start: int = 0, avc: TrackConfig = AVC) -> None:
    seg = Segmenter(part_target=r.part_target)  # the window's parts
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
    # Parts are listed only for the newest complete segment (and the one in progress).
    assert [bool(s.parts) for s in pl.segments] == [False, False, False, False, True]
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
    seg = Segmenter(part_target=r.part_target)  # the window's parts
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
    seg = Segmenter(part_target=r.part_target)  # the window's parts
    r.begin()
    for item in av_stream(1.0):  # less than a segment: only parts of the new session
        r.feed(seg.push(item))
    pl = parsed(r)
    assert pl.trailing_parts and pl.trailing_discontinuity
    text = r.media_playlist()
    assert text.index("#EXT-X-DISCONTINUITY") < text.index(pl.trailing_parts[0].uri)


TEN_HOURS = 36_000_000  # ms


def feed_spans(r: LiveWindow, spans: list[tuple[int, float]], gop: float = 2.0) -> None:
    """One publish whose clock jumps: (start ms, seconds) spans sent back to back through one
    segmenter, as the publisher's timestamps arrive after the RTMP unwrap."""
    seg = r.segmenter()
    r.begin()
    first = True
    for start, seconds in spans:
        for item in av_stream(seconds, start=start, gop=gop):
            if isinstance(item, TrackConfig) and not first:
                continue  # the configurations come once, at the start
            r.feed(seg.push(item))
        first = False
    r.feed(seg.finish())


@pytest.mark.parametrize(
    "spans",
    [
        [(0, 6.0), (TEN_HOURS, 6.0)],  # ten hours ahead
        [(TEN_HOURS, 6.0), (0, 6.0)],  # ten hours back
    ],
    ids=["forward", "backward"],
)
def test_a_timestamp_jump_is_a_discontinuity_not_a_huge_segment(
    spans: list[tuple[int, float]],
) -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    feed_spans(r, spans)
    pl = parsed(r)
    assert pl.target_duration == 2
    assert max(s.duration for s in pl.segments) < 2.5
    assert [s.msn for s in pl.segments] == list(range(len(pl.segments)))
    assert [s.msn for s in pl.segments if s.discontinuity] == [3]
    assert {s.map_uri for s in pl.segments} == {"init-1.mp4"}
    # The dates follow the wall clock, not the publisher's jump.
    dates = [s.program_date_time for s in pl.segments if s.program_date_time]
    assert abs((dates[-1] - dates[0]).total_seconds()) < 60


def test_jumps_do_not_raise_the_target_of_a_reconnect_within_the_linger() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    feed_spans(r, [(0, 4.0), (TEN_HOURS, 4.0)])
    r.end()
    publish(r, 4.0)  # the same publisher again, its clock at 0
    pl = parsed(r)
    assert pl.target_duration == 2 and not pl.ended
    assert len([s for s in pl.segments if s.discontinuity]) == 2


def test_audio_far_off_the_video_timeline_is_dropped_not_held() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    seg = r.segmenter()
    r.begin()
    for item in av_stream(6.0):
        if isinstance(item, Sample) and item.kind is Kind.AUDIO:
            item = Sample(item.codec, item.dts + TEN_HOURS, 0, True, item.data)
        r.feed(seg.push(item))
    assert sum(len(t.ready) for t in seg._tracks()) < 50, "nothing piles up"
    r.feed(seg.finish())
    assert parsed(r).target_duration == 2


def test_the_target_is_learned_from_the_first_segment_before_anyone_sees_it() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    # A 4 s keyframe interval makes 4 s segments. The playlist is not served until the first
    # one is complete, so every client sees the same target (RFC 8216bis, 4.4.3.1).
    seg = r.segmenter()
    r.begin()
    targets = []
    for item in av_stream(12.0, gop=4.0):
        r.feed(seg.push(item))
        if r.ready:
            targets.append(parsed(r).target_duration)
        else:
            assert not any(s.complete for s in r.segments)
    assert targets and set(targets) == {4}
    assert max(s.duration for s in parsed(r).segments) < 4.5
    assert not any(s.discontinuity for s in parsed(r).segments)


def media_seconds(r: LiveWindow) -> float:
    return sum(s.duration for s in r.segments)


def test_segments_never_exceed_the_bound_whatever_the_keyframe_interval() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=120.0)
    publish_gop(r, 40.0, gop=30.0)
    r.end()
    pl = parsed(r)
    assert pl.target_duration == 10 == r.max_target
    assert all(round(s.duration) <= 10 for s in pl.segments)
    assert not any(s.discontinuity for s in pl.segments), "the timeline goes on"
    assert media_seconds(r) == pytest.approx(40.0, abs=0.1), "no frame is dropped"
    # Split where no keyframe came in time: that segment starts without one.
    assert [s.parts[0].independent for s in r.segments] == [True, False, False, True]


def publish_gop(r: LiveWindow, seconds: float, gop: float) -> None:
    seg = r.segmenter()
    r.begin()
    for item in av_stream(seconds, gop=gop):
        r.feed(seg.push(item))
    r.feed(seg.finish())


def test_a_fixed_target_splits_a_longer_gop_without_losing_frames() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=120.0)
    seg = r.segmenter()
    r.begin()
    items = list(av_stream(8.0, gop=2.0))
    for item in items:
        r.feed(seg.push(item))
    assert r.target_duration == 2
    # The same publish continues with 6 s between keyframes: a frame past 2.5 s is not listed
    # in the same segment.
    for item in av_stream(12.0, start=8000, gop=6.0):
        if isinstance(item, Sample):
            r.feed(seg.push(item))
    r.feed(seg.finish())
    r.end()
    pl = parsed(r)
    assert pl.target_duration == 2
    assert all(s.duration < 2.5 for s in pl.segments)
    assert not any(s.discontinuity for s in pl.segments)
    assert media_seconds(r) == pytest.approx(20.0, abs=0.1)
    assert not all(s.parts[0].independent for s in r.segments)


def test_a_reconnect_with_a_longer_gop_keeps_the_target() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=120.0)
    publish_gop(r, 6.0, gop=2.0)
    r.end()
    assert parsed(r).target_duration == 2
    publish_gop(r, 12.0, gop=6.0)  # the streamer changed the keyframe interval, then rejoined
    pl = parsed(r)
    assert pl.target_duration == 2 and not pl.ended
    assert all(round(s.duration) <= 2 for s in pl.segments)
    assert len([s for s in pl.segments if s.discontinuity]) == 1, "only the rejoin"
    assert media_seconds(r) == pytest.approx(18.0, abs=0.1)


def test_blocking_waits_are_bounded_by_a_constant() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=120.0)
    publish_gop(r, 20.0, gop=2.0)
    assert blocking_wait(r) == 7.0, "three target durations and a second, as before"
    long = LiveWindow("source", part_target=0.333, segment_target=2.0, window=120.0)
    publish_gop(long, 40.0, gop=30.0)
    assert blocking_wait(long) == BLOCKING_WAIT_LIMIT == 12.0


async def test_waiters_share_one_rendering_per_version() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0)
    seg = r.segmenter()
    r.begin()
    items = list(av_stream(6.0))
    for item in items[:100]:
        r.feed(seg.push(item))
    first = r.media_playlist_bytes()
    assert first == r.media_playlist().encode() and r.media_playlist_bytes() is first
    msn, part = r.last_part()
    waiters = [asyncio.create_task(r.wait(msn, part + 1, 5.0)) for _ in range(1000)]
    await asyncio.sleep(0)
    for item in items[100:]:
        r.feed(seg.push(item))
        if all(w.done() for w in waiters):
            break
        await asyncio.sleep(0)
    assert all(await asyncio.gather(*waiters))
    assert r.media_playlist_bytes() != first, "a new part, a new rendering"


def test_audio_only_jumps_are_discontinuities_too() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=60.0)
    seg = r.segmenter()
    r.begin()
    for start, seconds in [(0, 1.0), (TEN_HOURS, 4.0), (0, 4.0)]:
        for item in av_stream(seconds, start=start, video=False):
            r.feed(seg.push(item))
    r.feed(seg.finish())
    r.end()
    pl = parsed(r)
    assert pl.target_duration == 2
    assert max(s.duration for s in pl.segments) < 2.5
    assert len([s for s in pl.segments if s.discontinuity]) == 2


# --- retention: what the window holds, and for how long (RFC 8216bis, 6.2.2) -------------


def listed_seconds(pl: playlist.MediaPlaylist) -> float:
    return sum(s.duration for s in pl.segments)


def test_the_default_window_holds_what_ll_hls_needs_and_no_more() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0)
    publish_gop(r, 60.0, gop=2.0)
    pl = parsed(r)
    # Four complete segments: three target durations after the newest complete segment's
    # predecessor, so the oldest one's parts were downloadable 6 s after leaving the playlist.
    assert pl.target_duration == 2 and len(pl.segments) == 4
    assert listed_seconds(pl) == pytest.approx(8.0, abs=0.1)
    assert pl.media_sequence == 25
    # Every part held belongs to a listed segment, and the byte count is theirs.
    held = {p.number for s in r.segments for p in s.parts}
    assert set(r.parts) == held
    assert r.bytes == sum(len(p.data) for p in r.parts.values())


def test_a_longer_target_keeps_three_target_durations_after_the_parts_left() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0)
    publish_gop(r, 80.0, gop=4.0)
    pl = parsed(r)
    assert pl.target_duration == 4
    # 8 s would do for the window setting, not for the target: 4 x 4 s.
    assert listed_seconds(pl) == pytest.approx(16.0, abs=0.1)


def test_a_dvr_window_is_the_window_setting() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=36.0)
    publish_gop(r, 80.0, gop=2.0)
    assert listed_seconds(parsed(r)) == pytest.approx(36.0, abs=0.1)


def test_never_shorter_than_three_target_durations_and_parts_outlive_their_listing() -> None:
    """RFC 8216bis, 6.2.2, checked after every part of a live publish: once a segment has been
    removed, the playlist lasts at least three target durations; a part whose EXT-X-PART line
    left the playlist can be downloaded for three target durations more (media time); parts
    are listed only for the newest complete segment and the one in progress. The window
    setting asks for nothing here: the rules alone keep what is needed."""
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, window=0.0)
    seg = r.segmenter()
    r.begin()
    clock = 0.0  # media seconds packaged so far
    listed_parts: set[int] = set()
    delisted_at: dict[int, float] = {}
    seen = r.next_part
    for item in av_stream(40.0, gop=2.0):
        r.feed(seg.push(item))
        if r.next_part == seen:
            continue
        clock += sum(r.parts[n].duration for n in range(seen, r.next_part))
        seen = r.next_part
        if not r.ready:
            continue
        pl = parsed(r)
        if pl.media_sequence > 0:
            assert listed_seconds(pl) >= 3 * pl.target_duration
        assert all(not s.parts for s in pl.segments[:-1])
        now_listed = {
            int(p.uri.removeprefix("part-").removesuffix(".m4s"))
            for p in (*(p for s in pl.segments for p in s.parts), *pl.trailing_parts)
        }
        for number in listed_parts - now_listed:
            delisted_at[number] = clock
        listed_parts = now_listed
        for number, when in delisted_at.items():
            if clock - when < 3 * pl.target_duration - 0.01:
                assert number in r.parts, f"part {number} gone {clock - when:.2f} s after"
    assert len(delisted_at) > 60


def test_a_segment_is_served_from_its_parts_bytes_never_a_joined_copy() -> None:
    r = LiveWindow("source", part_target=0.333, segment_target=2.0)
    publish_gop(r, 12.0, gop=2.0)
    segment = r.segments[1]
    chunks = segment.chunks()
    assert [id(c) for c in chunks] == [id(p.data) for p in segment.parts], "the parts' bytes"
    assert b"".join(chunks) == segment.data()
    assert not hasattr(segment, "_bytes"), "nothing joined is kept"


def big_frames(items: Iterable[TrackConfig | Sample], size: int) -> Iterator[TrackConfig | Sample]:
    """The stream with every video frame ``size`` bytes: a publisher's bitrate burst."""
    for item in items:
        if isinstance(item, Sample) and item.kind is Kind.VIDEO:
            item = Sample(item.codec, item.dts, item.cts, item.keyframe, bytes(size))
        yield item


def test_a_bitrate_burst_is_capped_in_bytes_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 20 kB frames at 30 fps: 4.8 Mbit/s, 1.2 MB per segment, 4.8 MB for the default window.
    r = LiveWindow("source", part_target=0.333, segment_target=2.0, max_bytes=3_000_000)
    seg = r.segmenter()
    r.begin()
    peak = 0
    with caplog.at_level("WARNING", logger="golive.hls"):
        for item in big_frames(av_stream(30.0, gop=2.0), 20_000):
            r.feed(seg.push(item))
            peak = max(peak, r.bytes)
    # Bounded by the cap and one part, whatever the window in seconds would hold.
    assert peak <= 3_000_000 + 300_000
    assert r.bytes == sum(len(p.data) for p in r.parts.values())
    assert len([s for s in r.segments if s.complete]) >= 1
    lines = [rec.getMessage() for rec in caplog.records if "max_window_bytes" in rec.getMessage()]
    assert len(lines) == 1, "one line per window every 10 s at most, the rest counted"


def test_delta_updates_are_offered_only_when_they_can_skip_something() -> None:
    short = LiveWindow("source", part_target=0.333, segment_target=2.0)
    publish_gop(short, 30.0, gop=2.0)
    text = short.media_playlist()
    assert "CAN-SKIP-UNTIL" not in text
    # _HLS_skip is ignored without the attribute (RFC 8216bis, 6.2.5.1).
    assert short.media_playlist(skip=True) == text
    long = LiveWindow("source", part_target=0.333, segment_target=2.0, window=36.0)
    publish_gop(long, 60.0, gop=2.0)
    assert "CAN-SKIP-UNTIL=12.00000" in long.media_playlist()
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in long.media_playlist(skip=True)


def test_part_hold_back_is_a_number_of_part_targets() -> None:
    """PART-HOLD-BACK (RFC 8216bis, 4.4.3.8): where players start behind the live edge, the
    setting's number of part targets; at least two."""
    r = LiveWindow("source", part_target=0.2, segment_target=2.0, part_hold_back=2.0)
    publish(r, 4.0)
    pl = parsed(r)
    assert pl.part_target == 0.2 and pl.part_hold_back == 0.4
    r = LiveWindow("source", part_target=0.25, segment_target=2.0, part_hold_back=3.0)
    publish(r, 4.0)
    assert parsed(r).part_hold_back == 0.75


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.01, max_value=3.0), st.integers(0, 2_000_000)),
        min_size=1,
        max_size=200,
    )
)
def test_average_bandwidth_is_over_the_window_whatever_the_parts(
    parts: list[tuple[float, int]],
) -> None:
    """AVERAGE-BANDWIDTH (RFC 8216bis, 4.4.6.2) over the newest parts that fit the window,
    kept with running sums: the same as summing the window again for each part."""
    r = LiveWindow("source", part_target=0.2, segment_target=2.0, window=8.0)
    kept: list[tuple[float, int]] = []
    for duration, size in parts:
        r._measure(size, duration)
        kept.append((duration, size))
        while kept and sum(d for d, _ in kept) > r.window:
            kept.pop(0)
        if kept:
            want = int(sum(n for _, n in kept) * 8 / sum(d for d, _ in kept))
            assert abs(r.average_bandwidth - want) <= max(1, want * 1e-9)
