"""golive's RTMP ingest in the test's own event loop: a stream hub and an RTMP server on a free
loopback port, with a consumer that records every item of every stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from golive.hub import LiveStream, StreamHub, StreamItem
from golive.rtmp.limits import RtmpLimits
from golive.rtmp.server import Authorizer, RtmpServer, open_authorizer
from tests.harness.rtmp_client import TestPublisher


@dataclass
class Received:
    """Everything one live stream delivered to a consumer."""

    stream: LiveStream
    items: list[StreamItem] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Golive:
    hub: StreamHub
    rtmp: RtmpServer
    received: list[Received]

    @property
    def port(self) -> int:
        return self.rtmp.port

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    async def wait_streams(self, count: int, timeout: float = 20.0) -> list[Received]:
        async def all_done() -> None:
            while len(self.received) < count:
                await asyncio.sleep(0.05)
            for r in self.received[:count]:
                await r.done.wait()

        await asyncio.wait_for(all_done(), timeout)
        return self.received[:count]


GoliveFactory = Callable[..., Awaitable[Golive]]


@contextlib.asynccontextmanager
async def rtmp_ingest() -> AsyncIterator[GoliveFactory]:
    """A factory of ingest servers, every one stopped at the end with the test's raw clients."""
    servers: list[RtmpServer] = []
    tasks: list[asyncio.Task[None]] = []

    async def start(
        authorize: Authorizer = open_authorizer,
        limits: RtmpLimits | None = None,
        takeover_after: float = 5.0,
    ) -> Golive:
        hub = StreamHub(takeover_after=takeover_after)
        received: list[Received] = []

        def started(stream: LiveStream) -> None:
            rec = Received(stream)
            received.append(rec)
            sub = stream.subscribe(max_items=100_000, max_bytes=1 << 30)

            async def drain() -> None:
                async for item in sub:
                    rec.items.append(item)
                rec.done.set()

            tasks.append(asyncio.get_running_loop().create_task(drain()))

        hub.on_stream_started(started)
        server = RtmpServer(hub, authorize, limits)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return Golive(hub, server, received)

    yield start
    for client in TestPublisher.opened:
        client.close()
    TestPublisher.opened.clear()
    await asyncio.sleep(0)
    for server in servers:
        await server.stop()
    for task in tasks:
        task.cancel()
