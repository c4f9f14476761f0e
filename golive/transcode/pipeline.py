"""Decode once, scale per rendition, encode with libx264: PyAV at the codec-context level.

No container is involved: the publisher's samples (length-prefixed NAL units with their
decoder configuration record as extradata) go straight into a decoder, every decoded picture is
scaled once per rendition with its own swscale context, and each rendition's libx264 encoder
hands back length-prefixed NAL units (``annexb=0``) and an AVCDecoderConfigurationRecord as
extradata (global header): exactly the ``Sample`` and ``TrackConfig`` the segmenter takes from
ingest (ISO/IEC 14496-15, 5.3.3.1 and 5.3.4.2), with no byte rewritten in Python.

Times stay the publisher's, in milliseconds: encoders run with a 1/1000 time base and each
picture keeps its source presentation time, so every rendition's frames sit at the presentation
times of the source copy's and of the copied audio. x264 reorders frames (B-frames) and dates
its first frames' decoding before zero; each rendition's decode times are moved by a constant so
that its keyframes decode when the source copy's do (the segmenter dates segments by decode
time, so every variant's segments then start at the same instant), which can make composition
offsets negative (``trun`` version 1, ISO/IEC 14496-12, 8.8.8).

Keyframes are decided once per source picture (``KeyframePlanner``) and forced in every
rendition as IDR pictures; x264's own scene-cut keyframes are off and its GOP limit is far out
of the way, so the renditions' segments start at the same instants.

This module is synchronous and runs off the event loop: in a thread of the server process or in
a child process (``python -m golive.transcode``), both driven by ``serve()`` (see
``golive.transcode.workers``); the commands it takes and the events it gives are in
``golive.transcode.events``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from av.video.reformatter import Interpolation, VideoReformatter

from ..logs import escape_for_log
from ..media import Codec, Sample, TrackConfig
from .degrade import Degrader
from .events import (
    Command,
    Dropped,
    Encoded,
    EncoderParams,
    Event,
    Failed,
    Feed,
    Flushed,
    Opened,
    Start,
)
from .keyframes import KeyframePlanner
from .ladder import PlannedRendition

log = logging.getLogger("golive.transcode")

_DECODERS: dict[Codec, tuple[str, ...]] = {
    Codec.H264: ("h264",),
    Codec.H265: ("hevc",),
    Codec.AV1: ("libdav1d", "av1"),
    Codec.VP9: ("vp9", "libvpx-vp9"),
}
_TIME_BASE = Fraction(1, 1000)
_KEY = av.video.frame.PictureType.I
_AUTO = av.video.frame.PictureType.NONE


def _decoder(config: TrackConfig) -> Any:
    for name in _DECODERS.get(config.codec, ()):
        try:
            ctx = av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError):
            continue
        if config.record and config.codec is not Codec.VP9:
            ctx.extradata = config.record
        # Frame threads, as the ffmpeg tool decodes: a few frames of delay for all the cores.
        ctx.thread_type = "AUTO"
        ctx.thread_count = 0
        ctx.open()
        return ctx
    raise ValueError(f"no decoder for {config.codec.name}")


class _RenditionEncoder:
    """One rendition's scaler and encoder."""

    def __init__(self, index: int, r: PlannedRendition, p: EncoderParams, fps: float | None):
        self.index = index
        self.width, self.height = r.width, r.height
        self.interval = 1000 / r.fps if r.fps else 0.0  # ms between kept frames; 0: keep all
        self.next_due: float | None = None
        self.shift: int | None = None  # ms added to x264's decode times (see _collect)
        self.scaler = VideoReformatter()
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = r.width, r.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = _TIME_BASE
        rate = r.fps or fps or 30.0
        ctx.framerate = Fraction(rate).limit_denominator(1001)
        ctx.bit_rate = r.video_bitrate
        # Keyframes are forced by the planner; x264's own limit is only a backstop.
        ctx.gop_size = max(600, round(rate * p.gop_ms / 1000) * 20)
        # Frame threads as ffmpeg uses them (PyAV defaults to slice threads, which run a
        # frame on one core at a time here).
        ctx.thread_type = "FRAME"
        ctx.thread_count = 0
        ctx.flags |= av.codec.context.Flags.global_header  # avcC as extradata, no in-band SPS
        options = {
            "preset": p.preset,
            "maxrate": str(r.video_bitrate),
            "bufsize": str(2 * r.video_bitrate),
            "forced-idr": "1",
            "x264-params": "scenecut=0:annexb=0",
        }
        if p.tune:
            options["tune"] = p.tune
        ctx.options = options
        ctx.open()
        self.ctx = ctx
        if not ctx.extradata:
            raise ValueError("libx264 gave no global header (avcC)")
        self.config = TrackConfig(Codec.H264, bytes(ctx.extradata))

    def keep(self, pts: int, key: bool) -> bool:
        """Frame-rate reduction: keep a frame every ``interval`` ms, and every keyframe."""
        if not self.interval:
            return True
        base = self.next_due
        if key or base is None or pts >= base - 2:
            start = pts if key or base is None else base
            self.next_due = max(start + self.interval, pts + self.interval / 2)
            return True
        return False

    def encode(
        self, frame: Any, pts: int, key: bool, key_cts: int, out: list[tuple[int, Sample]]
    ) -> None:
        scaled = self.scaler.reformat(
            frame,
            self.width,
            self.height,
            "yuv420p",
            interpolation=Interpolation.BICUBIC,
            threads=1,
        )
        scaled.pts = pts
        scaled.time_base = _TIME_BASE
        scaled.pict_type = _KEY if key else _AUTO
        self._collect(self.ctx.encode(scaled), key_cts, out)

    def flush(self, key_cts: int, out: list[tuple[int, Sample]]) -> None:
        self._collect(self.ctx.encode(None), key_cts, out)

    def discard(self) -> None:
        """Let x264 finish what it holds before the context is freed: PyAV frees it with
        the GIL held, and x264 waits there for its threads' frames (at a slow preset, long
        enough to stall the event loop); draining first lets that wait run without the GIL."""
        with contextlib.suppress(av.FFmpegError):
            self.ctx.encode(None)

    def retire(self) -> None:
        """Discard in a thread of its own, so the renditions still made do not wait for it;
        the context is freed there too, once the thread lets go of it."""
        threading.Thread(target=self.discard, name="golive-ladder-retire", daemon=True).start()

    def _collect(self, packets: list[Any], key_cts: int, out: list[tuple[int, Sample]]) -> None:
        for packet in packets:
            pts, dts = packet.pts, packet.dts
            if self.shift is None:
                # The first packet is the first keyframe: x264 decodes it ``pts - dts`` ahead
                # of its presentation. Moved so that it decodes exactly as far ahead as the
                # source's keyframe did: every rendition's keyframes then have the source
                # copy's decode times, which is where the segmenter dates segments.
                self.shift = pts - dts - key_cts
            dts += self.shift
            out.append(
                (self.index, Sample(Codec.H264, dts, pts - dts, packet.is_keyframe, bytes(packet)))
            )


