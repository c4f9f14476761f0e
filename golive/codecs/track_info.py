"""What reading a decoder configuration record gives, ``TrackInfo``, and the one error it
raises, ``CodecError``."""

from __future__ import annotations

from dataclasses import dataclass

from golive.media import Codec

__all__ = ["CodecError", "TrackInfo"]


class CodecError(ValueError):
    """A decoder configuration record golive cannot read: truncated, inconsistent or of an
    unknown version. The message names the record and what is wrong with it."""


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """What a packager and a playlist need to know about a track (0 where unknown)."""

    codec: Codec
    codec_string: str
    """RFC 6381, 3.3 ``codecs`` parameter, e.g. ``avc1.64001f`` or ``mp4a.40.2``."""
    width: int = 0
    """Video: the picture size after cropping, from the SPS or sequence header."""
    height: int = 0
    sample_rate: int = 0
    """Audio: the output sample rate (48000 for Opus)."""
    channels: int = 0
