"""golive's media output read by FFmpeg, the way players and tools read it: fragmented MP4
from frames real encoders produced, read back by PyAV's mp4 demuxer and decoders and by
ffprobe; and a rendered LL-HLS playlist read by ffmpeg's HLS demuxer (and PyAV's)."""

from __future__ import annotations

import io
import struct
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from golive.formats.fmp4 import FragmentSample, TrackRun, TrackSpec, fragment, init_segment
from golive.hls.playlist import MediaPlaylist, Part, RenditionReport, Segment, render_media
from golive.media import Codec, TrackConfig
from tests.harness.encoders import (
    AV1_ENCODER,
    X265,
    Encoded,
    av1_options,
    encode_audio,
    encode_video,
)
from tests.harness.paths import require

# --- Real streams, read back by FFmpeg ----------------------------------------------------

PART_SECONDS = 3  # parts are a third of a second: a part index is dts * 3 // timescale


@dataclass(frozen=True)
class Written:
    """One sample as written: what the demuxer must give back."""

    dts: int
    pts: int
    keyframe: bool
    data: bytes


def to_samples(
    enc: Encoded, timescale: int, negative_offsets: bool
) -> Iterator[tuple[int, FragmentSample]]:
    """Packets to (dts, sample) in ``timescale``, with DTS starting at 0.

    With ``negative_offsets`` (the CMAF habit) the first sample's PTS equals its DTS, so
    B-frames get negative composition offsets; otherwise offsets are PTS - DTS (>= 0).
    """
    scale = enc.time_base * timescale
    assert scale.denominator == 1, "the test wants an exact timescale conversion"
    packets = enc.packets
    first = packets[0]
    shift = (first.pts - first.dts) if negative_offsets else 0
    for i, p in enumerate(packets):
        end = packets[i + 1].dts if i + 1 < len(packets) else p.dts + p.duration
        cto = (p.pts - p.dts - shift) * scale
        yield (
            int((p.dts - first.dts) * scale),
            FragmentSample(int((end - p.dts) * scale), len(p.data), p.keyframe, int(cto), p.data),
        )


