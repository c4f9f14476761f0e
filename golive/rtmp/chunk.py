"""The RTMP chunk stream: reassembly of messages from chunks, and chunking of messages.

RTMP 1.0, 5.3: a message travels as chunks of at most the sender's chunk size; each chunk has
a basic header (1 to 3 bytes, 5.3.1.1), a message header of type 0 to 3 (11, 7, 3 or 0 bytes,
5.3.1.2) and possibly an extended timestamp (5.3.1.3).

The reader keeps one state per chunk stream id, and the running timestamp lives there, not per
message type: OBS interleaves audio and video on one chunk stream with delta headers.
"""

from __future__ import annotations

import struct
from typing import NoReturn

from ..media import record
from .errors import ProtocolError
from .limits import RtmpLimits

DEFAULT_CHUNK_SIZE = 128
# ``feed_some``'s budget: no bound, and the cost of the bytes of a message that is decoded.
UNBOUNDED = 1 << 62
AMF_BYTES_PER_UNIT = 32
MAX_CHUNK_SIZE = 0x7FFFFFFF
_EXTENDED = 0xFFFFFF
_U32 = struct.Struct(">I")
_U32LE = struct.Struct("<I")


@record
class RawMessage:
    """A reassembled message: its header fields and body (RTMP 1.0, 6.1).

    ``timestamp`` is the 32-bit RTMP time; the connection unwraps it into 64 bits.
    """

    chunk_stream_id: int
    timestamp: int
    type_id: int
    stream_id: int
    body: bytes


