"""Decoder configuration records to what a packager and a playlist need.

``describe(TrackConfig)`` reads the record a publisher sent (see ``golive.media.TrackConfig``)
and returns a ``TrackInfo``: the RFC 6381 codec string for ``CODECS`` in the multivariant
playlist, the coded picture size for the ``tkhd``, the visual sample entry and
``RESOLUTION``, and the sample rate and channel count for the audio sample entry.

Records read:

- H.264: AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1) and the first sequence
  parameter set in it (ITU-T H.264, 7.3.2.1.1), including the high profiles' chroma format
  and scaling lists, frame cropping and field coding (``frame_mbs_only_flag``).
- H.265: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1) and the SPS in its NAL
  unit arrays (ITU-T H.265, 7.3.2.2.1), with profile_tier_level (7.3.3) and the conformance
  window.
- AV1: AV1CodecConfigurationRecord (AV1-ISOBMFF, 2.3.3) and the sequence header OBU in its
  configOBUs (AV1, 5.5.1) for ``max_frame_width_minus_1`` and ``max_frame_height_minus_1``.
- VP9: VPCodecConfigurationRecord (VP Codec ISO-BMFF binding, 2.2), with or without the
  4-byte FullBox version and flags in front (FFmpeg's FLV muxer sends them, as the vpcC box
  body). The record has no picture size: width and height are 0 (unknown).
- AAC: AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1), with the escaped object type, the
  explicit 24-bit sampling frequency, explicit (hierarchical) SBR/PS signalling and a
  program_config_element when the channel configuration is 0. Implicit SBR/PS signalling is
  not looked for: the core rate and channels are reported.
- Opus: the ID header OpusHead (RFC 7845, 5.1). An empty record is allowed (Enhanced RTMP
  permits an empty Opus SequenceStart): stereo with no pre-skip is assumed.

Everything here is pure and runs once per configuration change, not per sample, so it
favours clear code over speed. Every malformed record raises ``CodecError`` and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from golive.media import Codec, TrackConfig

__all__ = [
    "OPUS_SAMPLE_RATE",
    "BitReader",
    "CodecError",
    "OpusHead",
    "TrackInfo",
    "describe",
    "parse_avc_sps",
    "parse_hevc_sps",
    "parse_opus_head",
    "unescape_rbsp",
    "vpcc_box_payload",
]

OPUS_SAMPLE_RATE: Final = 48_000
"""Opus always decodes at 48 kHz; the track timescale and the sample entry use it
(Opus in ISOBMFF, 4.3)."""


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


# --- Bit and byte readers -----------------------------------------------------------------


class BitReader:
    """MSB-first bit reader with Exp-Golomb codes (ITU-T H.264, 9.1: ue(v), se(v)) and AV1's
    uvlc() (AV1, 4.10.3). Reading past the end raises ``CodecError``."""

    __slots__ = ("_bits", "_pos", "_value")

    def __init__(self, data: bytes) -> None:
        # The whole buffer as one int: a read is a shift and a mask, and the leading zeros of
        # an Exp-Golomb code come from int.bit_length() instead of a loop over bits.
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bits not read yet."""
        return self._bits - self._pos

    def u(self, n: int) -> int:
        """``u(n)`` / ``f(n)``: an n-bit unsigned integer."""
        end = self._pos + n
        if end > self._bits:
            raise CodecError(f"bitstream ends {end - self._bits} bit(s) too early")
        self._pos = end
        return (self._value >> (self._bits - end)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, n: int) -> None:
        if self._pos + n > self._bits:
            raise CodecError(f"bitstream ends {self._pos + n - self._bits} bit(s) too early")
        self._pos += n

    def _leading_zeros(self) -> int:
        """Count and consume the zeros and the terminating one bit of a variable-length code."""
        rest = self._bits - self._pos
        tail = self._value & ((1 << rest) - 1)
        if tail == 0:
            raise CodecError("bitstream ends inside a variable-length code")
        zeros = rest - tail.bit_length()
        self._pos += zeros + 1
        return zeros

    def ue(self) -> int:
        """ue(v), H.264 9.1: at most 32 bits of value (up to 2**32 - 2)."""
        zeros = self._leading_zeros()
        if zeros > 31:
            raise CodecError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """se(v), H.264 9.1.1: the signed mapping 0, 1, -1, 2, -2, ... of ue(v)."""
        k = self.ue()
        return (k + 1) >> 1 if k & 1 else -(k >> 1)

    def uvlc(self) -> int:
        """uvlc(), AV1 4.10.3: 32 or more leading zeros mean 2**32 - 1 with no value bits."""
        zeros = self._leading_zeros()
        if zeros >= 32:
            return (1 << 32) - 1
        return self.u(zeros) + (1 << zeros) - 1


