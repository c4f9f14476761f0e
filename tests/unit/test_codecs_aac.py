"""AAC records (golive.codecs.aac): AudioSpecificConfig from FFmpeg's encoder through PyAV,
hand-made records with values worked out by hand, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.byte_tables import AAC_HAND, AAC_MALFORMED
from tests.harness.encoders import encode_audio
from tests.harness.records import assert_refused

# --- A real record from FFmpeg's AAC encoder ----------------------------------------------


@pytest.mark.parametrize(
    ("rate", "layout", "channels"), [(48000, "stereo", 2), (44100, "mono", 1), (22050, "stereo", 2)]
)
def test_aac_from_ffmpeg_encoder(rate: int, layout: str, channels: int) -> None:
    enc = encode_audio("aac", rate, layout, frames=2)
    info = describe(TrackConfig(Codec.AAC, enc.extradata))
    assert info == TrackInfo(Codec.AAC, "mp4a.40.2", sample_rate=rate, channels=channels)
    assert (enc.sample_rate, enc.channels) == (rate, channels)


# --- Hand-made records -------------------------------------------------------------------


@pytest.mark.parametrize(("record", "expected"), AAC_HAND)
def test_aac_hand_made(record: bytes, expected: TrackInfo) -> None:
    assert describe(TrackConfig(Codec.AAC, record)) == expected


# --- Malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(("record", "message"), AAC_MALFORMED)
def test_malformed_audio_specific_config_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.AAC, record, message)
