"""VP9: VPCodecConfigurationRecord (VP Codec ISO-BMFF binding, 2.2), with or without the
4-byte FullBox version and flags in front (FFmpeg's FLV muxer sends them, as the vpcC box
body). The record has no picture size: width and height are 0 (unknown)."""

from __future__ import annotations

from golive.media import Codec

from .track_info import CodecError, TrackInfo

__all__ = ["describe_vpcc", "vpcc_box_payload"]


def _vpcc_record(record: bytes) -> bytes:
    """The VPCodecConfigurationRecord without a FullBox header, if one is in front.

    The two layouts cannot be confused: a bare record's third byte holds bitDepth in its
    high nibble (8, 10 or 12), where a FullBox header has a zero flags byte.
    """
    if len(record) >= 3 and record[2] >> 4 in (8, 10, 12):
        return record
    if len(record) >= 4 and record[:4] == b"\x01\x00\x00\x00":
        return record[4:]
    raise CodecError("neither a version 1 vpcC body nor a VPCodecConfigurationRecord")


def vpcc_box_payload(record: bytes) -> bytes:
    """The body of a ``vpcC`` box (VP Codec ISO-BMFF binding, 2.2: a FullBox of version 1
    and flags 0) for a record sent with or without that FullBox header."""
    return b"\x01\x00\x00\x00" + _vpcc_record(record)


def describe_vpcc(record: bytes) -> TrackInfo:
    """VPCodecConfigurationRecord, VP Codec ISO-BMFF binding 2.2, codec string per its
    Codecs Parameter String section (short form ``vp09.PP.LL.DD``)."""
    body = _vpcc_record(record)
    if len(body) < 8:
        raise CodecError(f"{len(body)}-byte record, at least 8 expected")
    profile, level, depth_byte = body[0], body[1], body[2]
    if profile > 3:
        raise CodecError(f"profile {profile}")
    bit_depth = depth_byte >> 4
    if bit_depth not in (8, 10, 12):
        raise CodecError(f"bitDepth {bit_depth}")
    init_size = int.from_bytes(body[6:8], "big")
    if len(body) < 8 + init_size:
        raise CodecError("codecInitializationData runs past the end")
    return TrackInfo(Codec.VP9, f"vp09.{profile:02d}.{level:02d}.{bit_depth:02d}")
