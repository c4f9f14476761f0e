"""The codec lookup (golive.codecs.describe): arbitrary bytes give a TrackInfo or a
CodecError for every codec, nothing else; and the PyAV encoder helpers the codec tests use.

Each codec's own records are tested in ``test_codecs_<codec>``.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from golive.codecs import CodecError, describe
from golive.media import Codec, TrackConfig
from tests.harness.encoders import X264_HIGH, encode_video
from tests.harness.records import av1c_header, avcc, hvcc, sps_baseline_320x240

# --- Fuzzing: arbitrary bytes give a TrackInfo or a CodecError, nothing else ---------------

GOOD_AVCC = avcc(sps_baseline_320x240())
# The hvcC header, numOfArrays and the VPS array: all that the prefixes below take.
HVCC_HEAD = hvcc(b"")[:34]

_PREFIXES: dict[Codec, list[bytes]] = {
    Codec.H264: [b"", GOOD_AVCC[:8], GOOD_AVCC[:6] + b"\x00\x30\x67\x64\x00\x1f"],
    Codec.H265: [
        b"",
        HVCC_HEAD[:23],
        HVCC_HEAD[: 23 + 10],
        HVCC_HEAD + b"\xa1\x00\x01\x00\x40\x42\x01\x01",
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


def test_encoder_helpers_report_time_bases() -> None:
    # The fMP4 read-back tests rely on MP4 video coming back at 90 kHz.
    enc = encode_video("libx264", 64, 64, frames=2, options=X264_HIGH)
    assert enc.time_base == Fraction(1, 90000)
    assert enc.packets[0].keyframe
