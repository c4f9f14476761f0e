"""H.265: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1) and the SPS in its NAL
unit arrays (ITU-T H.265, 7.3.2.2.1), with profile_tier_level (7.3.3) and the conformance
window."""

from __future__ import annotations

from typing import Final

from golive.media import Codec

from .bits import BitReader, ByteReader, unescape_rbsp
from .track_info import CodecError, TrackInfo

__all__ = ["describe_hvcc", "parse_hevc_sps"]

_HEVC_SPS_NUT: Final = 33


def describe_hvcc(record: bytes) -> TrackInfo:
    """HEVCDecoderConfigurationRecord, ISO/IEC 14496-15, 8.3.3.1: the first SPS decides."""
    r = ByteReader(record)
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