class _Bytes:
    """Byte-aligned reader over a record, bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CodecError(f"record ends {end - len(self.data)} byte(s) too early")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")


def unescape_rbsp(payload: bytes) -> bytes:
    """Remove emulation prevention bytes: ``00 00 03`` becomes ``00 00`` (ITU-T H.264, 7.4.1;
    ITU-T H.265, 7.4.2). ``payload`` is a NAL unit without its header.

    ``bytes.replace`` scans left to right and never re-reads what it replaced, which is
    exactly the decoder's scan: after ``00 00 03`` the zero count starts again.
    """
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


# --- H.264 --------------------------------------------------------------------------------

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists
# (ITU-T H.264, 7.3.2.1.1).
_AVC_HIGH_PROFILES: Final = frozenset(
    {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
)


def _describe_avc(record: bytes) -> TrackInfo:
    """AVCDecoderConfigurationRecord, ISO/IEC 14496-15, 5.3.3.1: the first SPS decides."""
    r = _Bytes(record)
    version = r.u8()
    if version != 1:
        raise CodecError(f"configurationVersion {version}, expected 1")
    # AVCProfileIndication, profile_compatibility, AVCLevelIndication and lengthSizeMinusOne:
    # the first three repeat the SPS, which is the authority for RFC 6381.
    r.take(4)
    if r.u8() & 0x1F == 0:
        raise CodecError("no sequence parameter set")
    sps = r.take(r.u16())
    width, height, codec_string = parse_avc_sps(sps)
    return TrackInfo(Codec.H264, codec_string, width, height)


def parse_avc_sps(nal: bytes) -> tuple[int, int, str]:
    """Width and height after cropping, and the RFC 6381 codec string, of an H.264 SPS NAL
    unit (ITU-T H.264, 7.3.2.1.1 and 7.4.2.1.1; RFC 6381, 3.3)."""
    if len(nal) < 4 or nal[0] & 0x1F != 7:
        raise CodecError("not a sequence parameter set NAL unit (type 7)")
    b = BitReader(unescape_rbsp(nal[1:]))
    profile_idc = b.u(8)
    constraint_flags = b.u(8)
    level_idc = b.u(8)
    if b.ue() > 31:
        raise CodecError("seq_parameter_set_id above 31")
    chroma_format_idc = 1  # 4:2:0 when absent (7.4.2.1.1)
    separate_colour_plane = False
    if profile_idc in _AVC_HIGH_PROFILES:
        chroma_format_idc = b.ue()
        if chroma_format_idc > 3:
            raise CodecError(f"chroma_format_idc {chroma_format_idc}")
        if chroma_format_idc == 3:
            separate_colour_plane = b.flag()
        b.ue()  # bit_depth_luma_minus8
        b.ue()  # bit_depth_chroma_minus8
        b.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if b.flag():  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma_format_idc == 3 else 8):
                if b.flag():
                    _skip_avc_scaling_list(b, 16 if i < 6 else 64)
    b.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = b.ue()
    if pic_order_cnt_type == 0:
        b.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        b.skip(1)  # delta_pic_order_always_zero_flag
        b.se()  # offset_for_non_ref_pic
        b.se()  # offset_for_top_to_bottom_field
        cycle = b.ue()
        if cycle > 255:  # the spec's range; also keeps garbage from looping for long
            raise CodecError("num_ref_frames_in_pic_order_cnt_cycle above 255")
        for _ in range(cycle):
            b.se()  # offset_for_ref_frame
    elif pic_order_cnt_type != 2:
        raise CodecError(f"pic_order_cnt_type {pic_order_cnt_type}")
    b.ue()  # max_num_ref_frames
    b.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_in_mbs = b.ue() + 1
    height_in_map_units = b.ue() + 1
    frame_mbs_only = b.flag()
    if not frame_mbs_only:
        b.skip(1)  # mb_adaptive_frame_field_flag
    b.skip(1)  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if b.flag():  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()

    # 7.4.2.1.1: crop units depend on ChromaArrayType and on field coding; a field-coded
    # frame is two map units high per macroblock row.
    field_factor = 1 if frame_mbs_only else 2
    if separate_colour_plane or chroma_format_idc == 0:
        crop_x, crop_y = 1, field_factor
    else:
        sub_width = 1 if chroma_format_idc == 3 else 2
        sub_height = 2 if chroma_format_idc == 1 else 1
        crop_x, crop_y = sub_width, sub_height * field_factor
    width = width_in_mbs * 16 - crop_x * (left + right)
    height = field_factor * height_in_map_units * 16 - crop_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise CodecError(f"cropping leaves a {width}x{height} picture")
    return width, height, f"avc1.{profile_idc:02x}{constraint_flags:02x}{level_idc:02x}"


def _skip_avc_scaling_list(b: BitReader, size: int) -> None:
    """scaling_list(), ITU-T H.264 7.3.2.1.1.1: delta_scale codes until nextScale is 0."""
    last_scale = 8
    for _ in range(size):
        next_scale = (last_scale + b.se() + 256) % 256
        if next_scale == 0:
            # useDefaultScalingMatrixFlag, or the rest repeat the last value: no more codes.
            return
        last_scale = next_scale


# --- H.265 --------------------------------------------------------------------------------

_HEVC_SPS_NUT: Final = 33


def _describe_hevc(record: bytes) -> TrackInfo:
    """HEVCDecoderConfigurationRecord, ISO/IEC 14496-15, 8.3.3.1: the first SPS decides."""
    r = _Bytes(record)
    version = r.u8()
    if version != 1:
        raise CodecError(f"configurationVersion {version}, expected 1")
    # The 21 bytes that follow repeat SPS fields (profile_tier_level, chroma format, bit
    # depths) plus stream hints; the SPS itself is read instead.
    r.take(21)
    sps: bytes | None = None
    for _ in range(r.u8()):  # numOfArrays
        nal_unit_type = r.u8() & 0x3F
        for _ in range(r.u16()):  # numNalus
            nal = r.take(r.u16())
            if nal_unit_type == _HEVC_SPS_NUT and sps is None:
                sps = nal
    if sps is None:
        raise CodecError("no sequence parameter set")
    width, height, codec_string = parse_hevc_sps(sps)
    return TrackInfo(Codec.H265, codec_string, width, height)


def parse_hevc_sps(nal: bytes) -> tuple[int, int, str]:
    """Width and height inside the conformance window, and the codec string, of an H.265
    SPS NAL unit (ITU-T H.265, 7.3.2.2.1 and 7.4.3.2.1; ISO/IEC 14496-15, E.3)."""
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != _HEVC_SPS_NUT:
        raise CodecError("not a sequence parameter set NAL unit (type 33)")
    b = BitReader(unescape_rbsp(nal[2:]))
    b.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = b.u(3)
    if max_sub_layers_minus1 > 6:
        raise CodecError("sps_max_sub_layers_minus1 above 6")
    b.skip(1)  # sps_temporal_id_nesting_flag
    codec_string = _hevc_profile_tier_level(b, max_sub_layers_minus1)
    if b.ue() > 15:
        raise CodecError("sps_seq_parameter_set_id above 15")
    chroma_format_idc = b.ue()
    if chroma_format_idc > 3:
        raise CodecError(f"chroma_format_idc {chroma_format_idc}")
    separate_colour_plane = chroma_format_idc == 3 and b.flag()
    width = b.ue()  # pic_width_in_luma_samples
    height = b.ue()  # pic_height_in_luma_samples
    if b.flag():  # conformance_window_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        # Table 6-1: offsets are in chroma samples; with separate colour planes every
        # plane is coded as monochrome (ChromaArrayType 0).
        chroma = 0 if separate_colour_plane else chroma_format_idc
        sub_width = 2 if chroma in (1, 2) else 1
        sub_height = 2 if chroma == 1 else 1
        width -= sub_width * (left + right)
        height -= sub_height * (top + bottom)
    if width <= 0 or height <= 0:
        raise CodecError(f"conformance window leaves a {width}x{height} picture")
    return width, height, codec_string


def _hevc_profile_tier_level(b: BitReader, max_sub_layers_minus1: int) -> str:
    """profile_tier_level(1, sps_max_sub_layers_minus1), ITU-T H.265 7.3.3, to the codec
    string of ISO/IEC 14496-15, E.3: ``hvc1.[A-C]<profile>.<compat>.<L|H><level>[.<byte>]*``.
    """
    profile_space = b.u(2)
    tier = b.u(1)
    profile_idc = b.u(5)
    compatibility = b.u(32)  # general_profile_compatibility_flag[0] is the first bit read
    constraints = b.u(48)  # progressive, interlaced, non-packed, frame-only and 44 more
    level_idc = b.u(8)
    present = [(b.flag(), b.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        b.skip(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        if profile_present:
            b.skip(88)  # sub_layer profile space .. inbld flag
        if level_present:
            b.skip(8)  # sub_layer_level_idc

    # E.3: the compatibility flags in reverse bit order (flag j is bit j), in hex without
    # leading zeros; the six constraint bytes in hex, each after a period, with trailing
    # zero bytes left out.
    reversed_compat = int(f"{compatibility:032b}"[::-1], 2)
    constraint_bytes = constraints.to_bytes(6, "big").rstrip(b"\x00")
    return (
        f"hvc1.{('', 'A', 'B', 'C')[profile_space]}{profile_idc}.{reversed_compat:X}"
        f".{'LH'[tier]}{level_idc}" + "".join(f".{c:X}" for c in constraint_bytes)
    )


# --- AV1 ----------------------------------------------------------------------------------

_OBU_SEQUENCE_HEADER: Final = 1


def _describe_av1(record: bytes) -> TrackInfo:
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


# --- VP9 ----------------------------------------------------------------------------------


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


def _describe_vp9(record: bytes) -> TrackInfo:
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


# --- AAC ----------------------------------------------------------------------------------

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


def _describe_aac(record: bytes) -> TrackInfo:
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


# --- Opus ---------------------------------------------------------------------------------


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


def _describe_opus(record: bytes) -> TrackInfo:
    """OpusHead (RFC 7845, 5.1); Opus always decodes at 48 kHz (Opus in ISOBMFF, 4.3)."""
    head = parse_opus_head(record)
    return TrackInfo(Codec.OPUS, "opus", sample_rate=OPUS_SAMPLE_RATE, channels=head.channels)


# --- Dispatch -----------------------------------------------------------------------------

_DESCRIBERS: Final[dict[Codec, tuple[str, Callable[[bytes], TrackInfo]]]] = {
    Codec.H264: ("avcC", _describe_avc),
    Codec.H265: ("hvcC", _describe_hevc),
    Codec.AV1: ("av1C", _describe_av1),
    Codec.VP9: ("vpcC", _describe_vp9),
    Codec.AAC: ("AudioSpecificConfig", _describe_aac),
    Codec.OPUS: ("OpusHead", _describe_opus),
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
