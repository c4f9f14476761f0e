"""Samples in, LL-HLS parts and segments out: where to cut, and with which timing. No I/O.

RFC 8216bis, 4.4.4.9 (EXT-X-PART) and 6.2.4 (server configuration): a segment begins at a video
keyframe once the segment target has passed, so its length follows the publisher's GOP; a part
closes before the frame that would take it past the part target, so every part but the last of a
segment lasts 85 to 100% of the target at usual frame rates (docs/protocol-notes.md, "Segments
and parts": iOS rejects much shorter parts). Audio rides in the same fragments as video (one
moof, one traf per track), cut at the video part's end time. Audio-only and video-only streams
work the same way.

Timeline sanity (RFC 8216bis, 4.4.3.1: every segment, rounded to the nearest second, fits the
target duration; 4.4.4.3 and 6.2.1: a timestamp sequence that breaks gets EXT-X-DISCONTINUITY): a
step in the lead track's decode times beyond a segment target, forwards or backwards, is a jump
of the publisher's clock, not a long frame. The segment closes before it and the segmenter starts
over at the next keyframe behind a ``Discontinuity``. A segment that would outgrow the limit its
live window sets (``limit``, for a keyframe interval longer than the target duration) is cut
before the frame that would take it past, and the next segment starts with that frame: no frame
is lost and the timeline does not break, but that segment does not begin with a keyframe, so
playlists do not claim EXT-X-INDEPENDENT-SEGMENTS.

Times arrive in milliseconds (FLV); fragments use a 90 kHz video timescale and the audio sample
rate. AAC frames are exactly 1024 (or 960) samples long, which milliseconds cannot express, so
audio decode times are counted in samples and only re-anchored to the millisecond clock when
they drift by more than one frame (a gap in the publisher's audio).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..codecs import TrackInfo, describe
from ..formats.fmp4 import FragmentSample, TrackRun, TrackSpec
from ..media import Codec, Kind, Sample, TrackConfig, record
from .settings import HlsSettings

VIDEO_TIMESCALE = 90_000
VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
# Audio alone waits this long for a video configuration before the stream starts audio-only.
AUDIO_ONLY_AFTER_MS = 1500
# The packager passes its settings; a Segmenter made bare (tests, benchmarks) cuts at their
# defaults.
_DEFAULTS = HlsSettings()


@dataclass(frozen=True, slots=True)
class InitReady:
    """A new initialization section (EXT-X-MAP); ``tracks`` as written into it."""

    tracks: tuple[TrackSpec, ...]
    infos: tuple[TrackInfo, ...]


@record
class PartReady:
    """A finished part: the runs to write as one moof+mdat, and where it sits."""

    runs: tuple[TrackRun, ...]
    start_ms: int  # presentation start on the stream's 64-bit ms timeline
    duration: float  # seconds
    independent: bool  # starts with a keyframe (or is audio only)
    new_segment: bool  # first part of a new segment


@dataclass(frozen=True, slots=True)
class Discontinuity:
    """The publisher's timeline broke: what follows starts a new segment after
    EXT-X-DISCONTINUITY. ``reason`` is for the log."""

    reason: str


SegmenterEvent = InitReady | PartReady | Discontinuity


@dataclass(slots=True)
class _Track:
    spec: TrackSpec
    info: TrackInfo
    pending: Sample | None = None  # waits for the next sample to learn its duration
    ready: list[tuple[int, FragmentSample]] = field(default_factory=list)  # (dts ticks, sample)
    next_dts: int | None = None  # in ticks (audio: counted in samples)
    frame_ticks: int = 0  # audio: fixed frame length in ticks, 0 when unknown


class Segmenter:
    """Cuts one rendition's samples into parts and segments."""

    def __init__(
        self,
        *,
        part_target: float = _DEFAULTS.part_target,
        segment_target: float = _DEFAULTS.segment_target,
        limit: Callable[[], float] | None = None,
    ) -> None:
        self.part_target_ms = round(part_target * 1000)
        self.segment_target_ms = round(segment_target * 1000)
        # The longest segment allowed, in seconds, asked at each video frame: the live window
        # fixes its target duration after its first segment and lowers this to fit it.
        self._limit = limit
        self._configs: dict[Kind, TrackConfig] = {}
        self._video: _Track | None = None
        self._audio: _Track | None = None
        self._started = False
        self._first_audio_ms: int | None = None
        # Audio that came just before the first keyframe (same time, earlier in the FLV
        # interleave) belongs to the first part.
        self._early_audio: deque[Sample] = deque(maxlen=256)
        self._part_start_ms: int | None = None
        self._segment_start_ms: int | None = None
        self._part_independent = False
        self._new_segment = True

    # --- input --------------------------------------------------------------------------

    def push(self, item: TrackConfig | Sample) -> list[SegmenterEvent]:
        if isinstance(item, TrackConfig):
            return self._config(item)
        if not self._started:
            return self._before_start(item)
        return self._sample(item)

    def quiet(self) -> tuple[Kind, int, int] | None:
        """Where pushing a sample cannot make an event: a sample of the other kind than the
        lead track (video, or audio in an audio-only stream), or of the lead's kind with a
        decode time in [low, high): no cut, no jump. None while nothing is known (before the
        first keyframe). The packager lets such samples wait and handles them with the next
        one that may close a part, so that it runs once per part instead of once per frame.
        """
        if not self._started:
            return None
        lead = self._video or self._audio
        if lead is None or lead.pending is None:
            return None
        assert self._part_start_ms is not None and self._segment_start_ms is not None
        previous = lead.pending.dts
        # A step beyond the segment target either way is a jump (_sample, _restart).
        low = previous - self.segment_target_ms
        high = previous + self.segment_target_ms + 1
        if lead is self._video:
            # The cuts of _sample: a part near its target, a keyframe past the segment
            # target, a segment at its limit; rounded down, so the window errs short.
            high = min(
                high,
                self._part_start_ms + int(self.part_target_ms * 0.85),
                self._segment_start_ms + self.segment_target_ms,
            )
            if self._limit is not None:
                high = min(high, self._segment_start_ms + int(self._limit() * 1000))
        else:
            high = min(high, self._part_start_ms + self.part_target_ms)
        return (Kind.VIDEO if lead is self._video else Kind.AUDIO), low, high

    def finish(self) -> list[SegmenterEvent]:
        """The stream ended: close the last part with what is buffered."""
        out: list[SegmenterEvent] = []
        if not self._started:
            # Nothing playable came (no keyframe, or the publish was refused or dropped
            # before its first frame): there is no part to close.
            return out
        for track in self._tracks():
            if track.pending is not None:
                # The last sample's duration is unknown; repeat the usual one.
                self._release(track, track.pending, None)
                track.pending = None
        self._close_part(out, None)
        return out

    # --- internals ----------------------------------------------------------------------

    def _tracks(self) -> list[_Track]:
        return [t for t in (self._video, self._audio) if t is not None]

    def _config(self, config: TrackConfig) -> list[SegmenterEvent]:
        if self._configs.get(config.kind) == config:
            # Re-sent unchanged with keyframes: nothing to do (docs/protocol-notes.md,
            # "Decoder configuration").
            return []
        self._configs[config.kind] = config
        if not self._started:
            return []
        # A real change mid-stream (a new resolution, say): flush and start over at the next
        # keyframe with a new init segment; the live window marks the discontinuity.
        out = self.finish()
        self._reset()
        return out

    def _reset(self) -> None:
        """Wait for a keyframe again, as at the start."""
        self._started = False
        self._video = self._audio = None
        self._part_start_ms = self._segment_start_ms = None

    def _before_start(self, sample: Sample) -> list[SegmenterEvent]:
        video = self._configs.get(Kind.VIDEO)
        audio = self._configs.get(Kind.AUDIO)
        if sample.kind is Kind.AUDIO:
            if self._first_audio_ms is None:
                self._first_audio_ms = sample.dts
            waited = sample.dts - self._first_audio_ms
            if video is not None or audio is None or waited < AUDIO_ONLY_AFTER_MS:
                self._early_audio.append(sample)
                return []
            # Start audio-only with what was held back, from its beginning.
            self._early_audio.append(sample)
            return self._start(None, audio, self._early_audio[0])
        if not sample.keyframe or video is None:
            return []
        return self._start(video, audio, sample)

    def _start(
        self, video: TrackConfig | None, audio: TrackConfig | None, first: Sample
    ) -> list[SegmenterEvent]:
        specs: list[TrackSpec] = []
        infos: list[TrackInfo] = []
        if video is not None:
            info = describe(video)
            spec = TrackSpec(VIDEO_TRACK_ID, video, VIDEO_TIMESCALE)
            self._video = _Track(spec, info)
            specs.append(spec)
            infos.append(info)
        if audio is not None:
            info = describe(audio)
            rate = info.sample_rate or 48_000
            spec = TrackSpec(AUDIO_TRACK_ID, audio, rate)
            track = _Track(spec, info)
            if info.codec is Codec.AAC:
                track.frame_ticks = 1024
            self._audio = track
            specs.append(spec)
            infos.append(info)
        self._started = True
        self._part_start_ms = first.dts
        self._segment_start_ms = first.dts
        self._part_independent = True
        self._new_segment = True
        out: list[SegmenterEvent] = [InitReady(tuple(specs), tuple(infos))]
        out.extend(self._sample(first))
        # Audio older than the first keyframe cannot play without it and is dropped. What is
        # held may itself jump and restart the segmenter: it goes through push() again.
        early_audio = [e for e in self._early_audio if e.dts >= first.dts and e is not first]
        self._early_audio.clear()
        for early in early_audio:
            out.extend(self.push(early))
        return out

    def _sample(self, sample: Sample) -> list[SegmenterEvent]:
        track = self._video if sample.kind is Kind.VIDEO else self._audio
        if track is None:
            return []  # a track that was not there at the start: ignored until a restart
        out: list[SegmenterEvent] = []
        lead = self._video or self._audio
        lead_dts = lead.pending.dts if lead is not None and lead.pending is not None else None
        off = lead_dts is not None and abs(sample.dts - lead_dts) > self.segment_target_ms
        if off and track is not lead:
            # Audio far off the video's timeline would wait for a part that never comes (or
            # belong to one long gone): dropped; a jump of both tracks restarts at the video's.
            return out
        previous = track.pending
        if previous is not None and track is lead:
            step = sample.dts - previous.dts
            if abs(step) > self.segment_target_ms:
                return self._restart(sample, f"timestamps jumped by {step} ms")
        track.pending = sample
        if previous is None:
            return out
        if track is self._video:
            # The decision to cut is made when a video frame's duration becomes known.
            assert self._part_start_ms is not None and self._segment_start_ms is not None
            if (
                self._limit is not None
                and sample.dts - self._segment_start_ms > self._limit() * 1000
                and previous.dts > self._segment_start_ms
            ):
                # No keyframe in time: the segment ends where this frame's predecessor begins,
                # and the next one starts with the predecessor, without a keyframe. The
                # timeline goes on and nothing is dropped; a player that joins there shows
                # the picture from the next keyframe (its parts say INDEPENDENT=NO).
                self._close_part(out, previous.dts)
                self._part_start_ms = self._segment_start_ms = previous.dts
                self._new_segment = True
                self._part_independent = previous.keyframe
                self._release(track, previous, sample.dts)
                return out
            if (
                sample.keyframe
                and previous.dts >= self._segment_start_ms
                and (sample.dts - self._segment_start_ms >= self.segment_target_ms)
            ):
                self._release(track, previous, sample.dts)
                self._close_part(out, sample.dts)
                self._segment_start_ms = sample.dts
                self._new_segment = True
                self._part_independent = True
                return out
            self._release(track, previous, sample.dts)
            if sample.dts - self._part_start_ms >= self.part_target_ms * 0.85 and (
                sample.dts + (sample.dts - previous.dts) - self._part_start_ms > self.part_target_ms
            ):
                self._close_part(out, sample.dts)
                self._part_independent = sample.keyframe
            return out
        self._release(track, previous, sample.dts)
        if self._video is None:
            # Audio only: parts are cut by audio time alone.
            assert self._part_start_ms is not None and self._segment_start_ms is not None
            if sample.dts - self._part_start_ms >= self.part_target_ms:
                new_segment = sample.dts - self._segment_start_ms >= self.segment_target_ms
                self._close_part(out, sample.dts)
                self._part_independent = True
                if new_segment:
                    self._segment_start_ms = sample.dts
                    self._new_segment = True
        return out

    def _restart(self, sample: Sample, reason: str) -> list[SegmenterEvent]:
        """Close what is buffered, then start over at the next keyframe (``sample`` if it is
        one) behind a discontinuity."""
        out = self.finish()
        out.append(Discontinuity(reason))
        self._reset()
        self._first_audio_ms = None
        # Audio held from before the break belongs to the old timeline.
        self._early_audio.clear()
        out.extend(self._before_start(sample))
        return out

    def _release(self, track: _Track, sample: Sample, next_dts: int | None) -> None:
        """Turn a sample whose successor is known into a fragment sample."""
        timescale = track.spec.timescale
        exact = sample.dts * timescale // 1000
        if track.frame_ticks:
            # Count AAC time in samples; re-anchor only on a real gap or overlap.
            if track.next_dts is None or abs(track.next_dts - exact) > track.frame_ticks:
                track.next_dts = exact
            dts = track.next_dts
            duration = track.frame_ticks
        else:
            dts = exact
            if next_dts is not None:
                duration = next_dts * timescale // 1000 - exact
            elif track.ready:
                duration = track.ready[-1][1].duration
            else:
                duration = timescale * 33 // 1000
            duration = max(duration, 1)
        track.next_dts = dts + duration
        cts = sample.cts * timescale // 1000
        track.ready.append(
            (dts, FragmentSample(duration, len(sample.data), sample.keyframe, cts, sample.data))
        )

    def _close_part(self, out: list[SegmenterEvent], end_ms: int | None) -> None:
        assert self._part_start_ms is not None
        runs: list[TrackRun] = []
        for track in self._tracks():
            if end_ms is not None and track is self._audio and self._video is not None:
                # Audio belongs to the part its decode time falls in; keep later frames.
                cut = end_ms * track.spec.timescale // 1000
                take = [r for r in track.ready if r[0] < cut]
                track.ready = track.ready[len(take) :]
            else:
                take, track.ready = track.ready, []
            if take:
                runs.append(TrackRun(track.spec.track_id, take[0][0], [s for _, s in take]))
        if not runs:
            return
        if end_ms is None:
            video = self._video
            lead = video if video is not None and video.next_dts is not None else self._audio
            assert lead is not None and lead.next_dts is not None
            end_ms = lead.next_dts * 1000 // lead.spec.timescale
        duration = max(end_ms - self._part_start_ms, 1) / 1000
        out.append(
            PartReady(
                tuple(runs),
                self._part_start_ms,
                duration,
                self._part_independent,
                self._new_segment,
            )
        )
        self._part_start_ms = end_ms
        self._new_segment = False
