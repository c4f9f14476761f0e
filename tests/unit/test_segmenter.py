"""The segmenter fed synthetic streams: cut points, part lengths, timing continuity."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from golive.hls.segmenter import InitReady, PartReady, Segmenter, SegmenterEvent
from golive.media import Codec, Kind, Sample, TrackConfig
from tests.harness.streams import AAC, AVC, av_stream


def run(seg: Segmenter, items: Iterator[TrackConfig | Sample]) -> list[SegmenterEvent]:
    out: list[SegmenterEvent] = []
    for item in items:
        out.extend(seg.push(item))
    out.extend(seg.finish())
    return out


def parts_of(events: list[SegmenterEvent]) -> list[PartReady]:
    return [e for e in events if isinstance(e, PartReady)]


def segments_of(parts: list[PartReady]) -> list[list[PartReady]]:
    segs: list[list[PartReady]] = []
    for p in parts:
        if p.new_segment:
            segs.append([])
        segs[-1].append(p)
    return segs


def test_segments_at_keyframes_and_parts_within_85_to_100_percent() -> None:
    events = run(Segmenter(part_target=0.333, segment_target=2.0), av_stream(10.0))
    assert isinstance(events[0], InitReady)
    assert [t.track_id for t in events[0].tracks] == [1, 2]
    parts = parts_of(events)
    segs = segments_of(parts)
    assert len(segs) == 5
    for seg in segs:
        assert seg[0].independent
        first_video = next(r for r in seg[0].runs if r.track_id == 1).samples[0]
        assert first_video.keyframe
        assert sum(p.duration for p in seg) == pytest.approx(2.0, abs=0.04)
        for p in seg[:-1]:
            assert 0.85 * 0.333 <= p.duration <= 0.334, p.duration
    # Every sample exactly once, in order, with continuous decode times.
    for track_id, count in ((1, 300), (2, int(10 * 48000 / 1024))):
        runs = [r for p in parts for r in p.runs if r.track_id == track_id]
        assert sum(len(r.samples) for r in runs) == count
        for a, b in itertools.pairwise(runs):
            assert a.base_decode_time + sum(s.duration for s in a.samples) == b.base_decode_time


def test_default_parts_put_a_keyframe_every_second_at_the_start_of_a_part() -> None:
    """0.2 s parts are six frames at 30 fps: a keyframe every second, in the middle of a 2 s
    segment, starts a part that says INDEPENDENT=YES, where hls.js can start a joining viewer
    (docs/protocol-notes.md, "Latency")."""
    parts = parts_of(run(Segmenter(), av_stream(6.0, gop=1.0)))
    # Every part but the stream's last (whose last frame's duration is guessed) is six frames.
    assert {p.duration for p in parts[:-1]} == {0.2}
    starts = [p.start_ms for p in parts if p.independent]
    assert starts == [0, 1000, 2000, 3000, 4000, 5000]
    assert [p.start_ms for p in parts if p.new_segment] == [0, 2000, 4000]


def test_aac_durations_are_exactly_1024_samples() -> None:
    events = run(Segmenter(), av_stream(4.0))
    audio = [s for p in parts_of(events) for r in p.runs if r.track_id == 2 for s in r.samples]
    assert {s.duration for s in audio} == {1024}


def test_b_frames_keep_signed_composition_offsets() -> None:
    events = run(Segmenter(), av_stream(2.0, bframes=True))
    video = [s for p in parts_of(events) for r in p.runs if r.track_id == 1 for s in r.samples]
    assert {s.composition_offset for s in video} == {34 * 90, 67 * 90, -33 * 90}


def test_long_gop_makes_long_segments_with_short_parts() -> None:
    # OBS in Simple mode: a keyframe every 250 frames.
    events = run(Segmenter(), av_stream(20.0, gop=250 / 30))
    segs = segments_of(parts_of(events))
    assert [round(sum(p.duration for p in s), 1) for s in segs[:2]] == [8.3, 8.3]
    assert max(p.duration for s in segs for p in s) <= 0.334


def test_video_only() -> None:
    events = run(Segmenter(), av_stream(4.0, audio=False))
    assert [t.config.kind for t in events[0].tracks] == [Kind.VIDEO]  # type: ignore[union-attr]
    assert len(segments_of(parts_of(events))) == 2


def test_audio_only_starts_without_waiting_forever_for_video() -> None:
    events = run(Segmenter(), av_stream(6.0, video=False))
    init = events[0]
    assert isinstance(init, InitReady)
    assert [t.config.codec for t in init.tracks] == [Codec.AAC]
    parts = parts_of(events)
    assert parts[0].runs[0].base_decode_time == 0, "the audio held back while waiting is kept"
    assert sum(len(p.runs[0].samples) for p in parts) == int(6 * 48000 / 1024)
    assert parts and all(p.independent for p in parts)
    assert all(p.duration <= 0.36 for p in parts[:-1])


def test_timeline_past_2_32_ms() -> None:
    start = (1 << 32) - 3000  # crosses the 32-bit wrap, already unwrapped by ingest
    events = run(Segmenter(), av_stream(6.0, start=start))
    runs = [r for p in parts_of(events) for r in p.runs if r.track_id == 1]
    assert runs[0].base_decode_time == start * 90
    for a, b in itertools.pairwise(runs):
        assert a.base_decode_time + sum(s.duration for s in a.samples) == b.base_decode_time
    assert runs[-1].base_decode_time > (1 << 32) * 90


def test_repeated_identical_config_changes_nothing_but_a_new_one_restarts() -> None:
    seg = Segmenter()
    events: list[SegmenterEvent] = []
    for item in av_stream(3.0):
        events.extend(seg.push(item))
        if isinstance(item, Sample) and item.keyframe and item.kind is Kind.VIDEO:
            events.extend(seg.push(AVC))  # re-sent with every keyframe: normal
    assert sum(isinstance(e, InitReady) for e in events) == 1
    changed = TrackConfig(Codec.H264, AVC.record[:-1] + b"\xc1")
    events = seg.push(changed)
    assert parts_of(events), "the buffered part is flushed"
    restart = seg.push(Sample(Codec.H264, 5000, 0, True, b"k"))
    assert isinstance(restart[0], InitReady)


@pytest.mark.parametrize(
    "items",
    [
        [],  # refused or dropped before anything came
        [AAC, AVC],  # configurations only
        # Frames before the first keyframe are never playable on their own.
        [AVC, Sample(Codec.H264, 0, 0, False, b"x"), Sample(Codec.H264, 33, 0, False, b"y")],
    ],
)
def test_a_stream_that_ends_before_its_first_keyframe_finishes_with_nothing(
    items: list[TrackConfig | Sample],
) -> None:
    assert run(Segmenter(part_target=0.333, segment_target=2.0), iter(items)) == []


def _jumping(seconds: float) -> Iterator[TrackConfig | Sample]:
    """av_stream with the publisher's clock jumping 10 s ahead at 3 s, then 20 s back."""
    for item in av_stream(seconds):
        if isinstance(item, Sample) and item.dts >= 3000:
            shift = 10_000 if item.dts < 6000 else -10_000
            item = Sample(item.codec, item.dts + shift, item.cts, item.keyframe, item.data)
        yield item


