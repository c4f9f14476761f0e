"""H.264 records (golive.codecs.avc): avcC from libx264 through PyAV, hand-made SPS with
values worked out by hand, malformed records, and damaged SPS under fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.codecs import CodecError, TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import AVC_MALFORMED, sps_high422_fields_cropped
from tests.harness.encoders import X264_HIGH, encode_video
from tests.harness.records import BitWriter, assert_refused, avcc, escape, sps_baseline_320x240

# --- A real record from libx264 -----------------------------------------------------------


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


# --- Hand-made SPS -----------------------------------------------------------------------


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


# --- Malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "message"), AVC_MALFORMED)
def test_malformed_avcc_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.H264, record, message)


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
