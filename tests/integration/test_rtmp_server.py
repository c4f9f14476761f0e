"""The asyncio RTMP server on a real loopback socket: limits, refusals, takeovers, drops.

A misbehaving client must lose only its own connection, with a log line naming why.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from golive.media import Codec
from golive.rtmp.limits import RtmpLimits
from golive.rtmp.server import PublishGrant
from tests.harness.ingest import GoliveFactory
from tests.harness.rtmp_client import (
    AVC_FRAME,
    AVC_KEYFRAME,
    TestPublisher,
    logged,
    publishing,
    wait_for,
)


async def test_http_request_on_rtmp_port_closes_only_that_connection(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    live = await publishing(golive.port, "steady")
    reader, writer = await asyncio.open_connection("127.0.0.1", golive.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await wait_for(lambda: logged(caplog, "an HTTP request on the RTMP port"))
    # The other publisher is untouched and keeps streaming.
    for i in range(1, 10):
        await live.send(9, AVC_FRAME, 33 * i, stream_id=1, csid=6)
    await wait_for(lambda: golive.received[0].stream.samples == 9)
    assert "steady" in golive.hub.streams
    live.close()


async def test_garbage_after_connect_closes_with_a_reason(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    client = await TestPublisher.connect(golive.port)
    # A type 1 chunk on a chunk stream that has never had a type 0 header.
    client.writer.write(bytes.fromhex("4a 000000 000001 09") + b"x")
    assert await client.closed_by_server()
    await wait_for(lambda: logged(caplog, "which has had no type 0"))


async def test_handshake_timeout(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(handshake_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", golive.port)
    writer.write(b"\x03")  # C0, then nothing
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await wait_for(lambda: logged(caplog, "no handshake and connect within 0.3 s"))


async def test_idle_timeout_ends_the_stream(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(idle_timeout=0.4))
    client = await publishing(golive.port, "sleepy")
    assert await client.closed_by_server()
    await wait_for(lambda: logged(caplog, "idle for"))
    assert golive.hub.streams == {}
    await asyncio.wait_for(golive.received[0].done.wait(), 2)


async def test_connection_limit(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(max_connections=2))
    # Publishers: a newcomer would close the oldest connection not publishing yet instead.
    a = await publishing(golive.port, "a")
    b = await publishing(golive.port, "b")
    reader, writer = await asyncio.open_connection("127.0.0.1", golive.port)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await wait_for(lambda: logged(caplog, "connections open, the limit"))
    a.close()
    b.close()


async def test_message_size_limit(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(max_message_size=100_000))
    client = await publishing(golive.port, "big")
    await client.send(9, AVC_KEYFRAME + bytes(200_000), 40, stream_id=1, csid=6)
    assert await client.closed_by_server()
    await wait_for(lambda: logged(caplog, "over the limit of 100000 bytes"))
    assert golive.hub.streams == {}


async def test_duplicate_publisher_refused_while_the_first_is_sending(
    golive_rtmp: GoliveFactory,
) -> None:
    golive = await golive_rtmp(takeover_after=30)
    first = await publishing(golive.port, "room1")
    second = await TestPublisher.connect(golive.port)
    await second.publish("room1")
    await second.expect_status("NetStream.Publish.BadName")
    assert await second.closed_by_server()
    await first.send(9, AVC_KEYFRAME, 33, stream_id=1, csid=6)
    await wait_for(lambda: golive.received[0].stream.samples == 1)
    first.close()


async def test_silent_publisher_is_taken_over(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(takeover_after=0.3)
    dead = await publishing(golive.port, "room2")  # then silent, like a dead TCP connection
    await asyncio.sleep(0.5)
    fresh = await TestPublisher.connect(golive.port)
    await fresh.publish("room2")
    await fresh.expect_status("NetStream.Publish.Start")
    assert await dead.closed_by_server()
    assert len(golive.received) == 2
    assert golive.hub.streams["room2"] is golive.received[1].stream
    assert golive.received[0].stream.ended
    await wait_for(lambda: logged(caplog, "the new one takes over"))
    fresh.close()


async def test_publisher_reset_mid_stream_ends_the_stream(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    client = await publishing(golive.port, "dropper")
    await client.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    # Half a message, then a TCP reset: no FCUnpublish, no deleteStream.
    client.writer.write(client.out.write(6, 33, 9, 1, AVC_FRAME + bytes(5000))[:300])
    await client.writer.drain()
    client.writer.transport.abort()
    rec = golive.received[0]
    await asyncio.wait_for(rec.done.wait(), 5)
    assert golive.hub.streams == {}
    assert rec.stream.samples == 1
    await wait_for(lambda: logged(caplog, "room dropper ended: publisher gone"))


async def test_unsupported_codec_is_refused_clearly(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp()
    client = await publishing(golive.port, "oldflash")
    await client.send(8, bytes.fromhex("2f") + b"mp3data", 0, stream_id=1, csid=4)  # MP3 audio
    info = await client.expect_status("NetStream.Publish.Failed")
    assert "MP3" in info["description"]
    assert await client.closed_by_server()
    await wait_for(lambda: logged(caplog, "publish failed"))
    assert golive.hub.streams == {}


async def test_normal_stop_with_fcunpublish_and_deletestream(golive_rtmp: GoliveFactory) -> None:
    golive = await golive_rtmp()
    client = await publishing(golive.port, "polite")
    await client.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    await client.command("FCUnpublish", 5.0, None, "polite")
    await client.command("deleteStream", 6.0, None, 1.0)
    rec = golive.received[0]
    await asyncio.wait_for(rec.done.wait(), 5)
    assert rec.stream.video is not None and rec.stream.video.codec is Codec.H264
    assert golive.hub.streams == {}
    client.close()


async def test_log_lines_never_contain_the_stream_key(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    released: list[str] = []

    class Grant(PublishGrant):
        async def release(self) -> None:
            released.append(self.room)

    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        return Grant("public-room")

    caplog.set_level(logging.DEBUG)
    golive = await golive_rtmp(authorize=authorize)
    client = await publishing(golive.port, "s3cr3t-k3y")
    await client.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    client.writer.transport.abort()
    await asyncio.wait_for(golive.received[0].done.wait(), 5)
    assert logged(caplog, "room public-room is live")
    assert not any("s3cr3t" in r.getMessage() for r in caplog.records)
    # The grant is released exactly once when the publisher drops: that ends the room.
    for _ in range(50):
        if released:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert released == ["public-room"]


@pytest.mark.parametrize("how", ["abort", "deleteStream"])
async def test_publisher_gone_while_its_room_goes_live_leaves_nothing_behind(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # deleteStream: the publish is withdrawn, the connection stays. Accepting it anyway raised
    # inside the authorization task and left the room live with its grant held (seen when the
    # connection's fuzz target began answering publishes one read late, as the server does).
    started = asyncio.Event()
    released: list[str] = []

    class SlowGrant(PublishGrant):
        async def start(self) -> None:
            started.set()
            await asyncio.sleep(0.3)  # a registry round trip in flight

        async def release(self) -> None:
            released.append(self.room)

    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        return SlowGrant("slow-room")

    golive = await golive_rtmp(authorize=authorize)
    client = await TestPublisher.connect(golive.port)
    await client.publish("key")
    await asyncio.wait_for(started.wait(), 5)
    if how == "abort":
        client.writer.transport.abort()  # gone before the room is live
    else:
        await client.command("deleteStream", 6.0, None, 1.0)  # withdrawn before the answer
    # The start finishes, sees the publish gone, closes the stream and ends the room.
    await wait_for(lambda: released == ["slow-room"])
    assert golive.hub.streams == {}
    await asyncio.sleep(0.1)
    assert released == ["slow-room"]
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    client.close()


async def test_a_publisher_is_read_in_batches_and_its_last_bytes_do_not_wait(
    golive_rtmp: GoliveFactory,
) -> None:
    golive = await golive_rtmp()
    live = await publishing(golive.port, "batched")
    (conn,) = golive.rtmp.connections
    sock = conn.transport.get_extra_info("socket")  # type: ignore[union-attr]

    def lowat() -> int:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT))

    frame = AVC_FRAME + bytes(2000)
    seen: set[int] = set()
    for i in range(1, 150):  # 1.5 s at about 200 kB/s: enough to measure the rate
        await live.send(9, frame, 10 * i, stream_id=1, csid=6)
        await asyncio.sleep(0.01)
        seen.add(lowat())
    assert max(seen) > 1000  # woken for batches, not for each message
    await wait_for(lambda: golive.received[0].stream.samples == 149)
    # Nothing more comes: the low-water mark drops, and a last small frame is read at once.
    await wait_for(lambda: lowat() == 1)
    await live.send(9, AVC_FRAME, 1500, stream_id=1, csid=6)
    await wait_for(lambda: golive.received[0].stream.samples == 150)
