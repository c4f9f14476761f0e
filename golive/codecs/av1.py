"""AV1: AV1CodecConfigurationRecord (AV1-ISOBMFF, 2.3.3) and the sequence header OBU in its
configOBUs (AV1, 5.5.1) for ``max_frame_width_minus_1`` and ``max_frame_height_minus_1``."""

from __future__ import annotations

from typing import Final

from golive.media import Codec

from .bits import BitReader
from .track_info import CodecError, TrackInfo

__all__ = ["describe_av1c"]

_OBU_SEQUENCE_HEADER: Final = 1


def describe_av1c(record: bytes) -> TrackInfo:
    """AV1CodecConfigurationRecord, AV1-ISOBMFF 2.3.3, codec string per AV1-ISOBMFF 5
    (Codecs Parameter String, short form): ``av01.<profile>.<level><M|H>.<bit depth>``."""
    if len(record) < 4:
        raise CodecError(f"{len(record)} bytes, at least 4 expected")
    if record[0] != 0x81:  # marker 1, version 1
        raise CodecError(f"marker/version byte {record[0]:#04x}, expected 0x81")
    seq_profile = record[1] >> 5
    seq_level_idx = record[1] & 0x1F
    tier = record[2] >> 7
    high_bitdepth = record[2] >> 6 & 1
    twelve_bit = record[2] >> 5 & 1
    if seq_profile > 2:
        raise CodecError(f"seq_profile {seq_profile}")
    # AV1 5.5.2 color_config: only the Professional profile has 12 bits.
    if seq_profile == 2 and high_bitdepth:
        bit_depth = 12 if twelve_bit else 10
    else:
        bit_depth = 10 if high_bitdepth else 8
    # configOBUs may be empty; then the size is unknown until the first keyframe.
    width = height = 0
    for obu_type, payload in _obus(record[4:]):
        if obu_type == _OBU_SEQUENCE_HEADER:
            width, height = _av1_max_frame_size(payload)
            break
    return TrackInfo(
        Codec.AV1,
        f"av01.{seq_profile}.{seq_level_idx:02d}{'MH'[tier]}.{bit_depth:02d}",
        width,
        height,
    )


def _obus(data: bytes) -> list[tuple[int, bytes]]:
    """Split low-overhead bitstream format OBUs (AV1, 5.3.1 and 5.3.2) into (type, payload)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        header = data[pos]
        if header & 0x80:
            raise CodecError("OBU forbidden bit set")
        obu_type = header >> 3 & 0x0F
        pos += 2 if header & 0x04 else 1  # obu_extension_flag adds a byte
        if header & 0x02:  # obu_has_size_field
            size, pos = _leb128(data, pos)
        else:
            size = len(data) - pos
        if pos + size > len(data):
            raise CodecError("OBU runs past the end of configOBUs")
        out.append((obu_type, data[pos : pos + size]))
        pos += size
    return out


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    """leb128(), AV1 4.10.5: at most 8 bytes, little-endian groups of 7 bits."""
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise CodecError("leb128 size runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise CodecError("leb128 size longer than 8 bytes")


def _av1_max_frame_size(payload: bytes) -> tuple[int, int]:
    """sequence_header_obu(), AV1 5.5.1, up to max_frame_height_minus_1."""
    b = BitReader(payload)
    b.skip(3)  # seq_profile
    b.skip(1)  # still_picture
    if b.flag():  # reduced_still_picture_header
        b.skip(5)  # seq_level_idx[0]
    else:
        decoder_model_info_present = False
        buffer_delay_length = 0
        if b.flag():  # timing_info_present_flag: timing_info(), 5.5.3
            b.skip(32)  # num_units_in_display_tick
            b.skip(32)  # time_scale
            if b.flag():  # equal_picture_interval
                b.uvlc()  # num_ticks_per_picture_minus_1
            decoder_model_info_present = b.flag()
            if decoder_model_info_present:  # decoder_model_info(), 5.5.4
                buffer_delay_length = b.u(5) + 1
                b.skip(32)  # num_units_in_decoding_tick
                b.skip(5)  # buffer_removal_time_length_minus_1
                b.skip(5)  # frame_presentation_time_length_minus_1
        initial_display_delay_present = b.flag()
        for _ in range(b.u(5) + 1):  # operating_points_cnt_minus_1
            b.skip(12)  # operating_point_idc
            if b.u(5) > 7:  # seq_level_idx: a tier bit from level 4.0 on
                b.skip(1)
            if decoder_model_info_present and b.flag():
                # operating_parameters_info(), 5.5.5: two delays and low_delay_mode_flag
                b.skip(2 * buffer_delay_length + 1)
            if initial_display_delay_present and b.flag():
                b.skip(4)  # initial_display_delay_minus_1
    width_bits = b.u(4) + 1
    height_bits = b.u(4) + 1
    return b.u(width_bits) + 1, b.u(height_bits) + 1
