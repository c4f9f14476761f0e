"""The RTMP listener under abuse, over loopback sockets: a flood of tiny messages must not hold
the event loop, and connections that never publish must neither outstay their deadline nor keep
a real publisher out.

The loop's lag is measured by a ticker in the loop the server runs in: what an HTTP request
would wait for before golive could even read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator

import pytest

from golive.rtmp import amf0
from golive.rtmp.chunk import ChunkWriter
from golive.rtmp.limits import RtmpLimits
from golive.rtmp.server import PublishGrant, PublishRefusedError
from tests.harness.ingest import GoliveFactory
from tests.harness.paths import ROOT
from tests.harness.rtmp_client import (
    AVC_FRAME,
    AVC_KEYFRAME,
    TestPublisher,
    logged,
    publishing,
    wait_for,
)


class LoopLag:
    """How late a 10 ms sleep wakes up, sampled for as long as it runs."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - start - 0.01)

    def p99(self) -> float:
        return statistics.quantiles(self.lags, n=100)[98]


@contextlib.asynccontextmanager
async def running(*jobs: object) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(job) for job in jobs]  # type: ignore[call-overload]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def steady(client: TestPublisher, sent: list[int]) -> None:
    """A healthy publisher: a keyframe, then a frame every 33 ms."""
    await client.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    sent.append(1)
    while True:
        await asyncio.sleep(0.033)
        await client.send(9, AVC_FRAME, 33 * len(sent), stream_id=1, csid=6)
        sent.append(1)


async def flood_beside_a_publisher(
    golive_rtmp: GoliveFactory, flooder_publishes: bool
) -> tuple[LoopLag, float, int, int]:
    """Tiny messages at 2 MB/s for 3 s beside a healthy publisher, from another process as an
    attacker's would come; return the loop's lag over those 3 s, how long the flood lasted
    before golive closed it, and the frames the healthy publisher sent and golive received."""
    golive = await golive_rtmp()
    healthy = await publishing(golive.port, "steady")
    lag = LoopLag()
    sent: list[int] = []
    async with running(lag.run(), steady(healthy, sent)):
        flooder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.harness.flood",
            str(golive.port),
            "flood" if flooder_publishes else "",
            "3",
            "2000000",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        began = time.monotonic()
        out, _ = await asyncio.wait_for(flooder.communicate(), 15)
        lasted = float(out)
        await asyncio.sleep(max(0.5, 3.5 - (time.monotonic() - began)))
    stream = next(r.stream for r in golive.received if r.stream.room == "steady")
    await wait_for(lambda: stream.samples >= len(sent))
    return lag, lasted, len(sent), stream.samples