class Pipeline:
    """One source's decoder and the renditions made from it."""

    def __init__(self, start: Start, clock: Callable[[], float] = time.monotonic) -> None:
        self.start = start
        self.clock = clock
        self.degrader = Degrader([r.cost for r in start.plan], max_lag=start.params.max_lag)
        self._build()

    def _build(self) -> None:
        start = self.start
        self.decoder = _decoder(start.video)
        self.renditions = {
            i: _RenditionEncoder(i, r, start.params, start.fps)
            for i, r in enumerate(start.plan)
            if i in self.degrader.active
        }
        self.planner = KeyframePlanner(start.params.gop_ms)
        # (pts, composition offset) of the source keyframes not decoded yet
        self._source_keys: deque[tuple[int, int]] = deque(maxlen=64)
        self._key_cts: int | None = None  # the first keyframe's composition offset

    def opened(self) -> list[Event]:
        return [Opened(i, r.config) for i, r in self.renditions.items()]

    def feed(self, sample: Sample, arrived: float) -> list[Event]:
        out: list[tuple[int, Sample]] = []
        events: list[Event] = []
        if self.renditions and sample.data:  # (an empty packet would tell the decoder "end")
            if sample.keyframe:
                self._source_keys.append((sample.pts, sample.cts))
            # A buffer of FFmpeg's own, filled with a copy: a packet wrapping the bytes object
            # would need the GIL when a decoder thread lets go of it, and a decoder closed
            # while holding the GIL (at the end, or when garbage collected) then deadlocks.
            packet = av.Packet(len(sample.data))
            packet.update(sample.data)
            packet.pts, packet.dts = sample.pts, sample.dts
            packet.time_base = _TIME_BASE
            try:
                frames = self.decoder.decode(packet)
            except av.FFmpegError as exc:
                log.debug("undecodable video sample at %d ms: %s", sample.dts, escape_for_log(exc))
                frames = []
            for frame in frames:
                self._picture(frame, out)
        now = self.clock()
        lag = now - arrived
        drop = self.degrader.observe(lag, now)
        if drop is not None:
            gone = self.renditions.pop(drop.index, None)
            if gone is not None:
                gone.retire()
            events.append(Dropped(drop.index, drop.lag))
            out = [o for o in out if o[0] != drop.index]
        events.append(Encoded(tuple(out), lag, 1, len(sample.data)))
        return events

    def _picture(self, frame: Any, out: list[tuple[int, Sample]]) -> None:
        pts = frame.pts
        if pts is None:
            return
        keys = self._source_keys
        while keys and keys[0][0] < pts:
            keys.popleft()
        source_key = bool(keys) and keys[0][0] == pts
        if self._key_cts is None:
            self._key_cts = keys[0][1] if source_key else 0
        key = self.planner.decide(pts, source_key)
        for r in self.renditions.values():
            if r.keep(pts, key):
                r.encode(frame, pts, key, self._key_cts, out)

    def close(self) -> None:
        """Stop without output: drain the codecs (see ``_RenditionEncoder.discard``) and let go."""
        for r in self.renditions.values():
            r.discard()
        self.renditions = {}
        with contextlib.suppress(av.FFmpegError):
            self.decoder.decode(None)

    def flush(self, restart: bool) -> list[Event]:
        out: list[tuple[int, Sample]] = []
        try:
            for frame in self.decoder.decode(None):
                self._picture(frame, out)
        except av.FFmpegError:
            pass
        for r in self.renditions.values():
            r.flush(self._key_cts or 0, out)
        events: list[Event] = [Encoded(tuple(out), self.degrader.lag), Flushed(restart)]
        if restart:
            # Fresh codecs for what follows the gap; dropped renditions stay dropped.
            self._build()
            events.extend(self.opened())
        return events


