"""H.264: AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1) and the first sequence
parameter set in it (ITU-T H.264, 7.3.2.1.1), including the high profiles' chroma format and
scaling lists, frame cropping and field coding (``frame_mbs_only_flag``)."""

from __future__ import annotations

from typing import Final

from golive.media import Codec

from .bits import BitReader, ByteReader, unescape_rbsp
from .track_info import CodecError, TrackInfo

__all__ = ["describe_avcc", "parse_avc_sps"]

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists
# (ITU-T H.264, 7.3.2.1.1).
_AVC_HIGH_PROFILES: Final = frozenset(
    {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
)


def describe_avcc(record: bytes) -> TrackInfo:
    """AVCDecoderConfigurationRecord, ISO/IEC 14496-15, 5.3.3.1: the first SPS decides."""
    r = ByteReader(record)
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
