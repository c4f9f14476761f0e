"""Hand-made decoder configuration records and the bit writer that builds them, shared by the
codec tests and the fMP4 tests: plain data and builders, no tests."""

from __future__ import annotations

import pytest

from golive.codecs import CodecError, describe
from golive.media import Codec, TrackConfig


class BitWriter:
    """Writes u(n), ue(v) and se(v) (ITU-T H.264, 9.1) MSB first."""

    def __init__(self) -> None:
        self.bits: list[str] = []

    def u(self, n: int, value: int) -> BitWriter:
        assert 0 <= value < 1 << n
        if n:
            self.bits.append(format(value, f"0{n}b"))
        return self

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        self.bits.append("0" * (code.bit_length() - 1) + format(code, "b"))
        return self

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def to_bytes(self) -> bytes:
        text = "".join(self.bits)
        text += "0" * (-len(text) % 8)
        return int(text, 2).to_bytes(len(text) // 8, "big") if text else b""

    def rbsp(self) -> bytes:
        """With rbsp_trailing_bits(): a stop bit and zero alignment."""
        self.bits.append("1")
        return self.to_bytes()


def escape(rbsp: bytes) -> bytes:
    """Insert emulation prevention bytes (H.264 7.4.1): 00 00 0x (x <= 3) -> 00 00 03 0x."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def avcc(sps: bytes) -> bytes:
    """AVCDecoderConfigurationRecord (14496-15, 5.3.3.1) with one SPS and a dummy PPS."""
    pps = bytes.fromhex("68ce3c80")
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def hvcc(sps: bytes, header: bytes | None = None) -> bytes:
    """HEVCDecoderConfigurationRecord (14496-15, 8.3.3.1): a 23-byte header and arrays for a
    dummy VPS, the SPS and a dummy PPS."""
    header = header or bytes.fromhex("01 01 60000000 900000000000 5d f000 fc fd f8 f8 0000 0f")
    assert len(header) == 22
    arrays = [(32, bytes.fromhex("40010c01ffff")), (33, sps), (34, bytes.fromhex("4401c172"))]
    out = bytearray(header + bytes((len(arrays),)))
    for nal_type, nal in arrays:
        out += bytes((0x80 | nal_type, 0, 1)) + len(nal).to_bytes(2, "big") + nal
    return bytes(out)


def sps_baseline_320x240() -> bytes:
    w = BitWriter().u(8, 66).u(8, 0xC0).u(8, 30).ue(0)
    w.ue(0).ue(2)  # log2_max_frame_num_minus4, pic_order_cnt_type 2
    w.ue(1).u(1, 0)  # max_num_ref_frames, gaps
    w.ue(19).ue(14)  # 20 x 15 macroblocks
    w.u(1, 1).u(1, 1).u(1, 0)  # frame_mbs_only, direct_8x8, no cropping
    w.u(1, 0)  # vui_parameters_present_flag
    return b"\x67" + escape(w.rbsp())


def av1c_header(
    profile: int, level: int, tier: int, high: int, twelve: int, mono: int = 0
) -> bytes:
    return bytes(
        (0x81, profile << 5 | level, tier << 7 | high << 6 | twelve << 5 | mono << 4 | 0x0C, 0)
    )


VPCC_BODY = bytes.fromhex("02 1f a2 09 10 09 0000")  # profile 2, level 3.1, 10-bit 4:2:0 colocated
OPUS_STEREO = b"OpusHead" + bytes.fromhex("01 02 3801 44ac0000 0001 00")
OPUS_5_1 = b"OpusHead" + bytes.fromhex("01 06 3801 80bb0000 00ff 01 04 02 000401020305")


def assert_refused(codec: Codec, record: bytes, message: str) -> None:
    """``describe`` refuses the record with a ``CodecError`` (a ``ValueError``) whose message
    holds ``message``."""
    with pytest.raises(CodecError) as caught:
        describe(TrackConfig(codec, record))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
