"""AV1 records (golive.codecs.av1): av1C from an AV1 encoder through PyAV, hand-made
records and sequence headers with values worked out by hand, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import AV1_MALFORMED, obu
from tests.harness.encoders import AV1_ENCODER, av1_options, encode_video, needs_av1
from tests.harness.records import BitWriter, assert_refused, av1c_header

# --- A real record from an AV1 encoder ----------------------------------------------------


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


# --- Hand-made records -------------------------------------------------------------------


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


# --- Malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "message"), AV1_MALFORMED)
def test_malformed_av1c_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.AV1, record, message)