class _ChunkStream:
    """What a chunk stream remembers between chunks (5.3.1.2: types 1 to 3 inherit it)."""

    __slots__ = (
        "delta",
        "ext_field",
        "extended",
        "length",
        "parts",
        "received",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        # The timestamp field of the last type 0, 1 or 2 header. A type 3 header that starts a
        # new message adds it again, as FFmpeg's writer expects (5.3.1.2.4).
        self.delta = 0
        self.extended = False
        self.ext_field = b""
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.parts: list[bytes] = []
        self.received = 0


class ChunkReader:
    """Reassembles messages from a byte stream (RTMP 1.0, 5.3.1 and 5.3.2).

    ``feed`` returns the messages completed by the bytes given. Incomplete chunks stay
    buffered; a chunk is consumed only when it is whole, so feeding one byte at a time gives
    the same result as feeding everything at once.

    The work is linear in the bytes received: a cut chunk is parsed again only once enough
    bytes for it have arrived, so a peer trickling a chunk of 16 MiB (its chunk size may be
    up to 2^31 - 1, 5.4.1) costs an append per read, not a pass over what it sent before.

    Memory is bounded per connection: all partly received messages together, with the chunk
    in flight, may hold at most ``max_pending_bytes``, and at most ``max_chunk_streams`` chunk
    stream ids may be in use (each remembers its last header, 5.3.1.2, so none is forgotten).
    """

    def __init__(
        self,
        max_message_size: int = RtmpLimits().max_message_size,
        max_pending_bytes: int = RtmpLimits().max_pending_bytes,
        max_chunk_streams: int = RtmpLimits().max_chunk_streams,
    ) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        self.max_pending_bytes = max_pending_bytes
        self.max_chunk_streams = max_chunk_streams
        self._streams: dict[int, _ChunkStream] = {}
        # The unparsed tail: the start of a cut chunk. ``_need`` is how long it must grow
        # before parsing it again can get further; until then reads are only appended.
        self._buffer = bytearray()
        self._need = 0
        self._received = 0  # the sum of every chunk stream's ``received``
        # What the message in progress still lacks: past the cut chunk in ``_buffer`` (set
        # when parsing stops inside a chunk's payload), or when parsing stopped between chunks.
        self._after_cut = 0
        self._tail_missing = 0
        self._stopped = False  # the last _parse ran out of budget
        self._left = 0  # what the last _parse left of its budget

    @property
    def missing(self) -> int:
        """Bytes that must still arrive before the message in progress is complete (its
        payload and the 1-byte headers of its chunks), or before a cut chunk header can be
        read; 0 between messages. A lower bound: a connection that waits for this many bytes
        before reading again completes nothing later than it would have (the caller sizes the
        socket's low-water mark with it)."""
        if self._buffer:
            return self._need - len(self._buffer) + self._after_cut
        return self._tail_missing

    @property
    def buffered(self) -> int:
        """Bytes held: the unparsed tail plus partly received messages."""
        return len(self._buffer) + self._received

    def abort(self, chunk_stream_id: int) -> None:
        """Drop a partly received message (Abort Message, 5.4.2)."""
        stream = self._streams.get(chunk_stream_id)
        if stream is not None:
            self._received -= stream.received
            stream.parts = []
            stream.received = 0

    def feed(self, data: bytes) -> list[RawMessage]:
        """The messages completed by ``data``, all of it parsed or buffered."""
        return self.feed_some(data, 0, UNBOUNDED)[0]

    def feed_some(
        self, data: bytes, start: int = 0, budget: int = UNBOUNDED
    ) -> tuple[list[RawMessage], int]:
        """Parse ``data`` from ``start`` until ``budget`` is spent; return the messages
        completed and where parsing stopped: ``len(data)`` once every byte is parsed or
        buffered, short of it when the budget ran out (the caller gives the rest later).

        A chunk costs 1, a completed message other than audio and video 1 more per
        ``AMF_BYTES_PER_UNIT`` bytes of its body (its receiver decodes it, at up to a
        microsecond a byte): the budget bounds the work one call makes, whatever the sizes
        of the messages and chunks, without cutting media into small calls.
        """
        out: list[RawMessage] = []
        lead = self._buffer
        while lead:
            if budget <= 0:
                return out, start
            if len(lead) + len(data) - start < self._need:
                lead += memoryview(data)[start:]
                return out, len(data)
            # Finish the cut chunk from the tail and just the bytes it lacks, then go on in
            # ``data`` itself: concatenating whole socket reads (256 KiB under uvloop) costs
            # more than parsing them.
            take = self._need - len(lead)
            lead += memoryview(data)[start : start + take]
            start += take
            head = bytes(lead)
            lead = self._buffer = bytearray()  # no second copy of a large chunk held meanwhile
            pos = self._parse(head, 0, out, budget)
            budget = self._left
            # Short of the end only when the chunk turned out longer than it looked (an Abort
            # Message in between restarted its message): the loop then waits for the rest.
            lead = self._buffer = bytearray(head[pos:])
        pos = self._parse(data, start, out, budget)
        if self._stopped:
            return out, pos
        if pos < len(data):
            self._buffer = bytearray(memoryview(data)[pos:])
        return out, len(data)

    def _parse(self, buf: bytes, pos: int, out: list[RawMessage], budget: int) -> int:
        """Parse whole chunks of ``buf`` from ``pos`` while ``budget`` lasts; return where the
        first incomplete one starts (or the end), and set ``_need`` to the bytes from there
        that parsing it again needs at least. Stopped by the budget, return where the next
        chunk starts, with ``_stopped`` set. ``_left`` is what is left of the budget."""
        end = len(buf)
        streams = self._streams
        start = need = pos
        csid = -1
        after = 0  # set where a chunk's payload is cut: what its message lacks past it
        self._stopped = False
        while pos < end:
            if budget <= 0:
                self._stopped = True
                self._left = budget
                return pos
            budget -= 1
            start = pos
            b0 = buf[pos]
            fmt = b0 >> 6
            csid = b0 & 0x3F
            pos += 1
            if csid == 0:
                if pos + 1 > end:
                    need = pos + 1
                    break
                csid = buf[pos] + 64
                pos += 1
            elif csid == 1:
                if pos + 2 > end:
                    need = pos + 2
                    break
                csid = buf[pos] + (buf[pos + 1] << 8) + 64
                pos += 2

            stream = streams.get(csid)
            if fmt == 0:
                if pos + 11 > end:
                    need = pos + 11
                    break
                field = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
                length = (buf[pos + 3] << 16) | (buf[pos + 4] << 8) | buf[pos + 5]
                type_id = buf[pos + 6]
                # The message stream id is the one little-endian field of RTMP (5.3.1.2.1).
                (stream_id,) = _U32LE.unpack_from(buf, pos + 7)
                pos += 11
            elif fmt == 1:
                if pos + 7 > end:
                    need = pos + 7
                    break
                field = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
                length = (buf[pos + 3] << 16) | (buf[pos + 4] << 8) | buf[pos + 5]
                type_id = buf[pos + 6]
                pos += 7
            elif fmt == 2:
                if pos + 3 > end:
                    need = pos + 3
                    break
                field = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
                pos += 3
            else:
                field = -1

            if stream is None:
                if fmt != 0:
                    raise ProtocolError(
                        f"chunk of type {fmt} on chunk stream {csid}, which has had no type 0"
                    )
                if len(streams) >= self.max_chunk_streams:
                    raise ProtocolError(
                        f"chunk stream {csid} would make {len(streams) + 1} chunk streams in "
                        f"use, over the limit of {self.max_chunk_streams} (max_chunk_streams)"
                    )
                stream = streams[csid] = _ChunkStream()

            extended = False
            if field == _EXTENDED:
                if pos + 4 > end:
                    need = pos + 4
                    break
                ext_field = buf[pos : pos + 4]
                (field,) = _U32.unpack_from(ext_field)
                pos += 4
                extended = True
            elif fmt == 3 and stream.extended:
                # Type 3 repeats the extended timestamp of the header it continues; some
                # encoders leave it out, so peek and take it only when it is really there
                # (5.3.1.3).
                n = end - pos if end - pos < 4 else 4
                if buf[pos : pos + n] == stream.ext_field[:n]:
                    if n < 4:
                        need = pos + n + 1  # could still be either: wait for another byte
                        break
                    pos += 4

            # Nothing is committed to the chunk stream until the whole chunk is here, so a
            # chunk cut anywhere parses the same once the rest arrives.
            if fmt != 3:
                if stream.received:
                    raise ProtocolError(
                        f"new message header on chunk stream {csid} before its message of "
                        f"{stream.length} bytes was complete"
                    )
                if fmt < 2:
                    if length > self.max_message_size:
                        raise ProtocolError(
                            f"message of {length} bytes is over the limit of "
                            f"{self.max_message_size} bytes"
                        )
                else:
                    length = stream.length
                want = length if length < self.chunk_size else self.chunk_size
                if self._received + want > self.max_pending_bytes:
                    self._refuse_pending(csid, want)
                if pos + want > end:
                    need = pos + want
                    after = self._rest(length - want)
                    break
                stream.extended = extended
                stream.ext_field = ext_field if extended else b""
                if fmt == 0:
                    stream.timestamp = field
                    stream.stream_id = stream_id
                else:
                    stream.timestamp = (stream.timestamp + field) & 0xFFFFFFFF
                stream.delta = field
                if fmt < 2:
                    stream.length = length
                    stream.type_id = type_id
            else:
                want = stream.length - stream.received
                if want > self.chunk_size:
                    want = self.chunk_size
                if self._received + want > self.max_pending_bytes:
                    self._refuse_pending(csid, want)
                if pos + want > end:
                    need = pos + want
                    after = self._rest(stream.length - stream.received - want)
                    break
                if stream.received == 0:
                    # Type 3 starting a new message: same length, type and delta as before.
                    stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF

            payload = buf[pos : pos + want]
            pos += want
            if stream.received == 0 and want == stream.length:
                type_id = stream.type_id
                out.append(RawMessage(csid, stream.timestamp, type_id, stream.stream_id, payload))
                if type_id != 8 and type_id != 9:
                    budget -= want // AMF_BYTES_PER_UNIT
                    if type_id == 1:
                        # Set Chunk Size applies to the very next chunk (5.4.1), so it cannot
                        # wait for the caller to handle the returned message.
                        self._apply_chunk_size(payload)
                continue
            stream.parts.append(payload)
            stream.received += want
            self._received += want
            if stream.received == stream.length:
                body = b"".join(stream.parts)
                stream.parts = []
                stream.received = 0
                self._received -= stream.length
                type_id = stream.type_id
                out.append(RawMessage(csid, stream.timestamp, type_id, stream.stream_id, body))
                if type_id != 8 and type_id != 9:
                    budget -= stream.length // AMF_BYTES_PER_UNIT
                    if type_id == 1:
                        self._apply_chunk_size(body)
        else:
            # Between chunks: what the message of the last one still lacks.
            last = streams.get(csid)
            if last is not None:
                self._tail_missing = self._rest(last.length - last.received) if last.received else 0
            self._left = budget
            return pos
        self._need = need - start
        self._after_cut = after
        self._left = budget
        return start

    def _rest(self, payload: int) -> int:
        """Bytes of ``payload`` still to come in chunks of their own, with their 1-byte
        type 3 headers."""
        if payload <= 0:
            return 0
        return payload + (payload + self.chunk_size - 1) // self.chunk_size

    def _refuse_pending(self, csid: int, want: int) -> NoReturn:
        """A chunk would make the partly received messages, with the chunk itself while it
        arrives, hold more than ``max_pending_bytes``: refused on its header, before its
        payload is buffered."""
        raise ProtocolError(
            f"chunk of {want} bytes on chunk stream {csid} would make {self._received + want} "
            f"bytes of incomplete messages, over the limit of {self.max_pending_bytes} bytes "
            "(max_pending_bytes)"
        )

    def _apply_chunk_size(self, body: bytes) -> None:
        if len(body) < 4:
            raise ProtocolError("Set Chunk Size message shorter than 4 bytes")
        # The high bit must be zero (5.4.1); mask it rather than fail, as nginx-rtmp does.
        size = _U32.unpack_from(body)[0] & 0x7FFFFFFF
        if size < 1:
            raise ProtocolError("Set Chunk Size of 0")
        self.chunk_size = size


def _basic_header(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes(((fmt << 6) | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    return bytes(((fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))


class ChunkWriter:
    """Splits outgoing messages into chunks (RTMP 1.0, 5.3.1).

    The server sends few, small messages (control and command answers), so every message
    starts with a full type 0 header and continues with type 3 chunks: simple and always valid.
    """

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE

    def write(self, csid: int, timestamp: int, type_id: int, stream_id: int, body: bytes) -> bytes:
        timestamp &= 0xFFFFFFFF
        extended = timestamp >= _EXTENDED
        field = _EXTENDED if extended else timestamp
        length = len(body)
        header = (
            _basic_header(0, csid)
            + field.to_bytes(3, "big")
            + length.to_bytes(3, "big")
            + bytes((type_id,))
            + _U32LE.pack(stream_id)
        )
        ext = _U32.pack(timestamp) if extended else b""
        size = self.chunk_size
        out = [header, ext, body[:size]]
        continuation = _basic_header(3, csid) + ext
        for offset in range(size, length, size):
            out.append(continuation)
            out.append(body[offset : offset + size])
        return b"".join(out)
