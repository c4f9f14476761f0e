"""AAC records (golive.codecs.aac): AudioSpecificConfig from FFmpeg's encoder through PyAV,
hand-made records with values worked out by hand, and malformed records."""

from __future__ import annotations

import pytest

from golive.codecs import TrackInfo, describe
from golive.media import Codec, TrackConfig
from tests.harness.encoders import encode_audio
from tests.harness.records import BitWriter, assert_refused

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


# --- Malformed records --------------------------------------------------------------------

P = pytest.param
MALFORMED = [
    P(b"", "AudioSpecificConfig: empty record", id="ASC empty"),
    P(asc((5, 0), (4, 3), (4, 2)), "audioObjectType 0", id="ASC type 0"),
    P(asc((5, 2), (4, 13), (4, 2)), "samplingFrequencyIndex 13", id="ASC rate 13"),
    P(asc((5, 2), (4, 15), (24, 0), (4, 2)), "samplingFrequency 0", id="ASC 0 Hz"),
    P(asc((5, 2), (4, 3), (4, 8)), "channelConfiguration 8", id="ASC channels 8"),
    P(b"\x11", "AudioSpecificConfig: bitstream ends", id="ASC one byte"),
]


@pytest.mark.parametrize(("record", "message"), MALFORMED)
def test_malformed_audio_specific_config_raises_codec_error(record: bytes, message: str) -> None:
    assert_refused(Codec.AAC, record, message)