@pytest.mark.parametrize(
    ("name", "make", "items"),
    [
        ("audio and video", lambda: Segmenter(), lambda: av_stream(12.0)),
        ("b-frames", lambda: Segmenter(), lambda: av_stream(12.0, bframes=True)),
        ("video only", lambda: Segmenter(), lambda: av_stream(12.0, audio=False)),
        ("audio only", lambda: Segmenter(), lambda: av_stream(12.0, video=False)),
        ("long GOP, limited", lambda: Segmenter(limit=lambda: 3.4), lambda: av_stream(12.0, gop=5)),
        ("clock jumps", lambda: Segmenter(), lambda: _jumping(12.0)),
    ],
)
def test_a_sample_in_the_quiet_window_makes_no_event(
    name: str,
    make: object,
    items: object,
) -> None:
    # The packager sleeps through such samples: one that made an event would be late.
    seg: Segmenter = make()  # type: ignore[operator]
    quiet_samples = samples = 0
    for item in items():  # type: ignore[operator]
        quiet = seg.quiet()
        events = seg.push(item)
        if not isinstance(item, Sample):
            continue
        samples += 1
        if quiet is not None and (item.kind is not quiet[0] or quiet[1] <= item.dts < quiet[2]):
            quiet_samples += 1
            assert events == [], f"{name}: {item.kind} at {item.dts} in {quiet}"
    # And the window is worth having: most samples need no wake-up of their own.
    assert quiet_samples > 0.7 * samples, f"{name}: {quiet_samples} of {samples}"
