"""Test streams generated with PyAV (a moving test card and a tone), cached by their
parameters, for the tests and the benchmarks alike; or one file made on the command line:

    python -m tests.harness.samples out.flv --duration 30 --size 1920x1080 --fps 30 \
        --bitrate 6000k

Samples are generated, not committed: they are deterministic for the same parameters and PyAV
version, and any size can be made when a test or benchmark needs it. The cached file's name
spells every parameter, so two callers asking for different streams never share a file.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from tests.harness.paths import ROOT

SAMPLES = ROOT / "tests" / ".samples"


def _bitrate(text: str) -> int:
    text = text.lower()
    if text.endswith("k"):
        return int(float(text[:-1]) * 1000)
    if text.endswith("m"):
        return int(float(text[:-1]) * 1_000_000)
    return int(text)


def make_sample(
    path: str | Path,
    *,
    duration: float = 5.0,
    size: str = "320x240",
    fps: int = 30,
    bitrate: str = "500k",
    gop: float = 1.0,
    vcodec: str | None = "libx264",
    acodec: str | None = "aac",
    bframes: int = 2,
    preset: str = "veryfast",
    fmt: str | None = None,
) -> Path:
    """Write the sample and return its path. ``vcodec``/``acodec`` None leave a track out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in size.split("x"))
    out = av.open(str(path), "w", format=fmt or ("flv" if path.suffix == ".flv" else None))
    vstream = astream = None
    if vcodec:
        vstream = out.add_stream(vcodec, rate=fps)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        vstream.bit_rate = _bitrate(bitrate)
        vstream.codec_context.gop_size = max(1, round(gop * fps))
        opts = {"preset": preset}
        if vcodec == "libx264":
            # A fixed GOP, as a well-configured OBS sends: keyframes every `gop` seconds.
            opts.update(
                {"bf": str(bframes), "sc_threshold": "0", "keyint_min": str(round(gop * fps))}
            )
            vstream.codec_context.max_b_frames = bframes
        elif vcodec == "libx265":
            keyint = round(gop * fps)
            opts["x265-params"] = f"keyint={keyint}:min-keyint={keyint}:scenecut=0:log-level=error"
        vstream.codec_context.options = opts
    if acodec:
        astream = out.add_stream(acodec, rate=48000)
        astream.bit_rate = 128000
        astream.layout = "stereo"
    # Encode both tracks in time order so the file is interleaved the way an encoder sends it.
    video = _video_frames(size, fps, duration) if vstream is not None else iter(())
    audio = _audio_frames(astream, duration) if astream is not None else iter(())
    next_video = next(video, None)
    next_audio = next(audio, None)
    while next_video is not None or next_audio is not None:
        take_video = next_audio is None or (
            next_video is not None and next_video.time <= next_audio.time
        )
        if take_video:
            assert vstream is not None and next_video is not None
            for packet in vstream.encode(next_video):
                out.mux(packet)
            next_video = next(video, None)
        else:
            assert astream is not None and next_audio is not None
            for packet in astream.encode(next_audio):
                out.mux(packet)
            next_audio = next(audio, None)
    for stream in (vstream, astream):
        if stream is not None:
            for packet in stream.encode(None):
                out.mux(packet)
    out.close()
    return path


