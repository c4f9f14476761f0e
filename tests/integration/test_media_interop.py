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
from pathlib import Path

import av
import pytest

from golive.formats.fmp4 import FragmentSample, TrackRun, TrackSpec, fragment, init_segment
from golive.media import Codec, TrackConfig
from tests.conftest import require
from tests.pyav_encoders import AV1_ENCODER, X265, Encoded, av1_options, encode_audio, encode_video

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
