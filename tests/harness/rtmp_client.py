"""A small RTMP publisher for tests that need to misbehave on purpose (go silent, send garbage,
stop mid-message), and what the tests of the RTMP listener share: a client that publishes a few
H.264 bytes, and log and wait helpers. Real encoders (ffmpeg, PyAV, GStreamer) cover the
well-behaved paths."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest

from golive.rtmp import amf0
from golive.rtmp.chunk import ChunkReader, ChunkWriter, RawMessage


class TestPublisher:
    __test__ = False
    # Every client made in a test, closed by the golive_rtmp fixture.
    opened: list[TestPublisher] = []  # noqa: RUF012

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.chunks = ChunkReader()
        self.out = ChunkWriter()
        self.messages: list[RawMessage] = []

    @classmethod
    async def connect(
        cls, port: int, app: str = "live", flash_ver: str | None = None
    ) -> TestPublisher:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        cls.opened.append(client)
        writer.write(b"\x03" + bytes(8) + os.urandom(1528))
        s0s1s2 = await reader.readexactly(1 + 1536 * 2)
        writer.write(s0s1s2[1 : 1 + 1536])
        info = {"app": app, "tcUrl": f"rtmp://127.0.0.1/{app}"}
        if flash_ver is not None:
            info["flashVer"] = flash_ver
        await client.command("connect", 1.0, info)
        await client.expect_status("NetConnection.Connect.Success")
        return client

    async def send(
        self, type_id: int, body: bytes, timestamp: int = 0, stream_id: int = 0, csid: int = 3
    ) -> None:
        self.writer.write(self.out.write(csid, timestamp, type_id, stream_id, body))
        await self.writer.drain()

    async def command(self, name: str, txn: float, *args: Any, stream_id: int = 0) -> None:
        await self.send(20, amf0.encode(name, txn, *args), stream_id=stream_id)

    async def read_message(self, timeout: float = 5.0) -> RawMessage:
        while not self.messages:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("server closed the connection")
            self.messages.extend(self.chunks.feed(data))
        return self.messages.pop(0)

    async def expect_status(self, code: str, timeout: float = 5.0) -> dict[str, Any]:
        """Read until a command whose info object carries ``code``; return that object."""
        while True:
            msg = await self.read_message(timeout)
            if msg.type_id != 20:
                continue
            values = amf0.decode_all(msg.body)
            for value in values:
                if isinstance(value, dict) and "code" in value:
                    if value["code"] == code:
                        return value
                    raise AssertionError(f"expected {code}, got {value}")

    async def publish(self, key: str) -> None:
        await self.command("createStream", 2.0, None)
        await self.command("publish", 0.0, None, key, "live", stream_id=1)

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
        except ConnectionError:
            return True  # a reset: the server closed with our bytes still unread
        except TimeoutError:
            return False

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


_SPS = bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
_PPS = bytes.fromhex("68ebe3cb22c0")
# AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1): High profile, level 3.1.
AVC_CONFIG = (
    bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1])
    + len(_SPS).to_bytes(2, "big")
    + _SPS
    + b"\x01"
    + len(_PPS).to_bytes(2, "big")
    + _PPS
)
AVC_HEADER = bytes.fromhex("1700000000") + AVC_CONFIG
AVC_KEYFRAME = bytes.fromhex("1701000000") + b"\x00\x00\x00\x03\x65\x88\x84"
AVC_FRAME = bytes.fromhex("2701000000") + b"\x00\x00\x00\x02\x41\x9a"


async def publishing(port: int, key: str) -> TestPublisher:
    """A client publishing under ``key``, its H.264 configuration sent."""
    client = await TestPublisher.connect(port)
    await client.publish(key)
    await client.expect_status("NetStream.Publish.Start")
    await client.send(9, AVC_HEADER, 0, stream_id=1, csid=6)
    return client


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    """Some log line so far holds ``text``."""
    return any(text in r.getMessage() for r in caplog.records)


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
