"""Opus: the ID header OpusHead (RFC 7845, 5.1). An empty record is allowed (Enhanced RTMP
permits an empty Opus SequenceStart): stereo with no pre-skip is assumed."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from golive.media import Codec

from .track_info import CodecError, TrackInfo

__all__ = ["OPUS_SAMPLE_RATE", "OpusHead", "describe_opus_head", "parse_opus_head"]

OPUS_SAMPLE_RATE: Final = 48_000
"""Opus always decodes at 48 kHz; the track timescale and the sample entry use it
(Opus in ISOBMFF, 4.3)."""


@dataclass(frozen=True, slots=True)
class OpusHead:
    """The Opus ID header (RFC 7845, 5.1), which the dOps box repeats in big-endian."""

    channels: int
    pre_skip: int
    input_sample_rate: int
    output_gain: int
    """Q7.8 dB, signed."""
    mapping_family: int
    stream_count: int
    coupled_count: int
    mapping: bytes
    """The channel mapping table, empty for family 0."""


_OPUS_HEAD: Final = struct.Struct("<8sBBHIhB")


def parse_opus_head(record: bytes) -> OpusHead:
    """Parse OpusHead (RFC 7845, 5.1). An empty record is stereo, no pre-skip, 48 kHz."""
    if not record:
        return OpusHead(2, 0, OPUS_SAMPLE_RATE, 0, 0, 1, 1, b"")
    if len(record) < _OPUS_HEAD.size:
        raise CodecError(f"{len(record)} bytes, at least {_OPUS_HEAD.size} expected")
    magic, version, channels, pre_skip, rate, gain, family = _OPUS_HEAD.unpack_from(record)
    if magic != b"OpusHead":
        raise CodecError(f"magic {magic!r}, expected b'OpusHead'")
    if version >> 4 != 0:  # 5.1: a major version other than 0 is incompatible
        raise CodecError(f"version {version}")
    if channels == 0:
        raise CodecError("channel count 0")
    if family == 0:
        if channels > 2:
            raise CodecError(f"channel mapping family 0 with {channels} channels")
        return OpusHead(channels, pre_skip, rate, gain, 0, 1, channels - 1, b"")
    table = record[_OPUS_HEAD.size :]
    if len(table) < 2 + channels:
        raise CodecError("channel mapping table runs past the end")
    streams, coupled = table[0], table[1]
    if streams == 0 or coupled > streams or streams + coupled > 255:
        raise CodecError(f"{streams} streams, {coupled} coupled")
    mapping = table[2 : 2 + channels]
    if any(m != 255 and m >= streams + coupled for m in mapping):
        raise CodecError("channel mapping names a channel no stream decodes")
    if family == 1 and channels > 8:
        raise CodecError(f"channel mapping family 1 with {channels} channels")
    return OpusHead(channels, pre_skip, rate, gain, family, streams, coupled, mapping)


def describe_opus_head(record: bytes) -> TrackInfo:
    """OpusHead (RFC 7845, 5.1); Opus always decodes at 48 kHz (Opus in ISOBMFF, 4.3)."""
    head = parse_opus_head(record)
    return TrackInfo(Codec.OPUS, "opus", sample_rate=OPUS_SAMPLE_RATE, channels=head.channels)