def package(tracks: list[tuple[TrackSpec, list[tuple[int, FragmentSample]]]]) -> bytes:
    """An init segment and one fragment per third of a second, each with a run per track."""
    parts: dict[int, list[TrackRun]] = defaultdict(list)
    for spec, samples in tracks:
        by_part: dict[int, list[tuple[int, FragmentSample]]] = defaultdict(list)
        for dts, s in samples:
            by_part[dts * PART_SECONDS // spec.timescale].append((dts, s))
        for index, group in by_part.items():
            parts[index].append(TrackRun(spec.track_id, group[0][0], [s for _, s in group]))
    fragments = [fragment(seq, parts[index]) for seq, index in enumerate(sorted(parts), 1)]
    assert len(fragments) >= 3
    return init_segment([spec for spec, _ in tracks]) + b"".join(fragments)


def written(samples: list[tuple[int, FragmentSample]]) -> list[Written]:
    return [Written(d, d + s.composition_offset, s.keyframe, s.data) for d, s in samples]


def read_back(data: bytes) -> tuple[dict[int, list[Written]], dict[int, int], list[str]]:
    """Demux and decode with PyAV: packets per stream, decoded frames per stream, and the
    decoded video sizes."""
    packets: dict[int, list[Written]] = defaultdict(list)
    frames: dict[int, int] = defaultdict(int)
    sizes = []
    with av.open(io.BytesIO(data), format="mp4") as container:
        for packet in container.demux():
            index = packet.stream.index
            if packet.size:
                assert packet.dts is not None and packet.pts is not None
                packets[index].append(
                    Written(packet.dts, packet.pts, packet.is_keyframe, bytes(packet))
                )
            for frame in packet.decode():  # the empty packet at the end flushes
                frames[index] += 1
                if isinstance(frame, av.VideoFrame):
                    sizes.append(f"{frame.width}x{frame.height}")
    return dict(packets), dict(frames), sizes


def assert_same(got: list[Written], wrote: list[Written]) -> None:
    """DTS, flags and bytes exactly; PTS up to FFmpeg's ``dts_shift``: its mov demuxer
    raises every PTS by the largest negative composition offset so that PTS >= DTS.

    FFmpeg takes H.264 and H.265 sync flags from the trun; for AV1, VP9 and Opus its parsers
    recompute them from the bitstream, so there the byte tables above check the flag bits.
    """
    assert [(w.dts, w.keyframe, w.data) for w in got] == [
        (w.dts, w.keyframe, w.data) for w in wrote
    ]
    shift = max(0, max(w.dts - w.pts for w in wrote))
    assert [w.pts for w in got] == [w.pts + shift for w in wrote]


def ffprobe_packets(data: bytes, tmp_path: Path) -> int:
    """ffprobe -show_packets on the file: no complaint, and the number of packets."""
    path = tmp_path / "stream.mp4"
    path.write_bytes(data)
    result = subprocess.run(
        [require("ffprobe"), "-v", "error", "-show_packets", "-of", "csv", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stderr == ""
    return sum(1 for line in result.stdout.splitlines() if line.startswith("packet"))


H264_BFRAMES = {
    "profile": "high",
    "preset": "veryfast",
    "x264-params": "bframes=2:keyint=15:min-keyint=15:scenecut=0:log-level=error",
}


@pytest.fixture(scope="module")
def h264() -> Encoded:
    return encode_video("libx264", 322, 242, frames=45, options=H264_BFRAMES)


@pytest.fixture(scope="module")
def aac() -> Encoded:
    return encode_audio("aac", 48000, "stereo", frames=70)


@pytest.mark.parametrize("negative_offsets", [True, False])
def test_h264_and_aac_read_back_by_ffmpeg(
    h264: Encoded, aac: Encoded, negative_offsets: bool, tmp_path: Path
) -> None:
    video = list(to_samples(h264, 90000, negative_offsets))
    audio = list(to_samples(aac, 48000, False))
    assert any(not s.keyframe for _, s in video), "the stream must have inter frames"
    if negative_offsets:
        assert min(s.composition_offset for _, s in video) < 0
    data = package(
        [
            (TrackSpec(1, TrackConfig(Codec.H264, h264.extradata), 90000), video),
            (TrackSpec(2, TrackConfig(Codec.AAC, aac.extradata), 48000), audio),
        ]
    )
    packets, frames, sizes = read_back(data)
    assert_same(packets[0], written(video))
    assert_same(packets[1], written(audio))
    if not negative_offsets:
        assert [w.pts for w in packets[0]] == [w.pts for w in written(video)]
    assert frames == {0: len(video), 1: len(audio)}
    assert set(sizes) == {"322x242"}
    assert ffprobe_packets(data, tmp_path) == len(video) + len(audio)


def _hevc() -> Encoded:
    opts = dict(X265, **{"x265-params": "log-level=error:keyint=15:min-keyint=15:bframes=2"})
    return encode_video("libx265", 322, 242, frames=30, options=opts)


def _av1() -> Encoded:
    assert AV1_ENCODER is not None
    return encode_video(AV1_ENCODER, 322, 242, frames=30, options=av1_options())


def _vp9() -> Encoded:
    opts = {"deadline": "realtime", "cpu-used": "8", "g": "15"}
    return encode_video("libvpx-vp9", 322, 242, frames=30, fmt="flv", options=opts)


@pytest.mark.parametrize(
    ("codec", "make", "size"),
    [
        pytest.param(Codec.H265, _hevc, "322x242", id="hevc"),
        pytest.param(
            Codec.AV1,
            _av1,
            "322x242",
            id="av1",
            marks=pytest.mark.skipif(AV1_ENCODER is None, reason="no AV1 encoder"),
        ),
        pytest.param(Codec.VP9, _vp9, "322x242", id="vp9"),
    ],
)
def test_video_read_back_by_ffmpeg(
    codec: Codec, make: Callable[[], Encoded], size: str, tmp_path: Path
) -> None:
    enc = make()
    # FLV (the VP9 source) counts in ms: 90 ticks each.
    video = list(to_samples(enc, 90000, negative_offsets=True))
    data = package([(TrackSpec(1, TrackConfig(codec, enc.extradata), 90000), video)])
    ftyp_size, ftyp = struct.unpack_from(">I4s", data)
    assert ftyp == b"ftyp" and data[ftyp_size - 4 : ftyp_size] == b"cmfc"  # a CMAF track file
    packets, frames, sizes = read_back(data)
    assert_same(packets[0], written(video))
    assert frames == {0: len(video)}
    assert set(sizes) == {size}
    assert ffprobe_packets(data, tmp_path) == len(video)


def test_opus_read_back_by_ffmpeg(tmp_path: Path) -> None:
    enc = encode_audio("libopus", 48000, "stereo", frames=50)
    audio = list(to_samples(enc, 48000, False))
    data = package([(TrackSpec(1, TrackConfig(Codec.OPUS, enc.extradata), 48000), audio)])
    packets, frames, _ = read_back(data)
    assert_same(packets[0], written(audio))
    assert frames == {0: len(audio)}
    with av.open(io.BytesIO(data), format="mp4") as container:
        ctx = container.streams.audio[0].codec_context
        assert (ctx.sample_rate, ctx.layout.nb_channels) == (48000, 2)
        assert bytes(ctx.extradata) == enc.extradata  # dOps turned back into OpusHead
    assert ffprobe_packets(data, tmp_path) == len(audio)


# --- A rendered playlist, read by ffmpeg's HLS demuxer (and PyAV's newer one) ------------

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FPS = 10
FRAMES_PER_SEGMENT = 5


def write_fragmented_mp4(directory: Path) -> tuple[bytes, list[bytes]]:
    """A 2 s H.264 clip as fMP4, one fragment per frame: the init section and fragments."""
    path = directory / "clip.mp4"
    with av.open(
        str(path),
        "w",
        format="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof+frag_every_frame"},
    ) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={FRAMES_PER_SEGMENT}:min-keyint={FRAMES_PER_SEGMENT}"
            ":scenecut=0",
        }
        for index in range(4 * FRAMES_PER_SEGMENT):
            frame = av.VideoFrame(64, 64, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 12 % 256]) * plane.buffer_size)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    boxes: list[tuple[bytes, bytes]] = []
    position = 0
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        assert size >= 8, "64-bit box sizes are not expected here"
        boxes.append((kind, data[position : position + size]))
        position += size
    assert [kind for kind, _ in boxes[:2]] == [b"ftyp", b"moov"]
    fragments = [
        boxes[i][1] + boxes[i + 1][1] for i in range(2, len(boxes) - 1, 2) if boxes[i][0] == b"moof"
    ]
    return boxes[0][1] + boxes[1][1], fragments


