"""H.265 records (golive.codecs.hevc): hvcC from libx265 through PyAV, hand-made SPS with
values worked out by hand, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import H265_HAND, HEVC_MALFORMED
from tests.harness.encoders import X265, encode_video
from tests.harness.records import assert_refused, hvcc

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


@pytest.mark.parametrize(
    ("sps", "expected"), [c[1:] for c in H265_HAND], ids=[c[0] for c in H265_HAND]
)
def test_h265_hand_made(sps: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.H265, hvcc(sps))) == expected


# --- Malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "message"), HEVC_MALFORMED)
def test_malformed_hvcc_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.H265, record, message)