@dataclass(frozen=True)
class SampleSpec:
    """A generated stream, by its parameters; ``container`` is the file's extension (flv, mp4,
    mkv), and a codec None leaves its track out."""

    duration: float = 5.0
    size: str = "320x240"
    fps: int = 30
    bitrate: str = "500k"
    gop: float = 1.0
    vcodec: str | None = "libx264"
    acodec: str | None = "aac"
    bframes: int = 2
    preset: str = "veryfast"
    container: str = "flv"

    @property
    def path(self) -> Path:
        """Where it is cached, under a name that spells every parameter."""
        name = (
            f"{self.vcodec or 'novideo'}-{self.acodec or 'noaudio'}-{self.size}-{self.fps}fps"
            f"-{self.bitrate}-gop{self.gop:g}-bf{self.bframes}-{self.preset}"
            f"-{self.duration:g}s.{self.container}"
        )
        return SAMPLES / name

    def make(self, verbose: bool = False) -> Path:
        """The cached file, made first if it is not there; ``verbose`` says when it is made."""
        path = self.path
        if not path.exists():
            if verbose:
                print(f"making {path.name}...")
            tmp = path.with_suffix(".part" + path.suffix)
            make_sample(
                tmp, duration=self.duration, size=self.size, fps=self.fps,
                bitrate=self.bitrate, gop=self.gop, vcodec=self.vcodec, acodec=self.acodec,
                bframes=self.bframes, preset=self.preset,
            )  # fmt: skip
            tmp.rename(path)
        return path


# The benchmarks' stream: 30 s of 1080p30 6 Mbps H.264 and AAC, a keyframe every 2 s.
BENCH_SAMPLE = SampleSpec(duration=30, size="1920x1080", fps=30, bitrate="6000k", gop=2.0)
# Many live publishers at once: 30 s of 720p30 2.5 Mbps, as a typical streamer sends.
LIVE_SAMPLE = SampleSpec(duration=30, size="1280x720", fps=30, bitrate="2500k", gop=2.0)


def sample(verbose: bool = False, **params: Any) -> Path:
    """The sample with these parameters (those of `SampleSpec`), made once and cached under
    tests/.samples."""
    return SampleSpec(**params).make(verbose)


def stream_sample() -> Path:
    """8 s of 320x240 H.264 and AAC with a keyframe every second: a short live stream."""
    return sample(duration=8.0, size="320x240", fps=30, bitrate="400k")


def bench_sample(verbose: bool = True, spec: SampleSpec = BENCH_SAMPLE) -> Path:
    """A benchmark's stream (``BENCH_SAMPLE`` unless told), made once and cached."""
    return spec.make(verbose)


def _video_frames(size: str, fps: int, duration: float) -> Iterator[av.VideoFrame]:
    src = av.open(f"testsrc2=size={size}:rate={fps}:duration={duration}", format="lavfi")
    try:
        for frame in src.decode(video=0):
            yuv = frame.reformat(format="yuv420p")
            yuv.pts = frame.pts
            yuv.time_base = frame.time_base
            # lavfi marks every frame as an I picture, which makes the encoder put a keyframe
            # on each; let the encoder choose by its GOP instead.
            yuv.pict_type = av.video.frame.PictureType.NONE
            yield yuv
    finally:
        src.close()


def _audio_frames(astream: Any, duration: float) -> Iterator[av.AudioFrame]:
    rate = 48000
    src = av.open(f"sine=frequency=440:sample_rate={rate}:duration={duration}", format="lavfi")
    resampler = av.AudioResampler(format=astream.codec_context.format, layout="stereo", rate=rate)
    frame_size = astream.codec_context.frame_size or 1024
    fifo = av.AudioFifo()
    pts = 0
    try:
        for frame in src.decode(audio=0):
            for rframe in resampler.resample(frame):
                fifo.write(rframe)
            while fifo.samples >= frame_size:
                chunk = fifo.read(frame_size)
                chunk.pts = pts
                chunk.time_base = Fraction(1, rate)
                pts += frame_size
                yield chunk
    finally:
        src.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", default="500k")
    parser.add_argument("--gop", type=float, default=1.0, help="keyframe interval in seconds")
    parser.add_argument("--vcodec", default="libx264", help="libx264, libx265 or none")
    parser.add_argument("--acodec", default="aac", help="aac, libopus or none")
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    make_sample(
        args.out,
        duration=args.duration,
        size=args.size,
        fps=args.fps,
        bitrate=args.bitrate,
        gop=args.gop,
        vcodec=None if args.vcodec == "none" else args.vcodec,
        acodec=None if args.acodec == "none" else args.acodec,
        preset=args.preset,
    )


if __name__ == "__main__":
    main()
