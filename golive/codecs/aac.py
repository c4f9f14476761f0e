"""AAC: AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1), with the escaped object type, the
explicit 24-bit sampling frequency, explicit (hierarchical) SBR/PS signalling and a
program_config_element when the channel configuration is 0. Implicit SBR/PS signalling is not
looked for: the core rate and channels are reported."""

from __future__ import annotations

from typing import Final

from golive.media import Codec

from .bits import BitReader
from .track_info import CodecError, TrackInfo

__all__ = ["describe_audio_specific_config"]

# ISO/IEC 14496-3, 1.6.3.3 Table 1.18; 13 and 14 are reserved, 15 is the explicit escape.
_AAC_RATES: Final = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)
# 1.6.3.4 Table 1.19: channelConfiguration to the number of channels; 0 is "see the PCE",
# 8 to 10 and 15 are reserved.
_AAC_CHANNELS: Final = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}
# Object types whose specific config is GASpecificConfig (1.6.2.1 Table 1.15).
_AAC_GA_TYPES: Final = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})
_AAC_SBR: Final = 5
_AAC_PS: Final = 29


def describe_audio_specific_config(record: bytes) -> TrackInfo:
    """AudioSpecificConfig, ISO/IEC 14496-3 1.6.2.1, codec string ``mp4a.40.<object type>``
    (RFC 6381, 3.3: objectTypeIndication 0x40 is MPEG-4 Audio)."""
    b = BitReader(record)
    object_type = _aac_object_type(b)
    sample_rate = _aac_sampling_frequency(b)
    channel_config = b.u(4)
    core_type = object_type
    if object_type in (_AAC_SBR, _AAC_PS):
        # Explicit hierarchical signalling (1.6.5.2): the output rate follows, then the
        # core object type whose config comes next.
        sample_rate = _aac_sampling_frequency(b)
        core_type = _aac_object_type(b)
    if channel_config == 0:
        # The channels are in a program_config_element inside GASpecificConfig; other
        # object types leave them unknown (0).
        channels = _aac_pce_channels(b) if core_type in _AAC_GA_TYPES else 0
    elif channel_config in _AAC_CHANNELS:
        channels = _AAC_CHANNELS[channel_config]
    else:
        raise CodecError(f"reserved channelConfiguration {channel_config}")
    if object_type == _AAC_PS and channels == 1:
        channels = 2  # parametric stereo decodes one coded channel to two
    return TrackInfo(
        Codec.AAC, f"mp4a.40.{object_type}", sample_rate=sample_rate, channels=channels
    )


def _aac_object_type(b: BitReader) -> int:
    """GetAudioObjectType(), 1.6.2.1: 5 bits, or 32 + 6 more bits after the escape 31."""
    object_type = b.u(5)
    if object_type == 31:
        object_type = 32 + b.u(6)
    if object_type == 0:
        raise CodecError("audioObjectType 0 (null)")
    return object_type


def _aac_sampling_frequency(b: BitReader) -> int:
    index = b.u(4)
    if index == 0x0F:
        rate = b.u(24)
        if rate == 0:
            raise CodecError("explicit samplingFrequency 0")
        return rate
    if index >= len(_AAC_RATES):
        raise CodecError(f"reserved samplingFrequencyIndex {index}")
    return _AAC_RATES[index]


def _aac_pce_channels(b: BitReader) -> int:
    """GASpecificConfig (4.4.1 Table 4.1) up to and through program_config_element()
    (4.4.1.1 Table 4.2): the number of output channels it declares."""
    b.skip(1)  # frameLengthFlag
    if b.flag():  # dependsOnCoreCoder
        b.skip(14)  # coreCoderDelay
    b.skip(1)  # extensionFlag
    b.skip(4 + 2 + 4)  # element_instance_tag, object_type, sampling_frequency_index
    front, side, back = b.u(4), b.u(4), b.u(4)
    lfe = b.u(2)
    b.skip(3 + 4)  # num_assoc_data_elements, num_valid_cc_elements
    if b.flag():
        b.skip(4)  # mono_mixdown_element_number
    if b.flag():
        b.skip(4)  # stereo_mixdown_element_number
    if b.flag():
        b.skip(3)  # matrix_mixdown_idx, pseudo_surround_enable
    channels = lfe
    for _ in range(front + side + back):
        channels += 2 if b.flag() else 1  # *_element_is_cpe: a pair or a single channel
        b.skip(4)  # *_element_tag_select
    if channels == 0:
        raise CodecError("program_config_element declares no channels")
    return channels
