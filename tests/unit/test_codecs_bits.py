"""The bit reader and RBSP unescaping (golive.codecs.bits): Exp-Golomb tables from the
spec, limits, and round trips through the tests' bit writer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from golive.codecs import CodecError
from golive.codecs.bits import BitReader, unescape_rbsp
from tests.harness.records import BitWriter, escape


def bits(text: str) -> BitReader:
    text += "0" * (-len(text) % 8)
    return BitReader(int(text, 2).to_bytes(len(text) // 8, "big"))


@pytest.mark.parametrize(
    ("code", "ue", "se"),
    # ITU-T H.264 Table 9-2 (codeNum) and Table 9-3 (the se(v) mapping)
    [
        ("1", 0, 0),
        ("010", 1, 1),
        ("011", 2, -1),
        ("00100", 3, 2),
        ("00101", 4, -2),
        ("00110", 5, 3),
        ("00111", 6, -3),
        ("0001000", 7, 4),
        ("000011111", 30, -15),
    ],
)
def test_exp_golomb_table(code: str, ue: int, se: int) -> None:
    reader = bits(code)
    assert reader.ue() == ue
    assert reader.remaining == (-len(code)) % 8
    assert bits(code).se() == se
    assert bits(code).uvlc() == ue  # AV1's uvlc() is the same code below 32 zeros


def test_exp_golomb_limits() -> None:
    assert BitReader(b"\x00\x00\x00\x01\xff\xff\xff\xff").ue() == (1 << 32) - 2  # 31 zeros
    with pytest.raises(CodecError, match="longer than 32 bits"):
        BitReader(b"\x00\x00\x00\x00\xff\xff\xff\xff\xff").ue()
    with pytest.raises(CodecError, match="inside a variable-length code"):
        BitReader(b"\x00\x00").ue()
    with pytest.raises(CodecError, match="too early"):
        BitReader(b"\x01").ue()  # 7 zeros promise 7 value bits that are not there
    assert BitReader(bytes(5) + b"\x80").uvlc() == (1 << 32) - 1  # AV1: 40 zeros saturate
    with pytest.raises(CodecError, match="too early"):
        BitReader(b"\xff").u(9)


@given(
    st.lists(
        st.tuples(
            st.integers(0, (1 << 32) - 2),
            st.integers(-(1 << 31) + 1, (1 << 31) - 1),
            st.integers(0, 16),
        ),
        max_size=20,
    )
)
def test_bit_reader_reads_what_the_writer_wrote(values: list[tuple[int, int, int]]) -> None:
    w = BitWriter()
    for ue, se, n in values:
        w.ue(ue).se(se).u(n, (1 << n) - 1 if n else 0)
    r = BitReader(w.to_bytes())
    for ue, se, n in values:
        assert (r.ue(), r.se(), r.u(n)) == (ue, se, (1 << n) - 1 if n else 0)
    assert r.remaining < 8


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        ("000003", "0000"),
        ("00000301", "000001"),
        ("0000030000030000", "000000000000"),
        ("0003", "0003"),
        ("00000303", "000003"),  # the second 03 is data
        ("", ""),
    ],
)
def test_unescape_rbsp(escaped: str, raw: str) -> None:
    assert unescape_rbsp(bytes.fromhex(escaped)) == bytes.fromhex(raw)


@given(st.binary(max_size=64))
def test_escape_then_unescape_is_identity(rbsp: bytes) -> None:
    # A real RBSP never ends in 00 (the stop bit), which is what keeps the mapping exact.
    rbsp += b"\x80"
    assert unescape_rbsp(escape(rbsp)) == rbsp