async def test_flood_before_publishing_is_closed_and_the_loop_stays_free(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Before the budget and the slicing, /api/health took up to 7.2 s under this flood.
    lag, lasted, sent, received = await flood_beside_a_publisher(golive_rtmp, False)
    assert lasted < 2.0
    await wait_for(lambda: logged(caplog, "(unpublished_messages_per_second)"))
    assert lag.p99() < 0.1, f"loop lag p99 {lag.p99() * 1000:.0f} ms"
    assert received == sent


async def test_flood_from_a_publisher_does_not_hold_the_loop(
    golive_rtmp: GoliveFactory,
) -> None:
    # A publisher with a key has no budget: only the slices and turns keep the loop free.
    lag, lasted, sent, received = await flood_beside_a_publisher(golive_rtmp, True)
    assert lasted >= 3.0  # not closed: flooding is not against the rules once publishing
    assert lag.p99() < 0.1, f"loop lag p99 {lag.p99() * 1000:.0f} ms"
    assert received == sent


async def test_connect_then_nothing_is_closed_at_the_publish_deadline(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(publish_timeout=0.5))
    client = await TestPublisher.connect(golive.port)
    start = time.monotonic()

    async def trickle() -> None:
        # An acknowledgement now and then: bytes enough to beat the idle timeout.
        while True:
            await asyncio.sleep(0.1)
            await client.send(3, (0).to_bytes(4, "big"), csid=2)

    async with running(trickle()):
        assert await client.closed_by_server()
    assert 0.4 < time.monotonic() - start < 2.0
    await wait_for(lambda: logged(caplog, "no publish within 0.5 s of connect"))
    assert golive.rtmp.unpublished == 0


async def test_oldest_unpublished_connection_makes_room(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    golive = await golive_rtmp(limits=RtmpLimits(max_unpublished_per_address=2))
    live = await publishing(golive.port, "live")  # publishing: not counted
    first = await TestPublisher.connect(golive.port)
    second = await TestPublisher.connect(golive.port)
    third = await TestPublisher.connect(golive.port)
    assert await first.closed_by_server()
    assert logged(caplog, "(max_unpublished_per_address)")
    await third.publish("third")
    await third.expect_status("NetStream.Publish.Start")
    assert golive.rtmp.unpublished == 1  # the second
    for client in (live, second, third):
        client.close()


class Squatters:
    """Connections that handshake and connect, then hold on until golive closes them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.held: set[asyncio.StreamWriter] = set()
        self.attempts = 0
        self._opening = asyncio.Semaphore(50)  # handshakes in flight at once

    async def squat(self, address: str, times: int) -> None:
        for _ in range(times):
            writer: asyncio.StreamWriter | None = None
            try:
                async with self._opening:
                    self.attempts += 1
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", self.port, local_addr=(address, 0)
                    )
                    writer.write(b"\x03" + bytes(8) + os.urandom(1528))
                    s0s1s2 = await reader.readexactly(1 + 1536 * 2)
                    connect = amf0.encode("connect", 1.0, {"app": "live"})
                    writer.write(s0s1s2[1:1537] + ChunkWriter().write(3, 0, 20, 0, connect))
                self.held.add(writer)
                while await reader.read(65536):
                    pass
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                if writer is not None:
                    self.held.discard(writer)
                    writer.close()

    def close(self) -> None:
        for writer in self.held:
            writer.close()


async def test_a_publisher_gets_in_while_a_thousand_squatters_try(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: 999 squatters held every slot and the publisher's connection was reset.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # both ends of 1,000 sockets live in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))

    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        if key != "the-real-key":
            raise PublishRefusedError("unknown stream key")
        return PublishGrant("real")

    golive = await golive_rtmp(authorize=authorize)
    limits = golive.rtmp.limits
    squatters = Squatters(golive.port)
    # 16 holding on the publisher's own address (a shared NAT), the rest spread over 49 others
    # and coming back once when closed, so that they are still trying when the publisher
    # comes. (Squatters reconnecting on its own address within its round trips would close it:
    # that is a connection flood from that address, which belongs to the network.)
    tasks = [
        asyncio.ensure_future(
            squatters.squat("127.0.0.1", 1)
            if i < 16
            else squatters.squat(f"127.0.0.{2 + i % 49}", 2)
        )
        for i in range(1000)
    ]
    try:
        await wait_for(lambda: squatters.attempts >= 1000, 15)
        assert golive.rtmp.unpublished <= limits.max_unpublished
        started = time.monotonic()
        real = await TestPublisher.connect(golive.port)
        await real.publish("the-real-key")
        await real.expect_status("NetStream.Publish.Start")
        took = time.monotonic() - started
        assert took < 5.0
        assert "real" in golive.hub.streams
        assert golive.rtmp.unpublished <= limits.max_unpublished
        assert len(golive.rtmp.connections) <= limits.max_connections
        assert logged(caplog, "(max_unpublished)")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        squatters.close()


async def test_publishing_and_withdrawing_in_a_loop_buys_no_time(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A publish that is withdrawn (deleteStream) while it is being refused leaves the
    # connection open; asking again and again must not renew the deadline from connect.
    async def refuse(app: str, key: str, query: str) -> PublishGrant:
        await asyncio.sleep(0.01)
        raise PublishRefusedError("unknown stream key")

    golive = await golive_rtmp(authorize=refuse, limits=RtmpLimits(publish_timeout=0.5))
    client = await TestPublisher.connect(golive.port)
    start = time.monotonic()

    async def churn() -> None:
        while True:
            await client.publish("bogus")
            await client.command("deleteStream", 3.0, None, 1.0)
            await asyncio.sleep(0.05)

    async with running(churn()):
        assert await client.closed_by_server()
    assert time.monotonic() - start < 2.0
    await wait_for(lambda: logged(caplog, "(publish_timeout)"))
    assert golive.rtmp.unpublished == 0


async def test_a_hung_authorization_is_refused_at_its_limit_and_gives_its_slot_back(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A users service that never answers: the publish deadline stops while an authorization
    # runs, so only authorize_timeout ends the wait. The publisher hears a refusal, the log
    # names the limit, the connection and its slot are given back, and a publisher whose
    # authorization answers gets in meanwhile and keeps streaming.
    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        if key == "stuck":
            await asyncio.Event().wait()  # never set
        return PublishGrant(key)

    golive = await golive_rtmp(authorize=authorize, limits=RtmpLimits(authorize_timeout=0.5))
    stuck = await TestPublisher.connect(golive.port)
    started = time.monotonic()
    await stuck.publish("stuck")
    healthy = await publishing(golive.port, "steady")
    await healthy.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    status = await stuck.expect_status("NetStream.Publish.Denied", timeout=3.0)
    took = time.monotonic() - started
    assert 0.45 <= took < 1.5, took
    assert "timed out" in str(status.get("description", "")), status
    assert logged(caplog, "(authorize_timeout)")
    assert golive.rtmp.refusals["timeout"] == 1
    assert "stuck" not in golive.hub.streams and "steady" in golive.hub.streams
    await healthy.send(9, AVC_FRAME, 33, stream_id=1, csid=6)
    # Refused, the connection is closed, as after any refusal, and its slot is free.
    assert await stuck.closed_by_server(timeout=2.0)
    assert golive.rtmp.unpublished == 0
    assert "steady" in golive.hub.streams


async def test_a_hung_room_registry_is_refused_at_the_same_limit_and_leaves_no_room(
    golive_rtmp: GoliveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The key is good but opening the room (the registry's start) hangs: the room the hub gave
    # this publisher is taken back, the grant released, and the room can be published again.
    released: list[str] = []

    class Hung(PublishGrant):
        async def start(self) -> None:
            await asyncio.Event().wait()  # never set

        async def release(self) -> None:
            released.append(self.room)

    grants = iter([Hung("room"), PublishGrant("room")])

    async def authorize(app: str, key: str, query: str, address: str) -> PublishGrant:
        return next(grants)

    golive = await golive_rtmp(authorize=authorize, limits=RtmpLimits(authorize_timeout=0.5))
    first = await TestPublisher.connect(golive.port)
    await first.publish("key")
    await first.expect_status("NetStream.Publish.Denied", timeout=3.0)
    assert logged(caplog, "(authorize_timeout)")
    await wait_for(lambda: released == ["room"])
    assert "room" not in golive.hub.streams
    second = await publishing(golive.port, "key")
    await second.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
    assert "room" in golive.hub.streams
