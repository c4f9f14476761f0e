"""Bit and byte readers for decoder configuration records and the parameter sets inside them.

``BitReader`` reads MSB first with Exp-Golomb codes (ITU-T H.264, 9.1) and AV1's uvlc()
(AV1, 4.10.3); ``ByteReader`` reads byte-aligned fields; ``unescape_rbsp`` removes emulation
prevention bytes (ITU-T H.264, 7.4.1; ITU-T H.265, 7.4.2). Reading past the end raises
``CodecError``.
"""

from __future__ import annotations

from .track_info import CodecError

__all__ = ["BitReader", "ByteReader", "unescape_rbsp"]


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


class ByteReader:
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
