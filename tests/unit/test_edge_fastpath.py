"""The worker's fast path (golive.edge.fastpath): plain HLS GETs answered from the cache, in
order, and every other request handed to aiohttp with its bytes untouched."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from golive.edge.cache import Answer
from golive.edge.fastpath import MAX_AHEAD, MAX_HEAD, FastProtocol, parse_simple

PART = b"GET /hls/r/source/part-3.m4s HTTP/1.1\r\nHost: x\r\nUser-Agent: hls.js\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /hls/r/source/index.m3u8?_HLS_msn=3&_HLS_part=1 HTTP/1.1\r\nHost: a",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nConnection: keep-alive",
        b"GET /hls/r/s/part-1.m4s HTTP/1.1\r\nHost:a\r\nX-Forwarded-For: 10.0.0.1\r\nUser-Agent: a",
    ],
)
def test_plain_hls_gets_are_simple(head: bytes) -> None:
    assert parse_simple(head) is not None


@pytest.mark.parametrize(
    "head",
    [
        b"POST /hls/r/index.m3u8 HTTP/1.1",
        b"GET /api/health HTTP/1.1",
        b"GET /hls/r/index.m3u8 HTTP/1.0",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nContent-Length: 0",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nTransfer-Encoding: chunked",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nExpect: 100-continue",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nUpgrade: websocket",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\n folded",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\nUser-Agent: b",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\x00b",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost a",
        b"GET /hls/r/\xffindex.m3u8 HTTP/1.1",
        b"GET  /hls/r/index.m3u8 HTTP/1.1",
        b"GET /hls/../api/me HTTP/1.1\r\nHost: a",
        b"GET /hls/r/index.m3u8 HTTP/1.1",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nHost: b",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nUser-Agent: b\r\nUser-Agent: c",
    ],
)
def test_anything_else_is_left_to_aiohttp(head: bytes) -> None:
    assert parse_simple(head) is None


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.protocol: Any = None
        self.closed = False

    def writelines(self, data: Any) -> None:
        self.written.append(b"".join(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("192.0.2.1", 5000) if name == "peername" else default

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def close(self) -> None:
        self.closed = True

    reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Worker:
    def __init__(self) -> None:
        self.kept: dict[str, Answer] = {}
        self.gate = asyncio.Event()
        self.players: list[tuple[str, str, str]] = []

    def hit(self, target: str) -> Answer | None:
        return self.kept.get(target)

    async def answer(self, target: str) -> Answer:
        await self.gate.wait()
        return Answer(200, {"Content-Type": "video/mp4"}, target.encode())

    def seen(self, target: str, remote: str, user_agent: str, forwarded_for: list[str]) -> None:
        self.players.append((target, remote, user_agent))


class Fallback(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data


def connect(worker: Worker) -> tuple[FastProtocol, Transport, Fallback]:
    fallback, transport = Fallback(), Transport()
    protocol = FastProtocol(worker, lambda: fallback, set())
    protocol.connection_made(transport)
    return protocol, transport, fallback


async def test_a_hit_is_written_at_once_with_its_length_and_date() -> None:
    worker = Worker()
    worker.kept["/hls/r/source/part-3.m4s"] = Answer(200, {"Content-Type": "video/mp4"}, b"moof")
    protocol, transport, _ = connect(worker)
    protocol.data_received(PART[:10])
    assert transport.written == []
    protocol.data_received(PART[10:])
    [written] = transport.written
    head, _, body = written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"moof"
    assert b"\r\nContent-Length: 4\r\n" in head and b"\r\nDate: " in head
    assert worker.players == []  # a part is no playlist


async def test_pipelined_requests_are_answered_in_order_behind_a_miss() -> None:
    worker = Worker()
    worker.kept["/hls/r/source/part-3.m4s"] = Answer(200, {}, b"kept")
    playlist = (
        b"GET /hls/r/source/index.m3u8?_HLS_msn=9 HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\n\r\n"
    )
    protocol, transport, _ = connect(worker)
    protocol.data_received(playlist + PART)
    await asyncio.sleep(0)
    assert transport.written == []  # the hit waits behind the miss
    worker.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert [w.rpartition(b"\r\n\r\n")[2] for w in transport.written] == [
        b"/hls/r/source/index.m3u8?_HLS_msn=9",
        b"kept",
    ]
    assert worker.players == [("/hls/r/source/index.m3u8?_HLS_msn=9", "192.0.2.1", "ua")]


async def test_another_request_hands_the_connection_over_with_its_bytes() -> None:
    worker = Worker()
    worker.kept["/hls/r/source/part-3.m4s"] = Answer(200, {}, b"kept")
    post = b"POST /api/sessions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    protocol, transport, fallback = connect(worker)
    protocol.data_received(PART + post + PART)
    assert len(transport.written) == 1  # the first part, then aiohttp for the rest
    assert transport.protocol is fallback and fallback.transport is transport
    assert fallback.data == post + PART


async def test_a_head_too_long_goes_to_aiohttp() -> None:
    protocol, transport, fallback = connect(Worker())
    long = b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * MAX_HEAD
    protocol.data_received(long)
    assert transport.protocol is fallback and fallback.data == long


async def test_a_client_that_does_not_read_is_not_read_either() -> None:
    """While answers wait on a full send buffer, what the client sends ahead is bounded."""
    worker = Worker()
    worker.kept["/hls/r/source/part-3.m4s"] = Answer(200, {}, b"kept")
    protocol, transport, _ = connect(worker)
    protocol.pause_writing()
    for _ in range(MAX_AHEAD // len(PART) + 2):
        protocol.data_received(PART)
    assert transport.written == [] and not transport.reading
    protocol.resume_writing()
    assert len(transport.written) == MAX_AHEAD // len(PART) + 2 and transport.reading


async def test_a_last_request_is_answered_and_the_connection_closed() -> None:
    """``Connection: close`` (RFC 9112, 9.6): the answer says so, then the connection ends;
    a request sent after it anyway is aiohttp's to refuse, with the whole."""
    worker = Worker()
    worker.kept["/hls/r/source/part-3.m4s"] = Answer(200, {}, b"kept")
    last = PART.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    protocol, transport, _ = connect(worker)
    protocol.data_received(last)
    [written] = transport.written
    assert written.endswith(b"\r\nConnection: close\r\n\r\nkept") and transport.closed
    protocol, transport, fallback = connect(worker)
    protocol.data_received(last + PART)
    assert transport.written == [] and fallback.data == last + PART
