"""Real publishers into golive's RTMP server: every frame must arrive with its timestamps and
bytes unchanged."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from golive.hub import Gap
from golive.media import Codec, Kind, Sample, TrackConfig
from golive.rtmp.server import PublishGrant, PublishRefusedError
from tests.harness.ingest import GoliveFactory, Received
from tests.harness.paths import require
from tests.harness.publishers import ffmpeg_publisher, start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Frame:
    kind: Kind
    dts: int
    cts: int
    keyframe: bool
    data: bytes

    @property
    def pts(self) -> int:
        return self.dts + self.cts


def source_frames(path: Path) -> tuple[list[Frame], dict[Kind, bytes]]:
    """The frames of a FLV file as PyAV's demuxer reads them, times in ms."""
    frames: list[Frame] = []
    extradata: dict[Kind, bytes] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            kind = Kind.VIDEO if stream.type == "video" else Kind.AUDIO
            extradata[kind] = bytes(stream.codec_context.extradata or b"")
        for packet in container.demux():
            if packet.size == 0 or packet.dts is None:
                continue
            kind = Kind.VIDEO if packet.stream.type == "video" else Kind.AUDIO
            tb = packet.time_base
            dts = round(packet.dts * tb * 1000)
            pts = round(packet.pts * tb * 1000)
            frames.append(Frame(kind, dts, pts - dts, bool(packet.is_keyframe), bytes(packet)))
    return frames, extradata


def received_frames(rec: Received) -> tuple[list[Frame], dict[Kind, bytes]]:
    frames: list[Frame] = []
    configs: dict[Kind, bytes] = {}
    for item in rec.items:
        assert not isinstance(item, Gap), "the test consumer must never lag"
        if isinstance(item, TrackConfig):
            configs[item.kind] = item.record
        elif isinstance(item, Sample):
            frames.append(Frame(item.kind, item.dts, item.cts, item.keyframe, item.data))
    return frames, configs


def assert_same_stream(path: Path, rec: Received, exact_bytes: bool = True) -> None:
    want, want_config = source_frames(path)
    got, got_config = received_frames(rec)
    for kind in (Kind.VIDEO, Kind.AUDIO):
        w = [f for f in want if f.kind is kind]
        g = [f for f in got if f.kind is kind]
        assert len(g) == len(w), f"{kind.value}: {len(g)} frames arrived of {len(w)} sent"
        assert [(f.dts, f.cts, f.keyframe) for f in g] == [(f.dts, f.cts, f.keyframe) for f in w]
        if exact_bytes:
            assert [f.data for f in g] == [f.data for f in w], f"{kind.value} bytes differ"
            assert got_config[kind] == want_config[kind]


