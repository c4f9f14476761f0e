"""Opus records (golive.codecs.opus): OpusHead from libopus through PyAV, hand-made headers,
the empty record Enhanced RTMP allows, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.codecs.opus import parse_opus_head
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import OPUS_MALFORMED
from tests.harness.encoders import encode_audio
from tests.harness.records import OPUS_5_1, OPUS_STEREO, assert_refused

# --- A real record from libopus -----------------------------------------------------------


@pytest.mark.parametrize(("layout", "channels"), [("stereo", 2), ("mono", 1)])
def test_opus_from_libopus(layout: str, channels: int) -> None:
    enc = encode_audio("libopus", 48000, layout, frames=2)
    assert enc.extradata.startswith(b"OpusHead")
    info = describe(TrackConfig(Codec.OPUS, enc.extradata))
    assert info == TrackInfo(Codec.OPUS, "opus", sample_rate=48000, channels=channels)
    head = parse_opus_head(enc.extradata)
    assert head.channels == channels
    assert head.pre_skip == int.from_bytes(enc.extradata[10:12], "little") > 0


# --- Hand-made records -------------------------------------------------------------------


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


@pytest.mark.parametrize(("record", "message"), OPUS_MALFORMED)
def test_malformed_opus_head_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.OPUS, record, message)
