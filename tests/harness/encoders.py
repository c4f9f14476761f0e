"""Real encoders through PyAV, in memory: what the codec and fMP4 tests read records and
packets from. ``encode_video`` and ``encode_audio`` mux into a container and demux it back, so
the records come out the way a demuxer hands them on (avcC, hvcC, av1C; vpcC from FLV; the
AudioSpecificConfig or the OpusHead).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import pytest

__all__ = [
    "AV1_ENCODER",
    "X264_HIGH",
    "X265",
    "Encoded",
    "Packet",
    "av1_options",
    "encode_audio",
    "encode_video",
    "have_encoder",
    "needs_av1",
]


@dataclass(frozen=True)
class Packet:
    pts: int
    dts: int
    duration: int
    keyframe: bool
    data: bytes


@dataclass(frozen=True)
class Encoded:
    """What a demuxer read back: the record, the packets, and the decoder's own view."""

    extradata: bytes
    packets: list[Packet]
    time_base: Fraction
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0


def have_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def _read_back(data: bytes, fmt: str) -> Encoded:
    with av.open(io.BytesIO(data), format=fmt) as container:
        stream = container.streams[0]
        ctx = stream.codec_context
        packets = [
            Packet(p.pts, p.dts, p.duration, p.is_keyframe, bytes(p))
            for p in container.demux(stream)
            if p.size
        ]
        video = stream.type == "video"
        return Encoded(
            bytes(ctx.extradata or b""),
            packets,
            Fraction(stream.time_base),
            width=ctx.width if video else 0,
            height=ctx.height if video else 0,
            sample_rate=0 if video else ctx.sample_rate,
            channels=0 if video else ctx.layout.nb_channels,
        )


_PATTERN = bytes(range(256)) * 4096


def encode_video(
    encoder: str,
    width: int,
    height: int,
    frames: int = 4,
    options: dict[str, str] | None = None,
    fmt: str = "mp4",
) -> Encoded:
    """Encode moving stripes at 30 fps, mux them into ``fmt`` in memory and demux them back:
    the demuxer hands out the ISO BMFF record (avcC, hvcC, av1C; vpcC from FLV) and
    length-prefixed packets. MP4 video comes back in a 90 kHz timescale."""
    # SVT-AV1 switches the calling thread to real-time scheduling, which every thread made
    # later inherits: put the test process back as it was, or later tests run skewed.
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        return _encode_video(encoder, width, height, frames, options, fmt)
    finally:
        if os.sched_getscheduler(0) != policy:
            os.sched_setscheduler(0, policy, param)


def _encode_video(
    encoder: str,
    width: int,
    height: int,
    frames: int,
    options: dict[str, str] | None,
    fmt: str,
) -> Encoded:
    buf = io.BytesIO()
    opts = {"video_track_timescale": "90000"} if fmt == "mp4" else {}
    with av.open(buf, "w", format=fmt, options=opts) as out:
        stream: Any = out.add_stream(encoder, rate=30, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(_PATTERN[i * 4 : i * 4 + plane.buffer_size])
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return _read_back(buf.getvalue(), fmt)


def encode_audio(encoder: str, rate: int, layout: str, frames: int = 4) -> Encoded:
    """Encode a quiet ramp, mux it into MP4 in memory and demux it back (the demuxer hands
    out the AudioSpecificConfig or the OpusHead)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream: Any = out.add_stream(encoder, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        size = stream.codec_context.frame_size or 1024
        for i in range(frames):
            frame = av.AudioFrame(format=fmt, layout=layout, samples=size)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = rate
            frame.pts = i * size
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return _read_back(buf.getvalue(), "mp4")


AV1_ENCODER = next((e for e in ("libsvtav1", "libaom-av1") if have_encoder(e)), None)
needs_av1 = pytest.mark.skipif(AV1_ENCODER is None, reason="no AV1 encoder (libsvtav1, libaom-av1)")
X264_HIGH = {"profile": "high", "preset": "veryfast", "x264-params": "log-level=error"}
X265 = {"preset": "ultrafast", "x265-params": "log-level=error"}


def av1_options() -> dict[str, str]:
    return {"preset": "12"} if AV1_ENCODER == "libsvtav1" else {"cpu-used": "8"}
