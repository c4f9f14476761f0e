"""Decoder configuration records to codec strings and sizes (golive.codecs): records made by
real encoders through PyAV, hand-built records with values worked out by hand, malformed
records, and fuzzing.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.codecs import (
    BitReader,
    CodecError,
    TrackInfo,
    describe,
    parse_opus_head,
    unescape_rbsp,
    vpcc_box_payload,
)
from golive.media import Codec, TrackConfig
from tests.harness.encoders import (
    AV1_ENCODER,
    X264_HIGH,
    X265,
    av1_options,
    encode_audio,
    encode_video,
    needs_av1,
)
from tests.harness.records import (
    OPUS_5_1,
    OPUS_STEREO,
    VPCC_BODY,
    BitWriter,
    avcc,
    escape,
    hvcc,
    sps_baseline_320x240,
)

# --- Real records from PyAV encoders ------------------------------------------------------


def _avcc_sps(record: bytes) -> bytes:
    assert record[5] & 0x1F >= 1
    return record[8 : 8 + int.from_bytes(record[6:8], "big")]


@pytest.mark.parametrize(("width", "height"), [(322, 242), (640, 360)])
def test_h264_high_from_libx264(width: int, height: int) -> None:
    enc = encode_video("libx264", width, height, options=X264_HIGH)
    info = describe(TrackConfig(Codec.H264, enc.extradata))
    assert (info.width, info.height) == (width, height) == (enc.width, enc.height)
    # RFC 6381 3.3: avc1.PPCCLL = profile_idc, the constraint flags byte, level_idc of the SPS.
    sps = _avcc_sps(enc.extradata)
    assert sps[1] == 100  # High profile
    prefix, fields = info.codec_string.split(".")
    assert prefix == "avc1"
    assert len(fields) == 6
    assert int(fields[0:2], 16) == sps[1] == enc.extradata[1]
    assert int(fields[2:4], 16) == sps[2] == enc.extradata[2]
    assert int(fields[4:6], 16) == sps[3] == enc.extradata[3]
    assert fields == fields.lower()
    assert info == TrackInfo(Codec.H264, info.codec_string, width, height)


@pytest.mark.parametrize(("width", "height"), [(322, 242), (640, 360)])
def test_h265_from_libx265(width: int, height: int) -> None:
    enc = encode_video("libx265", width, height, options=X265)
    info = describe(TrackConfig(Codec.H265, enc.extradata))
    assert (info.width, info.height) == (width, height) == (enc.width, enc.height)
    # ISO/IEC 14496-15 E.3, checked against the copy of profile_tier_level in the hvcC
    # header (which the SPS, parsed by describe, must agree with).
    rec = enc.extradata
    profile_space, tier, profile_idc = rec[1] >> 6, rec[1] >> 5 & 1, rec[1] & 0x1F
    compat = int.from_bytes(rec[2:6], "big")
    parts = info.codec_string.split(".")
    assert parts[0] == "hvc1"
    assert profile_space == 0 and parts[1] == str(profile_idc) == "1"  # Main
    reversed_compat = int(parts[2], 16)
    for j in range(32):  # flag j is the j-th bit read, and bit j of the reversed value
        assert (reversed_compat >> j) & 1 == (compat >> (31 - j)) & 1
    assert parts[2] == "6"  # Main declares itself compatible with profiles 1 and 2
    assert parts[3] == "LH"[tier] + str(rec[12])
    assert parts[4:] == [f"{b:X}" for b in rec[6:12].rstrip(b"\x00")]


@needs_av1
@pytest.mark.parametrize(("width", "height"), [(322, 242), (640, 360)])
def test_av1_from_encoder(width: int, height: int) -> None:
    assert AV1_ENCODER is not None
    enc = encode_video(AV1_ENCODER, width, height, frames=2, options=av1_options())
    info = describe(TrackConfig(Codec.AV1, enc.extradata))
    assert (info.width, info.height) == (width, height)
    rec = enc.extradata
    assert rec[0] == 0x81
    # AV1-ISOBMFF codecs parameter: av01.P.LLT.DD
    assert info.codec_string.split(".") == [
        "av01",
        str(rec[1] >> 5),
        f"{rec[1] & 0x1F:02d}" + "MH"[rec[2] >> 7],
        "08",
    ]


def test_vp9_from_libvpx_through_flv() -> None:
    # FFmpeg's Enhanced RTMP muxer sends vpcC with its FullBox version and flags.
    enc = encode_video(
        "libvpx-vp9", 322, 242, frames=2, fmt="flv", options={"deadline": "realtime"}
    )
    rec = enc.extradata
    assert rec[:4] == b"\x01\x00\x00\x00"
    info = describe(TrackConfig(Codec.VP9, rec))
    assert info.codec_string.split(".") == [
        "vp09",
        f"{rec[4]:02d}",
        f"{rec[5]:02d}",
        f"{rec[6] >> 4:02d}",
    ]
    assert info.codec_string.startswith("vp09.00.")
    assert info.codec_string.endswith(".08")
    assert (info.width, info.height) == (0, 0)  # vpcC has no picture size


@pytest.mark.parametrize(
    ("rate", "layout", "channels"), [(48000, "stereo", 2), (44100, "mono", 1), (22050, "stereo", 2)]
)
def test_aac_from_ffmpeg_encoder(rate: int, layout: str, channels: int) -> None:
    enc = encode_audio("aac", rate, layout, frames=2)
    info = describe(TrackConfig(Codec.AAC, enc.extradata))
    assert info == TrackInfo(Codec.AAC, "mp4a.40.2", sample_rate=rate, channels=channels)
    assert (enc.sample_rate, enc.channels) == (rate, channels)


@pytest.mark.parametrize(("layout", "channels"), [("stereo", 2), ("mono", 1)])
def test_opus_from_libopus(layout: str, channels: int) -> None:
    enc = encode_audio("libopus", 48000, layout, frames=2)
    assert enc.extradata.startswith(b"OpusHead")
    info = describe(TrackConfig(Codec.OPUS, enc.extradata))
    assert info == TrackInfo(Codec.OPUS, "opus", sample_rate=48000, channels=channels)
    head = parse_opus_head(enc.extradata)
    assert head.channels == channels
    assert head.pre_skip == int.from_bytes(enc.extradata[10:12], "little") > 0


# --- Hand-made H.264 SPS ------------------------------------------------------------------


def sps_high422_fields_cropped() -> bytes:
    """High 4:2:2, field coded, two scaling lists, POC type 1 with huge offsets (their long
    runs of zero bits force emulation prevention bytes), and cropping.

    ChromaArrayType 2: SubWidthC 2, SubHeightC 1; frame_mbs_only 0 doubles the map unit
    height and CropUnitY. Width 20 * 16 - 2 * (1 + 2) = 314; height 2 * 9 * 16 - 2 * (0 + 3)
    = 282.
    """
    w = BitWriter().u(8, 122).u(8, 0).u(8, 0x32).ue(3)
    w.ue(2).ue(1).ue(2).u(1, 0)  # chroma 4:2:2, bit depths 9 and 10, qpprime
    w.u(1, 1)  # seq_scaling_matrix_present_flag: 8 lists
    w.u(1, 1).se(4).se(5).se(0).se(3)  # list 0 (4x4): 12, 17, 17, 20, then 12 more
    for _ in range(12):
        w.se(1)
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # lists 1 to 5 absent
    w.u(1, 1).se(4)  # list 6 (8x8): 12, then 63 more
    for _ in range(63):
        w.se(1)
    w.u(1, 0)  # list 7 absent
    w.ue(4).ue(1)  # log2_max_frame_num_minus4, pic_order_cnt_type 1
    w.u(1, 0).se(-(1 << 29)).se(1 << 29)  # delta_pic_order_always_zero, two offsets
    w.ue(2).se(-(1 << 29)).se(7)  # two offset_for_ref_frame
    w.ue(4).u(1, 0)  # max_num_ref_frames, gaps
    w.ue(19).ue(8)  # 20 macroblocks wide, 9 map units high
    w.u(1, 0).u(1, 1)  # frame_mbs_only 0, mb_adaptive_frame_field 1
    w.u(1, 1)  # direct_8x8
    w.u(1, 1).ue(1).ue(2).ue(0).ue(3)  # cropping
    w.u(1, 0)
    rbsp = w.rbsp()
    escaped = escape(rbsp)
    assert escaped != rbsp, "the case must exercise emulation prevention"
    return b"\x67" + escaped


def sps_high444_separate_planes() -> bytes:
    """High 4:4:4 with separate colour planes (ChromaArrayType 0: crop units 1 and 1) and
    12 scaling lists, one of which switches to the default matrix (delta to 0).
    Width 10 * 16 - (1 + 2) = 157; height 5 * 16 - (1 + 0) = 79."""
    w = BitWriter().u(8, 244).u(8, 0).u(8, 0x28).ue(0)
    w.ue(3).u(1, 1).ue(0).ue(0).u(1, 0)  # chroma 4:4:4, separate planes, 8 bit, qpprime
    w.u(1, 1)
    for i in range(12):
        if i in (0, 7, 11):
            w.u(1, 1).se(-8)  # nextScale 0 at once: useDefaultScalingMatrixFlag
        else:
            w.u(1, 0)
    w.ue(0).ue(0).ue(2)  # log2_max_frame_num, POC type 0 with its lsb length
    w.ue(1).u(1, 0).ue(9).ue(4)
    w.u(1, 1).u(1, 1)
    w.u(1, 1).ue(1).ue(2).ue(1).ue(0)
    w.u(1, 0)
    return b"\x67" + escape(w.rbsp())


def sps_monochrome() -> bytes:
    """High profile 4:0:0 (ChromaArrayType 0), frames: width 40 * 16 - 3 = 637, height
    23 * 16 - 8 = 360."""
    w = BitWriter().u(8, 100).u(8, 0).u(8, 0x1F).ue(1)
    w.ue(0).ue(0).ue(0).u(1, 0).u(1, 0)
    w.ue(0).ue(0).ue(0).ue(1).u(1, 0).ue(39).ue(22)
    w.u(1, 1).u(1, 1)
    w.u(1, 1).ue(0).ue(3).ue(0).ue(8)
    return b"\x67" + escape(w.rbsp())


H264_HAND: list[tuple[str, bytes, TrackInfo]] = [
    ("baseline", sps_baseline_320x240(), TrackInfo(Codec.H264, "avc1.42c01e", 320, 240)),
    ("4:2:2 fields", sps_high422_fields_cropped(), TrackInfo(Codec.H264, "avc1.7a0032", 314, 282)),
    ("4:4:4 planes", sps_high444_separate_planes(), TrackInfo(Codec.H264, "avc1.f40028", 157, 79)),
    ("monochrome", sps_monochrome(), TrackInfo(Codec.H264, "avc1.64001f", 637, 360)),
]


@pytest.mark.parametrize(
    ("sps", "expected"), [c[1:] for c in H264_HAND], ids=[c[0] for c in H264_HAND]
)
def test_h264_hand_made(sps: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.H264, avcc(sps))) == expected


# --- Hand-made H.265 SPS ------------------------------------------------------------------


def hevc_sps(
    *,
    space: int,
    tier: int,
    profile: int,
    compat: int,
    constraints: int,
    level: int,
    chroma: int,
    separate: bool,
    size: tuple[int, int],
    window: tuple[int, int, int, int] | None,
    sub_layers: list[tuple[bool, bool]],
) -> bytes:
    w = BitWriter().u(4, 0).u(3, len(sub_layers)).u(1, 1)
    w.u(2, space).u(1, tier).u(5, profile).u(32, compat).u(48, constraints).u(8, level)
    for profile_present, level_present in sub_layers:
        w.u(1, int(profile_present)).u(1, int(level_present))
    if sub_layers:
        w.u(2 * (8 - len(sub_layers)), 0)
    for profile_present, level_present in sub_layers:
        if profile_present:
            w.u(2, 0).u(1, 0).u(5, profile).u(32, compat).u(48, constraints)
        if level_present:
            w.u(8, 90)
    w.ue(0).ue(chroma)
    if chroma == 3:
        w.u(1, int(separate))
    w.ue(size[0]).ue(size[1])
    w.u(1, window is not None)
    if window:
        for offset in window:
            w.ue(offset)
    w.ue(2).ue(2).ue(4)  # bit depths, log2_max_pic_order_cnt_lsb_minus4: not read
    return b"\x42\x01" + escape(w.rbsp())


H265_HAND: list[tuple[str, bytes, TrackInfo]] = [
    (
        # Main 10, high tier, level 5.1, 4:2:0; two sub-layers with PTL; 1928x1088 cropped by
        # 2 * (2 + 2) and 2 * (0 + 4) to 1920x1080. Flag 2 alone reverses to 0x4; constraint
        # bytes 90 00 00 00 00 80 keep their inner zeros and drop none.
        "main10 high tier",
        hevc_sps(
            space=0,
            tier=1,
            profile=2,
            compat=1 << 29,
            constraints=0x900000000080,
            level=153,
            chroma=1,
            separate=False,
            size=(1928, 1088),
            window=(2, 2, 0, 4),
            sub_layers=[(True, True), (False, True)],
        ),
        TrackInfo(Codec.H265, "hvc1.2.4.H153.90.0.0.0.0.80", 1920, 1080),
    ),
    (
        # Profile space 1 ("A"), Main with flags 1 and 2 (0x6), no constraint bytes at all;
        # 4:2:2 crops 2 * (1 + 1) wide and 1 * (2 + 2) high.
        "space A 4:2:2",
        hevc_sps(
            space=1,
            tier=0,
            profile=1,
            compat=0x60000000,
            constraints=0,
            level=93,
            chroma=2,
            separate=False,
            size=(1280, 720),
            window=(1, 1, 2, 2),
            sub_layers=[],
        ),
        TrackInfo(Codec.H265, "hvc1.A1.6.L93", 1276, 716),
    ),
    (
        # RExt 4:4:4 with separate colour planes: crop units 1; flags 4 and 31 set.
        "4:4:4 planes",
        hevc_sps(
            space=0,
            tier=0,
            profile=4,
            compat=0x08000001,
            constraints=0xB00000000000,
            level=120,
            chroma=3,
            separate=True,
            size=(640, 480),
            window=(0, 3, 1, 0),
            sub_layers=[(True, False)],
        ),
        TrackInfo(Codec.H265, "hvc1.4.80000010.L120.B0", 637, 479),
    ),
]


@pytest.mark.parametrize(
    ("sps", "expected"), [c[1:] for c in H265_HAND], ids=[c[0] for c in H265_HAND]
)
def test_h265_hand_made(sps: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.H265, hvcc(sps))) == expected


# --- Hand-made AV1 ------------------------------------------------------------------------


def av1c_header(
    profile: int, level: int, tier: int, high: int, twelve: int, mono: int = 0
) -> bytes:
    return bytes(
        (0x81, profile << 5 | level, tier << 7 | high << 6 | twelve << 5 | mono << 4 | 0x0C, 0)
    )


def av1_sequence_header_full() -> bytes:
    """timing info with equal_picture_interval, a decoder model, two operating points (the
    first at level 12 with a tier bit, decoder model and display delay), 1920x1080."""
    w = BitWriter().u(3, 0).u(1, 0).u(1, 0)
    w.u(1, 1).u(32, 1001).u(32, 60000).u(1, 1).ue(0)  # timing_info, uvlc(0)
    w.u(1, 1).u(5, 9).u(32, 90000).u(5, 20).u(5, 15)  # decoder_model_info, delays 10 bits
    w.u(1, 1)  # initial_display_delay_present_flag
    w.u(5, 1)  # two operating points
    w.u(12, 0x101).u(5, 12).u(1, 1)  # level 12 has a tier bit
    w.u(1, 1).u(10, 500).u(10, 300).u(1, 0)  # operating_parameters_info
    w.u(1, 1).u(4, 3)  # initial_display_delay_minus_1
    w.u(12, 0).u(5, 5).u(1, 0).u(1, 0)  # level 5: no tier bit; no model, no delay
    w.u(4, 10).u(4, 10).u(11, 1919).u(11, 1079)
    w.u(1, 0).u(1, 1).u(1, 0)  # what follows is not read
    return w.to_bytes()


def av1_sequence_header_still() -> bytes:
    """reduced_still_picture_header: only seq_level_idx[0] before the frame size."""
    return BitWriter().u(3, 1).u(1, 1).u(1, 1).u(5, 8).u(4, 6).u(4, 5).u(7, 63).u(6, 47).to_bytes()


def obu(obu_type: int, payload: bytes, *, sized: bool = True, extension: bool = False) -> bytes:
    header = bytes((obu_type << 3 | extension << 2 | sized << 1,))
    if extension:
        header += b"\x20"  # temporal_id 1
    if not sized:
        return header + payload
    size = len(payload)
    assert size < 128 * 128
    leb = bytes((size & 0x7F | 0x80, size >> 7)) if size >= 128 else bytes((size,))
    return header + leb + payload


AV1_HAND: list[tuple[str, bytes, TrackInfo]] = [
    (
        "main 10-bit high tier",
        av1c_header(0, 12, 1, 1, 0) + obu(1, av1_sequence_header_full()),
        TrackInfo(Codec.AV1, "av01.0.12H.10", 1920, 1080),
    ),
    (
        "metadata OBU first, two-byte leb128",
        av1c_header(0, 12, 1, 1, 0) + obu(5, bytes(130)) + obu(1, av1_sequence_header_full()),
        TrackInfo(Codec.AV1, "av01.0.12H.10", 1920, 1080),
    ),
    (
        "still picture, extension header, no size field",
        av1c_header(1, 8, 0, 0, 0)
        + obu(1, av1_sequence_header_still(), sized=False, extension=True),
        TrackInfo(Codec.AV1, "av01.1.08M.08", 64, 48),
    ),
    (
        "professional 12-bit, no configOBUs",
        av1c_header(2, 5, 0, 1, 1),
        TrackInfo(Codec.AV1, "av01.2.05M.12"),
    ),
    ("professional 10-bit", av1c_header(2, 31, 1, 1, 0), TrackInfo(Codec.AV1, "av01.2.31H.10")),
    ("main, twelve_bit ignored", av1c_header(0, 4, 0, 0, 1), TrackInfo(Codec.AV1, "av01.0.04M.08")),
]


@pytest.mark.parametrize(
    ("record", "expected"), [c[1:] for c in AV1_HAND], ids=[c[0] for c in AV1_HAND]
)
def test_av1_hand_made(record: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.AV1, record)) == expected


# --- Hand-made VP9, AAC, Opus -------------------------------------------------------------


@pytest.mark.parametrize("record", [VPCC_BODY, b"\x01\x00\x00\x00" + VPCC_BODY])
def test_vp9_with_and_without_fullbox_header(record: bytes) -> None:
    assert describe(TrackConfig(Codec.VP9, record)) == TrackInfo(Codec.VP9, "vp09.02.31.10")
    assert vpcc_box_payload(record) == b"\x01\x00\x00\x00" + VPCC_BODY


def asc(*fields: tuple[int, int]) -> bytes:
    w = BitWriter()
    for n, value in fields:
        w.u(n, value)
    return w.to_bytes()


PCE_5_1 = [
    (1, 0), (1, 0), (1, 0),  # GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, ext
    (4, 0), (2, 1), (4, 4),  # element_instance_tag, object_type, sampling_frequency_index
    (4, 2), (4, 0), (4, 1), (2, 1),  # front, side, back, lfe elements
    (3, 0), (4, 0), (1, 0), (1, 0), (1, 1), (2, 1), (1, 0),  # matrix mixdown present
    (1, 0), (4, 0), (1, 1), (4, 0),  # front: SCE, CPE
    (1, 1), (4, 1),  # back: CPE
    (4, 0),  # lfe tag
]  # fmt: skip


def aac(object_type: int, rate: int, channels: int) -> TrackInfo:
    return TrackInfo(Codec.AAC, f"mp4a.40.{object_type}", sample_rate=rate, channels=channels)


AAC_HAND = [
    pytest.param(bytes.fromhex("1190"), aac(2, 48000, 2), id="LC 48k stereo"),
    pytest.param(bytes.fromhex("1208"), aac(2, 44100, 1), id="LC 44.1k mono"),
    pytest.param(asc((5, 1), (4, 0), (4, 7)), aac(1, 96000, 8), id="Main 96k 7.1"),
    pytest.param(asc((5, 31), (6, 10), (4, 3), (4, 1)), aac(42, 48000, 1), id="escaped type 42"),
    pytest.param(asc((5, 2), (4, 15), (24, 50000), (4, 2)), aac(2, 50000, 2), id="explicit 50 kHz"),
    pytest.param(asc((5, 5), (4, 6), (4, 2), (4, 3), (5, 2)), aac(5, 48000, 2), id="HE-AAC"),
    pytest.param(asc((5, 29), (4, 6), (4, 1), (4, 3), (5, 2)), aac(29, 48000, 2), id="HE-AACv2"),
    pytest.param(asc((5, 2), (4, 3), (4, 11)), aac(2, 48000, 7), id="config 11 is 6.1"),
    pytest.param(asc((5, 2), (4, 4), (4, 0), *PCE_5_1), aac(2, 44100, 6), id="PCE 5.1"),
]


@pytest.mark.parametrize(("record", "expected"), AAC_HAND)
def test_aac_hand_made(record: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.AAC, record)) == expected


def test_opus_hand_made() -> None:
    head = parse_opus_head(OPUS_STEREO)
    assert (head.channels, head.pre_skip, head.input_sample_rate, head.output_gain) == (
        2,
        312,
        44100,
        256,
    )
    assert (head.mapping_family, head.stream_count, head.coupled_count, head.mapping) == (
        0,
        1,
        1,
        b"",
    )
    assert describe(TrackConfig(Codec.OPUS, OPUS_STEREO)) == TrackInfo(
        Codec.OPUS, "opus", sample_rate=48000, channels=2
    )
    head = parse_opus_head(OPUS_5_1)
    assert (head.channels, head.output_gain, head.mapping_family) == (6, -256, 1)
    assert (head.stream_count, head.coupled_count, head.mapping) == (
        4,
        2,
        bytes((0, 4, 1, 2, 3, 5)),
    )
    assert describe(TrackConfig(Codec.OPUS, OPUS_5_1)).channels == 6


def test_empty_opus_record_is_stereo() -> None:
    # Enhanced RTMP allows an Opus SequenceStart without an ID header.
    assert describe(TrackConfig(Codec.OPUS, b"")) == TrackInfo(
        Codec.OPUS, "opus", sample_rate=48000, channels=2
    )
    assert parse_opus_head(b"").pre_skip == 0


# --- Malformed records --------------------------------------------------------------------

GOOD_AVCC = avcc(sps_baseline_320x240())
GOOD_HVCC = hvcc(H265_HAND[0][1])

P = pytest.param
AV1C_0 = av1c_header(0, 0, 0, 0, 0)
BAD_CROP = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(0).ue(0)
BAD_CROP.u(1, 1).u(1, 1).u(1, 1).ue(0).ue(8).ue(0).ue(0)  # 16 wide, cropped by 2 * 8
BAD_POC = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(3)

MALFORMED = [
    P(Codec.H264, b"", "avcC: empty record", id="avcC empty"),
    P(Codec.H264, b"\x00" + GOOD_AVCC[1:], "avcC: configurationVersion 0", id="avcC version 0"),
    P(Codec.H264, bytes.fromhex("0142c01effe0 00"), "avcC: no sequence parameter", id="avcC 0 SPS"),
    P(
        Codec.H264,
        bytes.fromhex("01640028ffe1000467640028"),
        "avcC: bitstream ends",
        id="short SPS",
    ),
    P(Codec.H264, GOOD_AVCC[:10], "avcC: record ends", id="avcC SPS length past end"),
    P(Codec.H264, avcc(b"\x68" + sps_baseline_320x240()[1:]), "type 7", id="avcC PPS as SPS"),
    P(Codec.H264, avcc(b"\x67" + BAD_CROP.rbsp()), "cropping leaves a 0x16", id="crop too large"),
    P(Codec.H264, avcc(b"\x67" + BAD_POC.rbsp()), "pic_order_cnt_type 3", id="POC type 3"),
    P(Codec.H265, b"", "hvcC: empty record", id="hvcC empty"),
    P(Codec.H265, GOOD_HVCC[:22] + b"\x00", "hvcC: no sequence parameter", id="hvcC no arrays"),
    P(Codec.H265, GOOD_HVCC[:-3], "hvcC: record ends", id="hvcC truncated"),
    P(Codec.H265, b"\x02" + GOOD_HVCC[1:], "hvcC: configurationVersion 2", id="hvcC version 2"),
    P(Codec.AV1, b"\x81\x00", "av1C: 2 bytes", id="av1C short"),
    P(Codec.AV1, b"\x01\x00\x0c\x00", "av1C: marker/version", id="av1C no marker"),
    P(Codec.AV1, av1c_header(3, 0, 0, 0, 0), "av1C: seq_profile 3", id="av1C profile 3"),
    P(Codec.AV1, AV1C_0 + b"\x0a\x20\x00", "av1C: OBU runs past", id="av1C OBU past end"),
    P(Codec.AV1, AV1C_0 + b"\x8a\x00", "forbidden", id="av1C forbidden bit"),
    P(Codec.AV1, AV1C_0 + obu(1, b"\x00\x00"), "av1C: bitstream ends", id="short seq header"),
    P(Codec.VP9, bytes.fromhex("0100000a0000"), "vpcC: neither", id="vpcC fake"),
    P(Codec.VP9, bytes.fromhex("01000000 02 14 a2"), "vpcC: 3-byte record", id="vpcC short"),
    P(Codec.VP9, bytes.fromhex("01000000 00 1f 90 020202 0000"), "bitDepth 9", id="vpcC 9 bits"),
    P(Codec.VP9, bytes.fromhex("00 1f 80 02 02 02 0004 00"), "codecInitializationData", id="init"),
    P(Codec.AAC, b"", "AudioSpecificConfig: empty record", id="ASC empty"),
    P(Codec.AAC, asc((5, 0), (4, 3), (4, 2)), "audioObjectType 0", id="ASC type 0"),
    P(Codec.AAC, asc((5, 2), (4, 13), (4, 2)), "samplingFrequencyIndex 13", id="ASC rate 13"),
    P(Codec.AAC, asc((5, 2), (4, 15), (24, 0), (4, 2)), "samplingFrequency 0", id="ASC 0 Hz"),
    P(Codec.AAC, asc((5, 2), (4, 3), (4, 8)), "channelConfiguration 8", id="ASC channels 8"),
    P(Codec.AAC, b"\x11", "AudioSpecificConfig: bitstream ends", id="ASC one byte"),
    P(Codec.OPUS, b"OpusHead\x01\x02", "OpusHead: 10 bytes", id="OpusHead short"),
    P(Codec.OPUS, b"OpusTags" + OPUS_STEREO[8:], "magic", id="OpusHead magic"),
    P(Codec.OPUS, OPUS_STEREO[:8] + b"\x10" + OPUS_STEREO[9:], "version 16", id="Opus v16"),
    P(Codec.OPUS, OPUS_STEREO[:9] + b"\x00" + OPUS_STEREO[10:], "channel count 0", id="Opus 0 ch"),
    P(Codec.OPUS, OPUS_STEREO[:9] + b"\x03" + OPUS_STEREO[10:], "family 0 with 3", id="Opus 3 ch"),
    P(Codec.OPUS, OPUS_5_1[:-1], "table runs past", id="OpusHead short table"),
    P(Codec.OPUS, OPUS_5_1[:-1] + b"\x06", "no stream decodes", id="OpusHead bad mapping"),
]


@pytest.mark.parametrize(("codec", "record", "message"), MALFORMED)
def test_malformed_records_raise_codec_error(codec: Codec, record: bytes, message: str) -> None:
    with pytest.raises(CodecError) as caught:
        describe(TrackConfig(codec, record))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


# --- The bit reader -----------------------------------------------------------------------


def bits(text: str) -> BitReader:
    text += "0" * (-len(text) % 8)
    return BitReader(int(text, 2).to_bytes(len(text) // 8, "big"))


@pytest.mark.parametrize(
    ("code", "ue", "se"),
    # ITU-T H.264 Table 9-2 (codeNum) and Table 9-3 (the se(v) mapping)
    [
        ("1", 0, 0),
        ("010", 1, 1),
        ("011", 2, -1),
        ("00100", 3, 2),
        ("00101", 4, -2),
        ("00110", 5, 3),
        ("00111", 6, -3),
        ("0001000", 7, 4),
        ("000011111", 30, -15),
    ],
)
def test_exp_golomb_table(code: str, ue: int, se: int) -> None:
    reader = bits(code)
    assert reader.ue() == ue
    assert reader.remaining == (-len(code)) % 8
    assert bits(code).se() == se
    assert bits(code).uvlc() == ue  # AV1's uvlc() is the same code below 32 zeros


def test_exp_golomb_limits() -> None:
    assert BitReader(b"\x00\x00\x00\x01\xff\xff\xff\xff").ue() == (1 << 32) - 2  # 31 zeros
    with pytest.raises(CodecError, match="longer than 32 bits"):
        BitReader(b"\x00\x00\x00\x00\xff\xff\xff\xff\xff").ue()
    with pytest.raises(CodecError, match="inside a variable-length code"):
        BitReader(b"\x00\x00").ue()
    with pytest.raises(CodecError, match="too early"):
        BitReader(b"\x01").ue()  # 7 zeros promise 7 value bits that are not there
    assert BitReader(bytes(5) + b"\x80").uvlc() == (1 << 32) - 1  # AV1: 40 zeros saturate
    with pytest.raises(CodecError, match="too early"):
        BitReader(b"\xff").u(9)


@given(
    st.lists(
        st.tuples(
            st.integers(0, (1 << 32) - 2),
            st.integers(-(1 << 31) + 1, (1 << 31) - 1),
            st.integers(0, 16),
        ),
        max_size=20,
    )
)
def test_bit_reader_reads_what_the_writer_wrote(values: list[tuple[int, int, int]]) -> None:
    w = BitWriter()
    for ue, se, n in values:
        w.ue(ue).se(se).u(n, (1 << n) - 1 if n else 0)
    r = BitReader(w.to_bytes())
    for ue, se, n in values:
        assert (r.ue(), r.se(), r.u(n)) == (ue, se, (1 << n) - 1 if n else 0)
    assert r.remaining < 8


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        ("000003", "0000"),
        ("00000301", "000001"),
        ("0000030000030000", "000000000000"),
        ("0003", "0003"),
        ("00000303", "000003"),  # the second 03 is data
        ("", ""),
    ],
)
def test_unescape_rbsp(escaped: str, raw: str) -> None:
    assert unescape_rbsp(bytes.fromhex(escaped)) == bytes.fromhex(raw)


@given(st.binary(max_size=64))
def test_escape_then_unescape_is_identity(rbsp: bytes) -> None:
    # A real RBSP never ends in 00 (the stop bit), which is what keeps the mapping exact.
    rbsp += b"\x80"
    assert unescape_rbsp(escape(rbsp)) == rbsp


# --- Fuzzing: arbitrary bytes give a TrackInfo or a CodecError, nothing else ---------------

_PREFIXES: dict[Codec, list[bytes]] = {
    Codec.H264: [b"", GOOD_AVCC[:8], GOOD_AVCC[:6] + b"\x00\x30\x67\x64\x00\x1f"],
    Codec.H265: [
        b"",
        GOOD_HVCC[:23],
        GOOD_HVCC[: 23 + 10],
        GOOD_HVCC[:34] + b"\xa1\x00\x01\x00\x40\x42\x01\x01",
    ],
    Codec.AV1: [b"", av1c_header(0, 8, 0, 0, 0), av1c_header(0, 8, 0, 0, 0) + b"\x0a"],
    Codec.VP9: [b"", b"\x01\x00\x00\x00", b"\x00\x1f\x80"],
    Codec.AAC: [b"", b"\x10", b"\xf8"],
    Codec.OPUS: [b"", b"OpusHead\x01", b"OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01"],
}


@settings(max_examples=400)
@given(st.sampled_from(list(Codec)), st.data())
def test_arbitrary_bytes_only_raise_codec_error(codec: Codec, data: st.DataObject) -> None:
    prefix = data.draw(st.sampled_from(_PREFIXES[codec]))
    record = prefix + data.draw(st.binary(max_size=96))
    try:
        info = describe(TrackConfig(codec, record))
    except CodecError:
        return
    assert info.codec is codec
    assert info.codec_string.lower().startswith(codec.value.lower())
    assert info.width >= 0 and info.height >= 0


@settings(max_examples=200)
@given(
    st.sampled_from([c[1] for c in H264_HAND]),
    st.integers(0, 200),
    st.binary(min_size=1, max_size=3),
)
def test_damaged_sps_only_raises_codec_error(sps: bytes, at: int, junk: bytes) -> None:
    at %= len(sps)
    damaged = sps[:at] + junk + sps[at + len(junk) :]
    with contextlib.suppress(CodecError):
        describe(TrackConfig(Codec.H264, avcc(damaged)))


def test_encoder_helpers_report_time_bases() -> None:
    # The fMP4 tests rely on MP4 video coming back at 90 kHz.
    enc = encode_video("libx264", 64, 64, frames=2, options=X264_HIGH)
    assert enc.time_base == Fraction(1, 90000)
    assert enc.packets[0].keyframe
