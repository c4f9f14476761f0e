"""Byte tables shared by the unit tests and the fuzz seeds: RTMP command and FLV tag
payloads, hand-made decoder configuration records and malformed ones with the refusal each
must meet. Plain data and builders, no tests."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo
from golive.media import Codec
from tests.harness.records import (
    OPUS_5_1,
    OPUS_STEREO,
    BitWriter,
    av1c_header,
    avcc,
    escape,
    hvcc,
    sps_baseline_320x240,
)

P = pytest.param

# --- FLV tag payloads (FLV 10.1, E.4.2 and E.4.3; Enhanced RTMP) --------------------------

AVCC = bytes.fromhex("01640028ffe1000467640028 01000468ee3cb0".replace(" ", ""))
HVCC = bytes.fromhex("0101600000009000000000005af000fcfdf8f800000f03")
AV1C = bytes.fromhex("81000c00")
NALUS = bytes.fromhex("00000005 6588840021".replace(" ", ""))  # one length-prefixed NAL unit
ASC = bytes.fromhex("1190")  # AAC LC, 48 kHz, stereo
OPUS_HEAD = b"OpusHead" + bytes.fromhex("0102380180bb00000000")
COLOR_INFO = bytes.fromhex("02000963") + b"olorInfo" + bytes.fromhex("0300000009")
AAC_FRAME = bytes.fromhex("211b8c0080")
OPUS_PACKET = bytes.fromhex("fcfffe")


def h(text: str) -> bytes:
    """Hex with spaces, FourCCs written as quoted ASCII: ``h("91 'hvc1' 000028")``."""
    out = bytearray()
    for part in text.split():
        out += part[1:-1].encode() if part.startswith("'") else bytes.fromhex(part)
    return bytes(out)


# --- AMF0 command bodies ------------------------------------------------------------------

ONE = h("00 3FF0000000000000")  # number 1.0

# What OBS (librtmp) sends as the body of its first command message.
CONNECT_BYTES = b"".join(
    [
        h("02 0007") + b"connect",
        ONE,  # transaction id
        h("03"),
        h("0003") + b"app" + h("02 0004") + b"live",
        h("0004") + b"type" + h("02 000A") + b"nonprivate",
        h("0008") + b"flashVer" + h("02 001F") + b"FMLE/3.0 (compatible; FMSc/1.0)",
        h("0006") + b"swfUrl" + h("02 001A") + b"rtmp://127.0.0.1:1935/live",
        h("0005") + b"tcUrl" + h("02 001A") + b"rtmp://127.0.0.1:1935/live",
        h("000009"),
    ]
)


# --- H.264: a hand-made SPS and malformed records -----------------------------------------


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


GOOD_AVCC = avcc(sps_baseline_320x240())
BAD_CROP = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(0).ue(0)
BAD_CROP.u(1, 1).u(1, 1).u(1, 1).ue(0).ue(8).ue(0).ue(0)  # 16 wide, cropped by 2 * 8
BAD_POC = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(3)

AVC_MALFORMED = [
    P(b"", "avcC: empty record", id="avcC empty"),
    P(b"\x00" + GOOD_AVCC[1:], "avcC: configurationVersion 0", id="avcC version 0"),
    P(bytes.fromhex("0142c01effe0 00"), "avcC: no sequence parameter", id="avcC 0 SPS"),
    P(
        bytes.fromhex("01640028ffe1000467640028"),
        "avcC: bitstream ends",
        id="short SPS",
    ),
    P(GOOD_AVCC[:10], "avcC: record ends", id="avcC SPS length past end"),
    P(avcc(b"\x68" + sps_baseline_320x240()[1:]), "type 7", id="avcC PPS as SPS"),
    P(avcc(b"\x67" + BAD_CROP.rbsp()), "cropping leaves a 0x16", id="crop too large"),
    P(avcc(b"\x67" + BAD_POC.rbsp()), "pic_order_cnt_type 3", id="POC type 3"),
]


# --- H.265: hand-made SPS and malformed records -------------------------------------------


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

GOOD_HVCC = hvcc(H265_HAND[0][1])

HEVC_MALFORMED = [
    P(b"", "hvcC: empty record", id="hvcC empty"),
    P(GOOD_HVCC[:22] + b"\x00", "hvcC: no sequence parameter", id="hvcC no arrays"),
    P(GOOD_HVCC[:-3], "hvcC: record ends", id="hvcC truncated"),
    P(b"\x02" + GOOD_HVCC[1:], "hvcC: configurationVersion 2", id="hvcC version 2"),
]


# --- AV1: malformed records ---------------------------------------------------------------


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


AV1C_0 = av1c_header(0, 0, 0, 0, 0)

AV1_MALFORMED = [
    P(b"\x81\x00", "av1C: 2 bytes", id="av1C short"),
    P(b"\x01\x00\x0c\x00", "av1C: marker/version", id="av1C no marker"),
    P(av1c_header(3, 0, 0, 0, 0), "av1C: seq_profile 3", id="av1C profile 3"),
    P(AV1C_0 + b"\x0a\x20\x00", "av1C: OBU runs past", id="av1C OBU past end"),
    P(AV1C_0 + b"\x8a\x00", "forbidden", id="av1C forbidden bit"),
    P(AV1C_0 + obu(1, b"\x00\x00"), "av1C: bitstream ends", id="short seq header"),
]


# --- VP9: malformed records ---------------------------------------------------------------

VP9_MALFORMED = [
    P(bytes.fromhex("0100000a0000"), "vpcC: neither", id="vpcC fake"),
    P(bytes.fromhex("01000000 02 14 a2"), "vpcC: 3-byte record", id="vpcC short"),
    P(bytes.fromhex("01000000 00 1f 90 020202 0000"), "bitDepth 9", id="vpcC 9 bits"),
    P(bytes.fromhex("00 1f 80 02 02 02 0004 00"), "codecInitializationData", id="init"),
]


# --- AAC: hand-made and malformed records -------------------------------------------------


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

AAC_MALFORMED = [
    P(b"", "AudioSpecificConfig: empty record", id="ASC empty"),
    P(asc((5, 0), (4, 3), (4, 2)), "audioObjectType 0", id="ASC type 0"),
    P(asc((5, 2), (4, 13), (4, 2)), "samplingFrequencyIndex 13", id="ASC rate 13"),
    P(asc((5, 2), (4, 15), (24, 0), (4, 2)), "samplingFrequency 0", id="ASC 0 Hz"),
    P(asc((5, 2), (4, 3), (4, 8)), "channelConfiguration 8", id="ASC channels 8"),
    P(b"\x11", "AudioSpecificConfig: bitstream ends", id="ASC one byte"),
]


# --- Opus: malformed records --------------------------------------------------------------

OPUS_MALFORMED = [
    P(b"OpusHead\x01\x02", "OpusHead: 10 bytes", id="OpusHead short"),
    P(b"OpusTags" + OPUS_STEREO[8:], "magic", id="OpusHead magic"),
    P(OPUS_STEREO[:8] + b"\x10" + OPUS_STEREO[9:], "version 16", id="Opus v16"),
    P(OPUS_STEREO[:9] + b"\x00" + OPUS_STEREO[10:], "channel count 0", id="Opus 0 ch"),
    P(OPUS_STEREO[:9] + b"\x03" + OPUS_STEREO[10:], "family 0 with 3", id="Opus 3 ch"),
    P(OPUS_5_1[:-1], "table runs past", id="OpusHead short table"),
    P(OPUS_5_1[:-1] + b"\x06", "no stream decodes", id="OpusHead bad mapping"),
]
