"""H.265 records (golive.codecs.hevc): hvcC from libx265 through PyAV, hand-made SPS with
values worked out by hand, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.encoders import X265, encode_video
from tests.harness.records import BitWriter, assert_refused, escape, hvcc

# --- A real record from libx265 -----------------------------------------------------------


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


# --- Hand-made SPS -----------------------------------------------------------------------


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


# --- Malformed records --------------------------------------------------------------------

GOOD_HVCC = hvcc(H265_HAND[0][1])

P = pytest.param
MALFORMED = [
    P(b"", "hvcC: empty record", id="hvcC empty"),
    P(GOOD_HVCC[:22] + b"\x00", "hvcC: no sequence parameter", id="hvcC no arrays"),
    P(GOOD_HVCC[:-3], "hvcC: record ends", id="hvcC truncated"),
    P(b"\x02" + GOOD_HVCC[1:], "hvcC: configurationVersion 2", id="hvcC version 2"),
]


@pytest.mark.parametrize(("record", "message"), MALFORMED)
def test_malformed_hvcc_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.H265, record, message)
