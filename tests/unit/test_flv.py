"""FLV tag bodies to media events (FLV 10.1, E.4.2 and E.4.3; Enhanced RTMP v1 and v2): byte
tables for every packet kind, the refusals, fuzzing, and FLV files written by FFmpeg's muxer
through PyAV."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media import Codec, Kind, Sample, TrackConfig
from golive.rtmp.errors import ProtocolError, UnsupportedCodecError
from golive.rtmp.flv import (
    ConfigChanged,
    EndOfSequence,
    FlvEvent,
    VideoMetadata,
    parse_audio,
    parse_video,
)
from tests.harness.byte_tables import (
    AAC_FRAME,
    ASC,
    AV1C,
    AVCC,
    COLOR_INFO,
    HVCC,
    NALUS,
    OPUS_HEAD,
    OPUS_PACKET,
    h,
)
from tests.harness.encoders import have_encoder

TS = 1_000  # the DTS every table entry is parsed at
VPCC = bytes.fromhex("0100000a0000")


def sample(codec: Codec, cts: int, key: bool, data: bytes) -> Sample:
    return Sample(codec, TS, cts, key, data)


def config(codec: Codec, record: bytes) -> ConfigChanged:
    return ConfigChanged(TrackConfig(codec, record))


# --- Legacy video (FLV 10.1, E.4.3.1 VIDEODATA, E.4.3.2 AVCVIDEOPACKET) ------------------

LEGACY_VIDEO: list[tuple[str, bytes, list[FlvEvent]]] = [
    ("empty body", b"", []),
    ("AVC sequence header", h("17 00 000000") + AVCC, [config(Codec.H264, AVCC)]),
    ("AVC keyframe, cts 80", h("17 01 000050") + NALUS, [sample(Codec.H264, 80, True, NALUS)]),
    (
        "AVC inter frame, cts -33",
        h("27 01 ffffdf") + NALUS,
        [sample(Codec.H264, -33, False, NALUS)],
    ),
    ("AVC cts -1", h("27 01 ffffff") + NALUS, [sample(Codec.H264, -1, False, NALUS)]),
    ("AVC cts max", h("27 01 7fffff") + NALUS, [sample(Codec.H264, 0x7FFFFF, False, NALUS)]),
    ("AVC cts min", h("27 01 800000") + NALUS, [sample(Codec.H264, -0x800000, False, NALUS)]),
    ("AVC disposable inter", h("37 01 000000") + NALUS, [sample(Codec.H264, 0, False, NALUS)]),
    ("AVC end of sequence", h("17 02 000000"), [EndOfSequence(Kind.VIDEO)]),
    ("AVC frame without NAL units", h("27 01 000000"), []),
    ("AVC empty sequence header", h("17 00 000000"), []),
    ("command frame (seek start)", h("57 00"), []),
    ("command frame of another codec", h("52 01"), []),
    ("legacy HEVC (id 12) header", h("1c 00 000000") + HVCC, [config(Codec.H265, HVCC)]),
    ("legacy HEVC frame", h("2c 01 000028") + NALUS, [sample(Codec.H265, 40, False, NALUS)]),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in LEGACY_VIDEO], ids=[c[0] for c in LEGACY_VIDEO]
)
def test_legacy_video(body: bytes, expected: list[FlvEvent]) -> None:
    assert parse_video(body, TS) == expected


def test_sample_timing_uses_caller_dts() -> None:
    # The caller's unwrapped 64-bit DTS is taken as is: past the 32-bit wrap here.
    dts = 2**32 + 5
    [event] = parse_video(h("27 01 ffffdf") + NALUS, dts)
    assert isinstance(event, Sample)
    assert (event.dts, event.cts, event.pts) == (dts, -33, dts - 33)


# --- Enhanced video (Enhanced RTMP v2, ExVideoTagHeader / ExVideoTagBody) -----------------

MODEX_NANO = "97 02 0f423f 01"  # 3 bytes of TimestampOffsetNano (999,999 ns), then CodedFrames

ENHANCED_VIDEO: list[tuple[str, bytes, list[FlvEvent]]] = [
    ("hvc1 SequenceStart", h("90 'hvc1'") + HVCC, [config(Codec.H265, HVCC)]),
    ("avc1 SequenceStart", h("90 'avc1'") + AVCC, [config(Codec.H264, AVCC)]),
    ("av01 SequenceStart", h("90 'av01'") + AV1C, [config(Codec.AV1, AV1C)]),
    ("vp09 SequenceStart", h("90 'vp09'") + VPCC, [config(Codec.VP9, VPCC)]),
    ("empty SequenceStart", h("90 'hvc1'"), []),
    ("hvc1 CodedFrames key", h("91 'hvc1' 000028") + NALUS, [sample(Codec.H265, 40, True, NALUS)]),
    (
        "avc1 CodedFrames -33",
        h("a1 'avc1' ffffdf") + NALUS,
        [sample(Codec.H264, -33, False, NALUS)],
    ),
    ("hvc1 CodedFramesX", h("a3 'hvc1'") + NALUS, [sample(Codec.H265, 0, False, NALUS)]),
    (
        "av01 CodedFrames, no cts",
        h("91 'av01' 12000a0b"),
        [sample(Codec.AV1, 0, True, h("12000a0b"))],
    ),
    ("vp09 CodedFrames inter", h("a1 'vp09' 8649"), [sample(Codec.VP9, 0, False, h("8649"))]),
    ("vp09 CodedFramesX", h("93 'vp09' 8249"), [sample(Codec.VP9, 0, True, h("8249"))]),
    ("empty CodedFrames", h("a1 'hvc1' 000000"), []),
    ("SequenceEnd", h("92 'av01'"), [EndOfSequence(Kind.VIDEO)]),
    (
        "Metadata, command frame type ignored",
        h("d4 'hvc1'") + COLOR_INFO,
        [VideoMetadata(Codec.H265, COLOR_INFO)],
    ),
    (
        "Metadata, reserved frame type ignored",
        h("84 'av01'") + COLOR_INFO,
        [VideoMetadata(Codec.AV1, COLOR_INFO)],
    ),
    ("MPEG2TSSequenceStart ignored", h("95 'av01' 80040000"), []),
    ("command frame", h("d0 01"), []),
    ("command frame with multitrack", h("d6 01"), []),
    (
        "ModEx nano offset",
        h(MODEX_NANO + " 'hvc1' 000028") + NALUS,
        [sample(Codec.H265, 40, True, NALUS)],
    ),
    (
        "two ModEx blocks",
        h("a7 00 ff 77 02 0f423f 03 'avc1'") + NALUS,  # an unknown type 7, then a nano offset
        [sample(Codec.H264, 0, False, NALUS)],
    ),
    (
        "ModEx with 16-bit size",
        h("97 ff 0100") + bytes(257) + h("00 'av01'") + AV1C,
        [config(Codec.AV1, AV1C)],
    ),
    (
        "ModEx then multitrack",
        h("97 02 000001 06 01 'hvc1' 00 000028") + NALUS,
        [sample(Codec.H265, 40, True, NALUS)],
    ),
    (
        "Multitrack OneTrack",
        h("96 01 'avc1' 00 ffffdf") + NALUS,
        [sample(Codec.H264, -33, True, NALUS)],
    ),
    ("Multitrack OneTrack, track 1 dropped", h("96 01 'avc1' 01 000000") + NALUS, []),
    (
        "Multitrack ManyTracks, track 0 kept",
        h("a6 13 'hvc1' 01 000004 deadbeef 00 000009") + NALUS,
        [sample(Codec.H265, 0, False, NALUS)],
    ),
    (
        "Multitrack ManyTracks SequenceStart",
        h("96 10 'av01' 00 000004") + AV1C + h("02 000003 810000"),
        [config(Codec.AV1, AV1C)],
    ),
    (
        "Multitrack ManyTracksManyCodecs, other tracks unchecked",
        h("96 21 'vp08' 01 000002 beef 'vp09' 00 000002 8249 'xxxx' 02 000000"),
        [sample(Codec.VP9, 0, True, h("8249"))],
    ),
    (
        "Multitrack Metadata",
        h("f6 14 'hvc1' 00") + len(COLOR_INFO).to_bytes(3, "big") + COLOR_INFO,
        [VideoMetadata(Codec.H265, COLOR_INFO)],
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in ENHANCED_VIDEO], ids=[c[0] for c in ENHANCED_VIDEO]
)
def test_enhanced_video(body: bytes, expected: list[FlvEvent]) -> None:
    assert parse_video(body, TS) == expected


def test_modex_nano_offset_leaves_dts_alone() -> None:
    # TimestampOffsetNano is under 1 ms and applies to the message only: golive's ms
    # timeline keeps the RTMP time.
    [plain] = parse_video(h("91 'hvc1' 000028") + NALUS, TS)
    [with_offset] = parse_video(h(MODEX_NANO + " 'hvc1' 000028") + NALUS, TS)
    assert plain == with_offset


# --- Unsupported video codecs -----------------------------------------------------------

UNSUPPORTED_VIDEO = [
    (
        h("12 00"),
        "video codec id 2 (Sorenson H.263) is not supported; publish H.264, H.265, AV1 or VP9",
    ),
    (h("13 00"), "video codec id 3 (Screen Video) is not supported"),
    (h("14 00"), "video codec id 4 (On2 VP6) is not supported"),
    (h("15 00"), "video codec id 5 (On2 VP6 with alpha) is not supported"),
    (h("16 00"), "video codec id 6 (Screen Video v2) is not supported"),
    (h("11 00"), "video codec id 1 (JPEG) is not supported"),
    (h("18 00"), "video codec id 8 (reserved) is not supported"),
    (
        h("90 'vp08' 00"),
        "video FourCC 'vp08' (VP8) is not supported; publish H.264, H.265, AV1 or VP9",
    ),
    (h("91 'xyz1'"), "video FourCC 'xyz1' is not supported"),
    (h("91 00010203"), r"video FourCC '\x00\x01\x02\x03' is not supported"),
    (h("96 00 'vp08' 00 00"), "video FourCC 'vp08' (VP8) is not supported"),
    (h("96 21 'vp08' 00 000001 00"), "video FourCC 'vp08' (VP8) is not supported"),
]


@pytest.mark.parametrize(("body", "message"), UNSUPPORTED_VIDEO)
def test_unsupported_video(body: bytes, message: str) -> None:
    with pytest.raises(UnsupportedCodecError) as info:
        parse_video(body, TS)
    assert str(info.value).startswith(message)


# --- Malformed video --------------------------------------------------------------------

MALFORMED_VIDEO = [
    (h("17"), "AVC packet shorter than its 5-byte header"),
    (h("27 01 0000"), "AVC packet shorter than its 5-byte header"),
    (h("1c 01"), "HEVC packet shorter than its 5-byte header"),
    (h("17 03 000000"), "AVC packet type 3 is not defined"),
    (h("07 01 000000") + NALUS, "video frame type 0 is reserved"),
    (h("67 01 000000") + NALUS, "video frame type 6 is reserved"),
    (h("f1 'hvc1'") + NALUS, "video frame type 7 is reserved"),
    (h("98 'hvc1'"), "video packet type 8 is reserved"),
    (h("9f"), "video packet type 15 is reserved"),
    (h("91 'hvc'"), "enhanced video tag ends before its FourCC"),
    (h("91 'hvc1' 0000"), "HEVC coded frames shorter than their composition time"),
    (h("a1 'avc1'"), "AVC coded frames shorter than their composition time"),
    (h("97"), "video ModEx block ends before its size"),
    (h("97 ff 01"), "video ModEx block ends before its 16-bit size"),
    (h("97 02 0f423f"), "video ModEx data runs past the end of the message"),
    (h("97 ff 0100") + bytes(256), "video ModEx data runs past the end of the message"),
    (h("96"), "enhanced video tag ends before its multitrack header"),
    (h("96 31 'hvc1' 00"), "video multitrack type 3 is reserved"),
    (h("96 06 'hvc1' 00"), "video packet type 6 inside a multitrack packet"),
    (h("96 07 'hvc1' 00"), "video packet type 7 inside a multitrack packet"),
    (h("96 09 'hvc1' 00"), "video packet type 9 is reserved"),
    (h("96 01 'hvc'"), "video multitrack packet ends before its FourCC"),
    (h("96 01 'hvc1'"), "video multitrack packet has no track"),
    (h("96 11 'hvc1' 00 0000"), "video multitrack track header is truncated"),
    (h("96 21 'hvc1' 00 0000"), "video multitrack track header is truncated"),
    (h("96 11 'hvc1' 01 000005 0000"), "video track 1 runs past the end of the message"),
    (h("96 11 'hvc1' 00 000002 0000"), "HEVC coded frames shorter than their composition time"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED_VIDEO)
def test_malformed_video(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_video(body, TS)
    assert type(info.value) is ProtocolError
    assert str(info.value) == message


# --- Audio (FLV 10.1, E.4.2.1 AUDIODATA, E.4.2.2 AACAUDIODATA; Enhanced RTMP v2) ---------


AUDIO: list[tuple[str, bytes, list[FlvEvent]]] = [
    ("empty body (silence)", b"", []),
    ("AAC sequence header", h("af 00") + ASC, [config(Codec.AAC, ASC)]),
    ("AAC raw frame", h("af 01") + AAC_FRAME, [sample(Codec.AAC, 0, True, AAC_FRAME)]),
    ("AAC mono 22 kHz flags", h("a6 01") + AAC_FRAME, [sample(Codec.AAC, 0, True, AAC_FRAME)]),
    ("empty AAC frame", h("af 01"), []),
    ("empty AAC sequence header", h("af 00"), []),
    ("Opus SequenceStart", h("90 'Opus'") + OPUS_HEAD, [config(Codec.OPUS, OPUS_HEAD)]),
    ("empty Opus SequenceStart", h("90 'Opus'"), [config(Codec.OPUS, b"")]),
    ("Opus CodedFrames", h("91 'Opus'") + OPUS_PACKET, [sample(Codec.OPUS, 0, True, OPUS_PACKET)]),
    ("mp4a SequenceStart", h("90 'mp4a'") + ASC, [config(Codec.AAC, ASC)]),
    ("mp4a CodedFrames", h("91 'mp4a'") + AAC_FRAME, [sample(Codec.AAC, 0, True, AAC_FRAME)]),
    ("empty mp4a SequenceStart", h("90 'mp4a'"), []),
    ("empty Opus CodedFrames", h("91 'Opus'"), []),
    ("SequenceEnd", h("92 'Opus'"), [EndOfSequence(Kind.AUDIO)]),
    ("MultichannelConfig ignored", h("94 'Opus' 01 02 00000003"), []),
    (
        "ModEx nano offset",
        h("97 02 000400 01 'Opus'") + OPUS_PACKET,
        [sample(Codec.OPUS, 0, True, OPUS_PACKET)],
    ),
    (
        "Multitrack OneTrack",
        h("95 00 'mp4a' 00") + ASC,
        [config(Codec.AAC, ASC)],
    ),
    ("Multitrack OneTrack, track 2 dropped", h("95 01 'Opus' 02") + OPUS_PACKET, []),
    (
        "Multitrack ManyTracks",
        h("95 11 'Opus' 00 000003") + OPUS_PACKET + h("01 000002 fcff"),
        [sample(Codec.OPUS, 0, True, OPUS_PACKET)],
    ),
    (
        "Multitrack ManyTracksManyCodecs",
        h("95 21 'ac-3' 01 000002 0b77 'mp4a' 00 000005") + AAC_FRAME,
        [sample(Codec.AAC, 0, True, AAC_FRAME)],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in AUDIO], ids=[c[0] for c in AUDIO])
def test_audio(body: bytes, expected: list[FlvEvent]) -> None:
    assert parse_audio(body, TS) == expected


UNSUPPORTED_AUDIO = [
    (h("2f ff"), "audio format 2 (MP3) is not supported; publish AAC or Opus"),
    (h("0f"), "audio format 0 (Linear PCM, platform endian) is not supported"),
    (h("1f"), "audio format 1 (ADPCM) is not supported"),
    (h("3f"), "audio format 3 (Linear PCM, little endian) is not supported"),
    (h("42"), "audio format 4 (Nellymoser 16 kHz mono) is not supported"),
    (h("52"), "audio format 5 (Nellymoser 8 kHz mono) is not supported"),
    (h("6f"), "audio format 6 (Nellymoser) is not supported"),
    (h("7e"), "audio format 7 (G.711 A-law) is not supported"),
    (h("8e"), "audio format 8 (G.711 mu-law) is not supported"),
    (h("b6"), "audio format 11 (Speex) is not supported"),
    (h("c0"), "audio format 12 (reserved) is not supported"),
    (h("e2"), "audio format 14 (MP3 8 kHz) is not supported"),
    (h("f0"), "audio format 15 (device-specific sound) is not supported"),
    (h("91 '.mp3' fffb"), "audio FourCC '.mp3' (MP3) is not supported; publish AAC or Opus"),
    (h("90 'fLaC'"), "audio FourCC 'fLaC' (FLAC) is not supported"),
    (h("91 'ac-3'"), "audio FourCC 'ac-3' (AC-3) is not supported"),
    (h("91 'ec-3'"), "audio FourCC 'ec-3' (E-AC-3) is not supported"),
    (h("91 'Vorb'"), "audio FourCC 'Vorb' is not supported"),
    (h("95 10 'fLaC' 00 000000"), "audio FourCC 'fLaC' (FLAC) is not supported"),
]


@pytest.mark.parametrize(("body", "message"), UNSUPPORTED_AUDIO)
def test_unsupported_audio(body: bytes, message: str) -> None:
    with pytest.raises(UnsupportedCodecError) as info:
        parse_audio(body, TS)
    assert str(info.value).startswith(message)


MALFORMED_AUDIO = [
    (h("af"), "AAC packet shorter than its 2-byte header"),
    (h("af 02 00"), "AAC packet type 2 is not defined"),
    (h("91 'Opu'"), "enhanced audio tag ends before its FourCC"),
    (h("93 'Opus'"), "audio packet type 3 is reserved"),
    (h("96 'Opus'"), "audio packet type 6 is reserved"),
    (h("98 'Opus'"), "audio packet type 8 is reserved"),
    (h("97"), "audio ModEx block ends before its size"),
    (h("97 ff"), "audio ModEx block ends before its 16-bit size"),
    (h("97 02 000400"), "audio ModEx data runs past the end of the message"),
    (h("95"), "enhanced audio tag ends before its multitrack header"),
    (h("95 35 'Opus'"), "audio packet type 5 inside a multitrack packet"),
    (h("95 37 'Opus'"), "audio packet type 7 inside a multitrack packet"),
    (h("95 31 'Opus' 00"), "audio multitrack type 3 is reserved"),
    (h("95 01 'Opu'"), "audio multitrack packet ends before its FourCC"),
    (h("95 11 'Opus'"), "audio multitrack packet has no track"),
    (h("95 21 'Opus' 00 00"), "audio multitrack track header is truncated"),
    (h("95 11 'Opus' 00 000009 fc"), "audio track 0 runs past the end of the message"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED_AUDIO)
def test_malformed_audio(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_audio(body, TS)
    assert type(info.value) is ProtocolError
    assert str(info.value) == message


# --- Fuzzing: arbitrary bytes raise nothing but ProtocolError ------------------------------

# Plain random bytes rarely get past the first byte's checks; prefixes steer the fuzzer into
# the enhanced headers, ModEx and multitrack walks with supported FourCCs.
_PREFIXES = [
    b"",
    h("17 01"),
    h("27 01"),
    h("1c 00"),
    h("91 'hvc1'"),
    h("a1 'avc1'"),
    h("91 'av01'"),
    h("97"),
    h("96"),
    h("96 01 'hvc1'"),
    h("96 11 'avc1'"),
    h("96 21 'hvc1'"),
    h("af"),
    h("90 'Opus'"),
    h("97"),
    h("95"),
    h("95 11 'Opus'"),
    h("95 21 'mp4a'"),
]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_PREFIXES), st.binary(max_size=40), st.integers(0, 2**40))
def test_arbitrary_bytes_raise_only_protocol_errors(prefix: bytes, tail: bytes, ts: int) -> None:
    body = prefix + tail
    for parse in (parse_video, parse_audio):
        try:
            events = parse(body, ts)
        except ProtocolError:
            continue
        for event in events:
            assert isinstance(event, ConfigChanged | Sample | EndOfSequence | VideoMetadata)
            if isinstance(event, Sample):
                assert event.dts == ts
                assert -0x800000 <= event.cts < 0x800000
                assert event.data and isinstance(event.data, bytes)


# --- Real FLV files from FFmpeg's muxer (through PyAV) ------------------------------------

av = pytest.importorskip("av")
_FPS = 25
_SECONDS = 2
_FLV_TAG = struct.Struct(">BHBHBBHB")  # type, size (UI24), time (UI24), time ext, stream (UI24)


@dataclass
class Encoded:
    flv: bytes
    video: list[tuple[int, int, bool]]  # (pts, dts, keyframe) in ms, as muxed
    audio: list[int]  # dts in ms
    video_extradata: bytes
    audio_extradata: bytes


def _encode(video_codec: str, audio_codec: str) -> Encoded:
    """A couple of seconds of moving 64x48 video with B-frames and silent audio, muxed as
    FLV by FFmpeg's flv muxer into memory."""
    buf = io.BytesIO()
    out = av.open(buf, "w", format="flv")
    vs = out.add_stream(video_codec, rate=_FPS)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    if video_codec == "libx265":
        vs.options = {"x265-params": "log-level=none:keyint=25:bframes=2"}
    else:
        vs.options = {"bf": "2", "g": "25", "preset": "ultrafast"}
    aus = out.add_stream(audio_codec, rate=48000, layout="stereo")
    video: list[tuple[int, int, bool]] = []
    audio: list[int] = []

    def mux_video(packets: Any) -> None:
        for packet in packets:
            out.mux(packet)  # rescales the packet to the FLV time base, 1/1000
            video.append((packet.pts, packet.dts, packet.is_keyframe))

    def mux_audio(packets: Any) -> None:
        for packet in packets:
            out.mux(packet)
            audio.append(packet.dts)

    ramp = bytes(range(256)) * 16
    for i in range(_FPS * _SECONDS):
        frame = av.VideoFrame(64, 48, "yuv420p")
        for plane in frame.planes:
            plane.update(ramp[i * 3 : i * 3 + plane.buffer_size])
        frame.pts = i
        mux_video(vs.encode(frame))
    mux_video(vs.encode(None))

    ctx = aus.codec_context
    for i in range(48000 * _SECONDS // ctx.frame_size):
        frame = av.AudioFrame(format=ctx.format.name, layout="stereo", samples=ctx.frame_size)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 48000
        frame.pts = i * ctx.frame_size
        mux_audio(aus.encode(frame))
    mux_audio(aus.encode(None))
    video_extradata, audio_extradata = (
        bytes(vs.codec_context.extradata or b""),
        bytes(ctx.extradata or b""),
    )
    out.close()
    return Encoded(buf.getvalue(), video, audio, video_extradata, audio_extradata)


def _tags(flv: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(tag type, timestamp, body) of an FLV file (FLV 10.1, E.2 header and E.3 body)."""
    assert flv[:3] == b"FLV" and flv[3] == 1
    pos = int.from_bytes(flv[5:9], "big")
    assert int.from_bytes(flv[pos : pos + 4], "big") == 0  # PreviousTagSize0
    pos += 4
    while pos < len(flv):
        tag_type, size_hi, size_lo, time_hi, time_lo, time_ext, _, _ = _FLV_TAG.unpack_from(
            flv, pos
        )
        size = size_hi << 8 | size_lo
        timestamp = time_ext << 24 | time_hi << 8 | time_lo
        body = flv[pos + 11 : pos + 11 + size]
        pos += 11 + size
        assert int.from_bytes(flv[pos : pos + 4], "big") == 11 + size  # PreviousTagSize
        pos += 4
        yield tag_type & 0x1F, timestamp, body


@dataclass
class Parsed:
    video: list[FlvEvent]
    audio: list[FlvEvent]
    first_video_bytes: set[int]
    first_audio_bytes: set[int]


def _parse_file(flv: bytes) -> Parsed:
    parsed = Parsed([], [], set(), set())
    for tag_type, timestamp, body in _tags(flv):
        if tag_type == 9:
            parsed.first_video_bytes.add(body[0])
            parsed.video.extend(parse_video(body, timestamp))
        elif tag_type == 8:
            parsed.first_audio_bytes.add(body[0])
            parsed.audio.extend(parse_audio(body, timestamp))
    return parsed


def _check_nal_units(data: bytes) -> None:
    """AVC/HEVC sample data stays as 4-byte length-prefixed NAL units, exactly filling it."""
    pos = 0
    while pos < len(data):
        pos += 4 + int.from_bytes(data[pos : pos + 4], "big")
    assert pos == len(data)


def _check_video(encoded: Encoded, parsed: Parsed, codec: Codec) -> None:
    first = parsed.video[0]
    assert isinstance(first, ConfigChanged)
    assert first.config.codec is codec
    assert first.config.record[0] == 1  # configurationVersion of avcC / hvcC
    samples = [e for e in parsed.video if isinstance(e, Sample)]
    assert len(samples) == len(encoded.video) == _FPS * _SECONDS
    assert [s.codec for s in samples] == [codec] * len(samples)
    assert [s.keyframe for s in samples] == [key for _, _, key in encoded.video]
    assert [s.cts for s in samples] == [pts - dts for pts, dts, _ in encoded.video]
    # The muxer may shift the whole timeline to keep DTS non-negative; steps are kept.
    shift = samples[0].dts - encoded.video[0][1]
    assert [s.dts - shift for s in samples] == [dts for _, dts, _ in encoded.video]
    assert any(s.cts < 0 for s in samples) or any(s.cts > 0 for s in samples)
    for s in samples:
        _check_nal_units(s.data)


def _check_audio(encoded: Encoded, parsed: Parsed, codec: Codec) -> list[Sample]:
    first = parsed.audio[0]
    assert isinstance(first, ConfigChanged)
    assert first.config.codec is codec
    samples = [e for e in parsed.audio if isinstance(e, Sample)]
    assert len(samples) == len(encoded.audio) > 0
    assert all(s.codec is codec and s.keyframe and s.cts == 0 for s in samples)
    return samples


@pytest.mark.skipif(not have_encoder("libx264"), reason="FFmpeg without libx264")
def test_real_flv_h264_aac() -> None:
    encoded = _encode("libx264", "aac")
    parsed = _parse_file(encoded.flv)
    # FFmpeg writes H.264 with the legacy header (codec id 7), key and inter frames, and
    # AAC with the legacy header (0xaf: AAC, 44 kHz flag, 16-bit, stereo, as E.4.2.1 asks).
    assert parsed.first_video_bytes == {0x17, 0x27}
    assert parsed.first_audio_bytes == {0xAF}
    _check_video(encoded, parsed, Codec.H264)
    _check_audio(encoded, parsed, Codec.AAC)
    first_audio = parsed.audio[0]
    assert isinstance(first_audio, ConfigChanged)
    assert first_audio.config.record == encoded.audio_extradata  # the AudioSpecificConfig


@pytest.mark.skipif(not have_encoder("libx265"), reason="FFmpeg without libx265")
def test_real_flv_hevc_enhanced() -> None:
    try:
        encoded = _encode("libx265", "aac")
    except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - FFmpeg < 6.1
        pytest.skip(f"this FFmpeg's flv muxer does not take HEVC: {exc}")
    parsed = _parse_file(encoded.flv)
    # FFmpeg 6.1 and later write HEVC in FLV as Enhanced RTMP 'hvc1': every video tag has
    # IsExVideoHeader set. FFmpeg 8 sends SequenceStart (0x90), CodedFrames with a
    # composition time (0x91, 0xa1), CodedFramesX when it is 0 (0xa3) and a colorInfo
    # Metadata packet marked as a command frame (0xd4).
    assert all(b & 0x80 for b in parsed.first_video_bytes)
    assert {0x90, 0xA1} <= parsed.first_video_bytes
    _check_video(encoded, parsed, Codec.H265)
    _check_audio(encoded, parsed, Codec.AAC)
    metadata = [e for e in parsed.video if isinstance(e, VideoMetadata)]
    assert all(m.codec is Codec.H265 and b"colorInfo" in m.payload for m in metadata)


@pytest.mark.skipif(not have_encoder("libopus"), reason="FFmpeg without libopus")
def test_real_flv_opus_enhanced() -> None:
    try:
        encoded = _encode("libx264", "libopus")
    except (av.error.FFmpegError, ValueError) as exc:  # pragma: no cover - older FFmpeg
        pytest.skip(f"this FFmpeg's flv muxer does not take Opus: {exc}")
    parsed = _parse_file(encoded.flv)
    # Enhanced audio 'Opus': SequenceStart (0x90), CodedFrames (0x91); FFmpeg 8 also sends a
    # MultichannelConfig (0x94), which carries nothing golive needs.
    assert all(b >> 4 == 9 for b in parsed.first_audio_bytes)
    assert {0x90, 0x91} <= parsed.first_audio_bytes
    _check_video(encoded, parsed, Codec.H264)
    _check_audio(encoded, parsed, Codec.OPUS)
    first_audio = parsed.audio[0]
    assert isinstance(first_audio, ConfigChanged)
    assert first_audio.config.record.startswith(b"OpusHead")
