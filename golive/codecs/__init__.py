"""Decoder configuration records to what a packager and a playlist need.

``describe(TrackConfig)`` reads the record a publisher sent (see ``golive.media.TrackConfig``)
and returns a ``TrackInfo``: the RFC 6381 codec string for ``CODECS`` in the multivariant
playlist, the coded picture size for the ``tkhd``, the visual sample entry and
``RESOLUTION``, and the sample rate and channel count for the audio sample entry.

One module per codec reads its record: ``avc`` (avcC and the H.264 SPS), ``hevc`` (hvcC and
the H.265 SPS), ``av1`` (av1C and the sequence header OBU), ``vp9`` (vpcC), ``aac``
(AudioSpecificConfig) and ``opus`` (OpusHead); ``bits`` holds the bit and byte readers they
share. This module only looks the reader up by codec.

Everything here is pure and runs once per configuration change, not per sample, so it
favours clear code over speed. Every malformed record raises ``CodecError`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from golive.media import Codec, TrackConfig

from .aac import describe_audio_specific_config
from .av1 import describe_av1c
from .avc import describe_avcc
from .hevc import describe_hvcc
from .opus import describe_opus_head
from .track_info import CodecError, TrackInfo
from .vp9 import describe_vpcc

__all__ = ["CodecError", "TrackInfo", "describe"]

_DESCRIBERS: Final[dict[Codec, tuple[str, Callable[[bytes], TrackInfo]]]] = {
    Codec.H264: ("avcC", describe_avcc),
    Codec.H265: ("hvcC", describe_hvcc),
    Codec.AV1: ("av1C", describe_av1c),
    Codec.VP9: ("vpcC", describe_vpcc),
    Codec.AAC: ("AudioSpecificConfig", describe_audio_specific_config),
    Codec.OPUS: ("OpusHead", describe_opus_head),
}


def describe(config: TrackConfig) -> TrackInfo:
    """Read a track's decoder configuration record; raise ``CodecError`` if it is malformed.

    The error message starts with the record's name (``avcC: ...``).
    """
    name, describer = _DESCRIBERS[config.codec]
    if not config.record and config.codec is not Codec.OPUS:
        raise CodecError(f"{name}: empty record")
    try:
        return describer(config.record)
    except CodecError as exc:
        raise CodecError(f"{name}: {exc}") from None