async def run(*cmd: str, timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def ffmpeg_publish(path: Path, url: str, *extra: str) -> tuple[int, str]:
    """ffmpeg -c copy of the file as fast as it goes; its exit code and output."""
    return await run(*ffmpeg_publisher(path, url, output_args=extra, ffmpeg=require("ffmpeg")))


async def test_ffmpeg_cli_publish_every_frame_arrives(
    golive_rtmp: GoliveFactory, h264_aac_flv: Path
) -> None:
    golive = await golive_rtmp()
    code, out = await ffmpeg_publish(h264_aac_flv, f"{golive.url}/mykey")
    assert code == 0, out
    [rec] = await golive.wait_streams(1)
    assert rec.stream.room == "mykey"
    assert rec.stream.video is not None and rec.stream.video.codec is Codec.H264
    assert rec.stream.audio is not None and rec.stream.audio.codec is Codec.AAC
    assert rec.stream.metadata.get("width") == 320.0
    assert_same_stream(h264_aac_flv, rec)
    assert golive.hub.streams == {}, "the stream ends when ffmpeg stops"


async def pyav_publish(path: Path, url: str) -> None:
    code, out = await run(sys.executable, "-m", "tests.harness.publishers", str(path), url)
    assert code == 0, out


async def test_pyav_publish_every_frame_arrives(
    golive_rtmp: GoliveFactory, h264_aac_flv: Path
) -> None:
    golive = await golive_rtmp()
    await pyav_publish(h264_aac_flv, f"{golive.url}/pyav")
    [rec] = await golive.wait_streams(1)
    assert rec.stream.room == "pyav"
    assert_same_stream(h264_aac_flv, rec)


async def test_pyav_hevc_over_enhanced_rtmp(golive_rtmp: GoliveFactory) -> None:
    path = sample(container="mp4", duration=2.0, size="320x240", vcodec="libx265", bitrate="300k")
    golive = await golive_rtmp()
    await pyav_publish(path, f"{golive.url}/hevc")
    [rec] = await golive.wait_streams(1)
    assert rec.stream.video is not None and rec.stream.video.codec is Codec.H265
    got, configs = received_frames(rec)
    want, want_configs = source_frames(path)
    video_got = [f for f in got if f.kind is Kind.VIDEO]
    video_want = [f for f in want if f.kind is Kind.VIDEO]
    assert [f.data for f in video_got] == [f.data for f in video_want]
    # MP4 starts the decode timeline below zero (B-frame delay); the FLV muxer shifts it to
    # zero. The shift must be constant.
    shift = video_got[0].dts - video_want[0].dts
    assert [(f.dts - shift, f.cts, f.keyframe) for f in video_got] == [
        (f.dts, f.cts, f.keyframe) for f in video_want
    ]
    assert configs[Kind.VIDEO] == want_configs[Kind.VIDEO]


async def test_pyav_opus_over_enhanced_rtmp(golive_rtmp: GoliveFactory) -> None:
    path = sample(container="mkv", duration=2.0, size="320x240", acodec="libopus")
    golive = await golive_rtmp()
    await pyav_publish(path, f"{golive.url}/opus")
    [rec] = await golive.wait_streams(1)
    assert rec.stream.audio is not None and rec.stream.audio.codec is Codec.OPUS
    assert rec.stream.audio.record.startswith(b"OpusHead")
    got, _ = received_frames(rec)
    want, _ = source_frames(path)
    audio_got = [f.data for f in got if f.kind is Kind.AUDIO]
    audio_want = [f.data for f in want if f.kind is Kind.AUDIO]
    assert audio_got == audio_want


async def test_gstreamer_rtmp2sink_publish(golive_rtmp: GoliveFactory, h264_aac_flv: Path) -> None:
    gst = require("gst-launch-1.0")
    golive = await golive_rtmp()
    code, out = await run(
        gst,
        "-q",
        "filesrc",
        f"location={h264_aac_flv}",
        "!",
        "flvdemux",
        "name=d",
        "d.video",
        "!",
        "queue",
        "!",
        "h264parse",
        "!",
        "flvmux",
        "name=m",
        "streamable=true",
        "!",
        "rtmp2sink",
        f"location={golive.url}/gst",
        "d.audio",
        "!",
        "queue",
        "!",
        "aacparse",
        "!",
        "m.",
    )
    assert code == 0, out
    [rec] = await golive.wait_streams(1)
    assert rec.stream.room == "gst"
    want, _ = source_frames(h264_aac_flv)
    got, configs = received_frames(rec)
    for kind in (Kind.VIDEO, Kind.AUDIO):
        w = [f for f in want if f.kind is kind]
        g = [f for f in got if f.kind is kind]
        assert len(g) == len(w), f"{kind.value}: {len(g)} of {len(w)} frames arrived"
        # GStreamer re-times from its running time, which starts where the first buffer
        # does; durations between frames must be unchanged.
        # GStreamer re-times from its running time (the first PTS becomes 0) and derives its
        # own DTS; presentation times must keep their spacing, to the millisecond rounding.
        # One shift for both tracks, taken from video; audio that started before the first
        # video frame is clamped to 0 by GStreamer.
        if kind is Kind.VIDEO:
            shift = g[0].pts - w[0].pts
        for got_frame, want_frame in zip(g, w, strict=True):
            assert abs(got_frame.pts - max(0, want_frame.pts + shift)) <= 1
            assert got_frame.dts <= got_frame.pts
            assert got_frame.keyframe == want_frame.keyframe
        assert [f.data for f in g] == [f.data for f in w]
    assert Kind.VIDEO in configs and Kind.AUDIO in configs


async def test_wrong_key_is_refused_and_ffmpeg_sees_it(
    golive_rtmp: GoliveFactory, h264_aac_flv: Path
) -> None:
    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        if key == "right-key":
            return PublishGrant("alice")
        raise PublishRefusedError("unknown stream key")

    golive = await golive_rtmp(authorize=authorize)
    code, out = await ffmpeg_publish(h264_aac_flv, f"{golive.url}/wrong-key")
    assert code != 0
    # ffmpeg shows the onStatus description of the refusal.
    assert "Server error: unknown stream key" in out
    assert golive.received == []
    code, out = await ffmpeg_publish(h264_aac_flv, f"{golive.url}/right-key")
    assert code == 0, out
    [rec] = await golive.wait_streams(1)
    assert rec.stream.room == "alice"


async def test_second_publisher_on_a_live_key_is_refused(
    golive_rtmp: GoliveFactory, h264_aac_flv: Path
) -> None:
    golive = await golive_rtmp()
    # The first publisher sends in real time (-re) so it is still live when the second comes.
    first = await start_publisher(
        h264_aac_flv, f"{golive.url}/dup", stderr=asyncio.subprocess.DEVNULL
    )
    try:
        while "dup" not in golive.hub.streams:
            await asyncio.sleep(0.05)
        code, out = await ffmpeg_publish(h264_aac_flv, f"{golive.url}/dup")
        assert code != 0, "the second publisher must be refused"
        assert "This stream is already being published" in out
        assert len(golive.received) == 1
        assert "dup" in golive.hub.streams
    finally:
        await first.wait()
    [rec] = await golive.wait_streams(1)
    assert_same_stream(h264_aac_flv, rec)