def serve(
    next_command: Callable[[], Command | None],
    emit: Callable[[list[Event]], None],
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run commands until ``next_command`` returns None; every result goes to ``emit``."""
    pipeline: Pipeline | None = None
    try:
        while (command := next_command()) is not None:
            pipeline = _run(pipeline, command, emit, clock)
    finally:
        if pipeline is not None:
            pipeline.close()


def _run(
    pipeline: Pipeline | None,
    command: Command,
    emit: Callable[[list[Event]], None],
    clock: Callable[[], float],
) -> Pipeline | None:
    """Carry out one command; the pipeline in use after it."""
    try:
        if isinstance(command, Feed):
            if pipeline is None:
                emit([Encoded((), 0.0, 1, len(command.sample.data))])
            else:
                emit(pipeline.feed(command.sample, command.arrived))
            return pipeline
        if isinstance(command, Start):
            if pipeline is not None:
                emit(pipeline.flush(restart=False))
            pipeline = Pipeline(command, clock)
            emit(pipeline.opened())
            return pipeline
        if pipeline is None:
            emit([Flushed(command.restart)])
            return None
        emit(pipeline.flush(command.restart))
        return pipeline if command.restart else None
    except Exception as exc:
        log.exception("transcoding failed")
        if pipeline is not None:
            with contextlib.suppress(Exception):
                pipeline.close()
        events: list[Event] = [Failed(f"{type(exc).__name__}: {exc}")]
        if isinstance(command, Feed):
            events.append(Encoded((), 0.0, 1, len(command.sample.data)))
        emit(events)
        return None
