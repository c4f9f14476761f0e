"""Chunk stream reassembly and chunking (RTMP 1.0, 5.3): byte tables, one byte at a time,
properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.rtmp.chunk import ChunkReader, ChunkWriter, RawMessage
from golive.rtmp.errors import ProtocolError


def feed_bytewise(reader: ChunkReader, data: bytes) -> list[RawMessage]:
    out: list[RawMessage] = []
    for i in range(len(data)):
        out.extend(reader.feed(data[i : i + 1]))
    return out


def both_ways(data: bytes, **kw: int) -> list[RawMessage]:
    """Parse whole and one byte at a time; both must agree."""
    whole = ChunkReader(**kw).feed(data)
    assert feed_bytewise(ChunkReader(**kw), data) == whole
    return whole


# Type 0, csid 3, timestamp 0x000102, length 5, type 20, stream id 1 (little-endian), "hello".
TYPE0 = bytes.fromhex("03 000102 000005 14 01000000") + b"hello"


def test_type0_one_byte_basic_header() -> None:
    assert both_ways(TYPE0) == [RawMessage(3, 0x102, 20, 1, b"hello")]


def test_two_and_three_byte_basic_headers() -> None:
    # csid 64 + 6 = 70 in the 2-byte form; 64 + 0x0102 = 322 in the 3-byte form (5.3.1.1).
    two = bytes.fromhex("00 06") + bytes.fromhex("000000 000001 08 00000000") + b"a"
    three = bytes.fromhex("01 02 01") + bytes.fromhex("000000 000001 08 00000000") + b"b"
    assert both_ways(two) == [RawMessage(70, 0, 8, 0, b"a")]
    assert both_ways(three) == [RawMessage(322, 0, 8, 0, b"b")]
    # The writer picks the same forms.
    assert ChunkWriter().write(70, 0, 8, 0, b"a") == two
    assert ChunkWriter().write(322, 0, 8, 0, b"b") == three


def test_type1_type2_type3_inherit_and_accumulate() -> None:
    data = (
        bytes.fromhex("04 0003E8 000002 09 01000000")  # type 0: t=1000, len 2, video
        + b"v1"
        + bytes.fromhex("44 000021 000003 08")  # type 1: +33, len 3, audio (same chunk stream)
        + b"au1"
        + bytes.fromhex("84 000014")  # type 2: +20, same length and type
        + b"au2"
        + bytes.fromhex("C4")  # type 3 starting a message: same delta again (+20)
        + b"au3"
    )
    assert both_ways(data) == [
        RawMessage(4, 1000, 9, 1, b"v1"),
        RawMessage(4, 1033, 8, 1, b"au1"),
        RawMessage(4, 1053, 8, 1, b"au2"),
        RawMessage(4, 1073, 8, 1, b"au3"),
    ]


def test_type3_after_type0_adds_the_type0_field_as_ffmpeg_writes_it() -> None:
    # FFmpeg writes a type 3 header for a message whose delta equals the last header's field.
    data = bytes.fromhex("04 000017 000001 08 01000000") + b"a" + bytes.fromhex("C4") + b"b"
    assert [m.timestamp for m in both_ways(data)] == [23, 46]


def test_message_split_over_chunks_with_default_chunk_size() -> None:
    body = bytes(range(256)) + b"xyz"  # 259 bytes: chunks of 128, 128, 3
    data = ChunkWriter().write(6, 40, 9, 1, body)
    assert data[:12] == bytes.fromhex("06 000028 000103 09 01000000")
    assert data[12 + 128] == 0xC6
    assert both_ways(data) == [RawMessage(6, 40, 9, 1, body)]


def test_interleaved_chunk_streams() -> None:
    w = ChunkWriter()
    a = w.write(4, 0, 9, 1, b"A" * 200)
    b = w.write(5, 0, 8, 1, b"B" * 10)
    # a's second chunk after b: reassembly is per chunk stream.
    data = a[: 12 + 128] + b + a[12 + 128 :]
    assert both_ways(data) == [
        RawMessage(5, 0, 8, 1, b"B" * 10),
        RawMessage(4, 0, 9, 1, b"A" * 200),
    ]


def test_extended_timestamp_absolute_in_type0() -> None:
    data = bytes.fromhex("04 FFFFFF 000001 09 01000000 01000000") + b"x"
    assert both_ways(data) == [RawMessage(4, 0x01000000, 9, 1, b"x")]


def test_extended_timestamp_at_2_24_minus_one() -> None:
    # 16,777,215 ms itself must be sent extended (5.3.1.3): 0xFFFFFF is the marker.
    data = ChunkWriter().write(4, 0xFFFFFF, 9, 1, b"x")
    assert data == bytes.fromhex("04 FFFFFF 000001 09 01000000 00FFFFFF") + b"x"
    assert both_ways(data) == [RawMessage(4, 0xFFFFFF, 9, 1, b"x")]


def test_extended_delta_in_type1_and_type3_continuations_with_it() -> None:
    body = b"y" * 130  # two chunks at 128
    data = (
        bytes.fromhex("04 000000 000001 09 01000000")
        + b"x"
        + bytes.fromhex("44 FFFFFF 000082 09 01000000")  # type 1, delta 0x01000000 extended
        + body[:128]
        + bytes.fromhex("C4 01000000")  # type 3 continuation repeating the extended field
        + body[128:]
    )
    assert both_ways(data) == [RawMessage(4, 0, 9, 1, b"x"), RawMessage(4, 0x01000000, 9, 1, body)]


def test_type3_continuation_without_the_extended_field() -> None:
    body = b"z" * 130
    data = (
        bytes.fromhex("04 FFFFFF 000082 09 01000000 01000000")
        + body[:128]
        + bytes.fromhex("C4")  # some encoders leave the extended field out here
        + body[128:]
    )
    assert both_ways(data) == [RawMessage(4, 0x01000000, 9, 1, body)]


def test_timestamp_wraps_at_2_32() -> None:
    data = (
        bytes.fromhex("04 FFFFFF 000001 09 01000000 FFFFFFF0")
        + b"a"
        + bytes.fromhex("84 000020")
        + b"b"
    )
    assert [m.timestamp for m in both_ways(data)] == [0xFFFFFFF0, 0x10]


def test_set_chunk_size_applies_to_the_next_chunk() -> None:
    set_size = bytes.fromhex("02 000000 000004 01 00000000 00001000")  # 4096
    w = ChunkWriter()
    w.chunk_size = 4096
    big = w.write(4, 0, 9, 1, b"q" * 3000)  # one chunk, only valid at 4096
    reader = ChunkReader()
    messages = reader.feed(set_size + big)
    assert [m.type_id for m in messages] == [1, 9]
    assert reader.chunk_size == 4096
    assert messages[1].body == b"q" * 3000


def test_abort_drops_the_partial_message() -> None:
    reader = ChunkReader()
    w = ChunkWriter()
    first = w.write(4, 0, 9, 1, b"A" * 200)
    assert reader.feed(first[: 12 + 128]) == []
    reader.abort(4)
    # A new type 0 message on the same chunk stream is now fine.
    assert reader.feed(w.write(4, 5, 9, 1, b"B")) == [RawMessage(4, 5, 9, 1, b"B")]


def test_type1_on_an_unknown_chunk_stream_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="chunk stream 9"):
        ChunkReader().feed(bytes.fromhex("49 000000 000001 09") + b"x")


def test_message_over_the_size_limit_is_refused_before_buffering() -> None:
    header = bytes.fromhex("04 000000 100000 09 01000000")  # 1 MiB announced
    with pytest.raises(ProtocolError, match="over the limit"):
        ChunkReader(max_message_size=65536).feed(header)


def test_new_header_in_the_middle_of_a_message_is_a_protocol_error() -> None:
    w = ChunkWriter()
    first = w.write(4, 0, 9, 1, b"A" * 200)
    with pytest.raises(ProtocolError, match="before its message"):
        ChunkReader().feed(first[: 12 + 128] + w.write(4, 0, 9, 1, b"x"))


def test_zero_length_message() -> None:
    assert both_ways(bytes.fromhex("03 000000 000000 14 00000000")) == [
        RawMessage(3, 0, 20, 0, b"")
    ]


messages = st.lists(
    st.tuples(
        st.integers(2, 65599),
        st.integers(0, 0xFFFFFFFF),
        st.sampled_from([8, 9, 18, 20]),
        st.integers(0, 3),
        st.binary(max_size=700),
    ),
    max_size=8,
)


@given(messages, st.sampled_from([1, 2, 60, 128, 4096]))
@settings(max_examples=150, deadline=None)
def test_writer_reader_round_trip(msgs: list[tuple[int, int, int, int, bytes]], size: int) -> None:
    w = ChunkWriter()
    w.chunk_size = size
    data = b"".join(w.write(*m) for m in msgs)
    reader = ChunkReader()
    reader.chunk_size = size
    assert reader.feed(data) == [RawMessage(*m) for m in msgs]


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    reader = ChunkReader(max_message_size=1 << 20)
    with contextlib.suppress(ProtocolError):
        reader.feed(data)


@given(
    messages,
    st.sampled_from([1, 2, 60, 128, 4096]),
    st.lists(st.integers(1, 300), min_size=1, max_size=20),
)
@settings(max_examples=150, deadline=None)
def test_any_cut_into_reads_gives_the_same_messages(
    msgs: list[tuple[int, int, int, int, bytes]], size: int, cuts: list[int]
) -> None:
    w = ChunkWriter()
    w.chunk_size = size
    data = b"".join(w.write(*m) for m in msgs)
    reader = ChunkReader()
    reader.chunk_size = size
    got: list[RawMessage] = []
    pos = 0
    for i in range(len(data)):
        n = cuts[i % len(cuts)]
        got += reader.feed(data[pos : pos + n])
        pos += n
        if pos >= len(data):
            break
    assert got == [RawMessage(*m) for m in msgs]
    assert reader.buffered == 0


# --- Per-connection bounds: incomplete messages and chunk streams in use ----------------

SET_CHUNK_SIZE_MAX = bytes.fromhex("02 000000 000004 01 00000000 7FFFFFFF")


def type0(csid: int, length: int, type_id: int = 9) -> bytes:
    """A type 0 header on a one-byte-basic-header chunk stream, timestamp 0, stream id 1."""
    return bytes((csid,)) + bytes(3) + length.to_bytes(3, "big") + bytes((type_id, 1, 0, 0, 0))


# Two messages of 200 bytes cut in chunks of 128: both first chunks held at once make 256
# bytes of incomplete messages, and the first 72-byte rest, while it arrives, 328.
TWO_PENDING = (
    type0(4, 200)
    + b"A" * 128
    + type0(5, 200)
    + b"B" * 128
    + bytes.fromhex("C4")
    + b"A" * 72
    + bytes.fromhex("C5")
    + b"B" * 72
)


def test_incomplete_messages_up_to_the_limit_pass() -> None:
    assert both_ways(TWO_PENDING, max_pending_bytes=328) == [
        RawMessage(4, 0, 9, 1, b"A" * 200),
        RawMessage(5, 0, 9, 1, b"B" * 200),
    ]


@pytest.mark.parametrize(
    ("limit", "cut", "refusal"),
    [
        (327, 12 + 128 + 12 + 128 + 1, "chunk of 72 bytes on chunk stream 4 would make 328 bytes"),
        (255, 12 + 128 + 12, "chunk of 128 bytes on chunk stream 5 would make 256 bytes"),
    ],
)
def test_incomplete_messages_over_the_limit_are_refused_on_the_header(
    limit: int, cut: int, refusal: str
) -> None:
    # Refused as soon as the chunk's header is in, before its payload is buffered, however
    # the bytes are cut.
    match = f"{refusal} of incomplete messages, over the limit of {limit} bytes .max_pending_bytes"
    with pytest.raises(ProtocolError, match=match):
        ChunkReader(max_pending_bytes=limit).feed(TWO_PENDING[:cut])
    with pytest.raises(ProtocolError, match=match):
        feed_bytewise(ChunkReader(max_pending_bytes=limit), TWO_PENDING)


def test_one_large_chunk_counts_while_it_arrives() -> None:
    # At a chunk size of 2^31 - 1 a message is one chunk, held whole until its last byte.
    body = bytes(range(256)) * 4
    data = SET_CHUNK_SIZE_MAX + type0(6, len(body)) + body
    assert both_ways(data, max_pending_bytes=1024)[1] == RawMessage(6, 0, 9, 1, body)
    with pytest.raises(ProtocolError, match="chunk of 1024 bytes on chunk stream 6"):
        ChunkReader(max_pending_bytes=1023).feed(SET_CHUNK_SIZE_MAX + type0(6, 1024))


def test_completed_and_aborted_messages_give_their_bytes_back() -> None:
    reader = ChunkReader(max_pending_bytes=200)
    assert reader.feed(type0(4, 200) + b"A" * 128) == []
    assert reader.buffered == 128
    reader.abort(4)
    assert reader.buffered == 0
    # Without the abort, 128 + 128 would be over 200.
    assert reader.feed(type0(5, 200) + b"B" * 128) == []
    assert reader.feed(bytes.fromhex("C5") + b"B" * 72) == [RawMessage(5, 0, 9, 1, b"B" * 200)]
    assert reader.buffered == 0
    # Again and again: completed messages hold nothing.
    for _ in range(3):
        assert reader.feed(type0(5, 200) + b"C" * 128 + bytes.fromhex("C5") + b"C" * 72)


def messages_on_chunk_streams(count: int) -> bytes:
    """One 1-byte message on each of ``count`` chunk streams (2 up), in the forms 5.3.1.1
    gives their ids."""
    w = ChunkWriter()
    return b"".join(w.write(csid, 0, 8, 1, b"x") for csid in range(2, 2 + count))


def test_chunk_streams_up_to_the_limit_pass() -> None:
    assert len(both_ways(messages_on_chunk_streams(3) * 2, max_chunk_streams=3)) == 6
    assert len(both_ways(messages_on_chunk_streams(64))) == 64  # the default


def test_a_chunk_stream_over_the_limit_is_refused() -> None:
    match = "chunk stream 5 would make 4 chunk streams in use, over the limit of 3 .max_chunk"
    with pytest.raises(ProtocolError, match=match):
        ChunkReader(max_chunk_streams=3).feed(messages_on_chunk_streams(4))
    # The default: the 65th id (66, a two-byte basic header) is refused on its header.
    data = messages_on_chunk_streams(65)
    with pytest.raises(ProtocolError, match="chunk stream 66 would make 65 chunk streams"):
        feed_bytewise(ChunkReader(), data[:-1])


class CountingReader(ChunkReader):
    """Counts the bytes the parser is handed: a pending chunk joined again on every read would
    show as a sum growing with the square of the bytes sent."""

    parsed = 0
    calls = 0

    def _parse(self, buf: bytes, pos: int, out: list[RawMessage], budget: int) -> int:
        self.calls += 1
        self.parsed += len(buf) - pos
        return super()._parse(buf, pos, out, budget)


def test_a_trickled_large_chunk_is_parsed_once() -> None:
    # 10 MB in 100-byte reads at the largest chunk size: the reader before this bound parsed
    # about 500 GB (each read re-joined all before it), which took about 20 minutes.
    size = 10_000_000
    reader = CountingReader()
    reader.feed(SET_CHUNK_SIZE_MAX + type0(6, size)[:5])
    reads = [type0(6, size)[5:]] + [b"v" * 100] * (size // 100)
    got: list[RawMessage] = []
    for read in reads:
        got += reader.feed(read)
    assert [len(m.body) for m in got] == [size]
    assert reader.parsed < 2 * size + 100
    assert reader.calls < 10


def test_many_chunks_and_reads_parse_each_byte_about_once() -> None:
    w = ChunkWriter()
    data = b"".join(w.write(4 + i % 3, i, 9, 1, b"m" * (1000 + i)) for i in range(300))
    reader = CountingReader()
    got: list[RawMessage] = []
    for i in range(0, len(data), 100):
        got += reader.feed(data[i : i + 100])
    assert len(got) == 300
    # Each read parses itself plus at most the start of one cut chunk (header and 128 bytes).
    assert reader.parsed < len(data) + (len(data) // 100 + 1) * (18 + 128)


def test_a_budget_bounds_the_chunks_of_one_call_and_the_rest_follows() -> None:
    w = ChunkWriter()
    tiny = b"".join(w.write(4, i, 8, 1, b"a") for i in range(500))
    reader = ChunkReader()
    got, pos = reader.feed_some(tiny, 0, 200)
    assert len(got) == 200
    assert 0 < pos < len(tiny)
    while pos < len(tiny):
        more, pos = reader.feed_some(tiny, pos, 200)
        assert len(more) <= 200
        got += more
    assert got == ChunkReader().feed(tiny)
    # Media goes through whole: a 150 kB frame in 4 KiB chunks is 37 chunks.
    big = ChunkWriter()
    big.chunk_size = 4096
    frame = SET_CHUNK_SIZE_4096 + big.write(6, 0, 9, 1, b"v" * 150_000)
    got, pos = ChunkReader().feed_some(frame, 0, 200)
    assert [len(m.body) for m in got] == [4, 150_000] and pos == len(frame)
    # A command or data message costs by its size: the call ends after a large one.
    data = w.write(3, 0, 18, 1, b"d" * 8000) + w.write(3, 0, 18, 1, b"d" * 10)
    got, pos = ChunkReader().feed_some(data, 0, 200)
    assert [len(m.body) for m in got] == [8000]


SET_CHUNK_SIZE_4096 = ChunkWriter().write(2, 0, 1, 0, (4096).to_bytes(4, "big"))


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_missing_bytes_never_complete_a_message_early(data: st.DataObject) -> None:
    # The server waits for ``missing`` bytes before it reads again: fewer must never have
    # completed a message.
    w = ChunkWriter()
    w.chunk_size = data.draw(st.sampled_from([128, 1000, 4096]))
    sizes = data.draw(st.lists(st.integers(0, 9000), min_size=1, max_size=8))
    stream = b"".join(w.write(4 + i % 2, i, 9, 1, bytes([i]) * n) for i, n in enumerate(sizes))
    if w.chunk_size != 128:
        stream = ChunkWriter().write(2, 0, 1, 0, w.chunk_size.to_bytes(4, "big")) + stream
    reader = ChunkReader()
    pos = 0
    while pos < len(stream):
        step = data.draw(st.integers(1, 5000))
        reader.feed(stream[pos : pos + step])
        pos += step
        missing = reader.missing
        if missing > 1 and pos < len(stream):
            probe = ChunkReader()
            probe.feed(stream[:pos])
            assert probe.feed(stream[pos : pos + missing - 1]) == []
    assert reader.missing == 0