def test_ffmpeg_reads_a_rendered_playlist(tmp_path: Path) -> None:
    ffmpeg = require("ffmpeg")
    init, fragments = write_fragmented_mp4(tmp_path)
    assert len(fragments) == 4 * FRAMES_PER_SEGMENT
    (tmp_path / "init-1.mp4").write_bytes(init)
    (tmp_path / "init-2.mp4").write_bytes(init)
    for index, chunk in enumerate(fragments):
        (tmp_path / f"part{index}.m4s").write_bytes(chunk)
    segments = []
    for msn in range(4):
        first = msn * FRAMES_PER_SEGMENT
        (tmp_path / f"seg{msn}.m4s").write_bytes(
            b"".join(fragments[first : first + FRAMES_PER_SEGMENT])
        )
        segments.append(
            Segment(
                msn,
                f"seg{msn}.m4s",
                FRAMES_PER_SEGMENT / FPS,
                # The last two segments keep their parts, a frame each.
                tuple(
                    Part(f"part{first + i}.m4s", 1 / FPS, i == 0) for i in range(FRAMES_PER_SEGMENT)
                )
                if msn >= 2
                else (),
                T0 + timedelta(seconds=msn * FRAMES_PER_SEGMENT / FPS),
                msn == 2,  # a publisher reconnect: discontinuity and a new map
                "init-1.mp4" if msn < 2 else "init-2.mp4",
            )
        )
    pl = MediaPlaylist(
        target_duration=1,
        part_target=1 / FPS,
        media_sequence=0,
        discontinuity_sequence=0,
        segments=tuple(segments),
        trailing_parts=(),
        preload_hint=None,
        rendition_reports=(RenditionReport("other.m3u8", 3, 4),),
        ended=True,
        can_skip_until=6.0,
        part_hold_back=None,
    )
    path = tmp_path / "index.m3u8"
    path.write_text(render_media(pl))

    result = subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-v",
            "error",
            "-i",
            str(path),
            "-c",
            "copy",
            "-f",
            "framecrc",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    packets = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert len(packets) == 4 * FRAMES_PER_SEGMENT

    with av.open(str(path)) as container:
        read = sum(1 for packet in container.demux(video=0) if packet.size)
    assert read == 4 * FRAMES_PER_SEGMENT
