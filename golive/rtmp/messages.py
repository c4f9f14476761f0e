"""RTMP message types and the control messages the server builds (RTMP 1.0, 5.4, 6.2, 7.1)."""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator

from .errors import ProtocolError


class MessageType(enum.IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    """RTMP 1.0, 7.1.7."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


# Chunk stream ids the server writes on: 2 for protocol control (5.4), 3 for commands.
CONTROL_CSID = 2
COMMAND_CSID = 3

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_EVENT_U32 = struct.Struct(">HI")


def u32(body: bytes, what: str) -> int:
    if len(body) < 4:
        raise ProtocolError(f"{what} message shorter than 4 bytes")
    value: int = _U32.unpack_from(body)[0]
    return value


def set_chunk_size(size: int) -> bytes:
    """RTMP 1.0, 5.4.1."""
    return _U32.pack(size & 0x7FFFFFFF)


def acknowledgement(sequence: int) -> bytes:
    """RTMP 1.0, 5.4.3: the sequence number is the byte count so far, modulo 2^32."""
    return _U32.pack(sequence & 0xFFFFFFFF)


def window_ack_size(size: int) -> bytes:
    """RTMP 1.0, 5.4.4."""
    return _U32.pack(size)


def set_peer_bandwidth(size: int, limit_type: int = 2) -> bytes:
    """RTMP 1.0, 5.4.5: limit type 2 is Dynamic."""
    return _U32.pack(size) + bytes((limit_type,))


def user_control(event: UserControlEvent, value: int) -> bytes:
    """RTMP 1.0, 7.1.7: an event type followed by its 4-byte data."""
    return _EVENT_U32.pack(event, value & 0xFFFFFFFF)


def parse_user_control(body: bytes) -> tuple[int, bytes]:
    if len(body) < 2:
        raise ProtocolError("User Control message shorter than 2 bytes")
    return _U16.unpack_from(body)[0], body[2:]


def split_aggregate(body: bytes, timestamp: int) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(type_id, timestamp, body)`` for each sub-message of an aggregate message.

    RTMP 1.0, 7.1.6: the body holds FLV tags (11-byte header, data, 4-byte back pointer). The
    sub-message times are rebased so that the first one has the aggregate message's time.
    """
    pos = 0
    end = len(body)
    base: int | None = None
    while pos < end:
        if pos + 11 > end:
            raise ProtocolError("aggregate message ends inside a sub-message header")
        type_id = body[pos]
        size = (body[pos + 1] << 16) | (body[pos + 2] << 8) | body[pos + 3]
        # FLV 10.1, E.4.1: 24-bit time with its upper 8 bits in TimestampExtended.
        tag_ts = (
            (body[pos + 7] << 24) | (body[pos + 4] << 16) | (body[pos + 5] << 8) | body[pos + 6]
        )
        pos += 11
        if pos + size > end:
            raise ProtocolError("aggregate message ends inside a sub-message body")
        if base is None:
            base = tag_ts
        yield type_id, (timestamp + tag_ts - base) & 0xFFFFFFFF, body[pos : pos + size]
        # The back pointer is advisory; some writers leave it out at the very end.
        pos += size + 4
