#!/usr/bin/env python3
"""Request-cost benchmark: golive's CPU time per LL-HLS request, against nginx as a caching edge.

Each simulated viewer does what hls.js does in low-latency mode: a blocking playlist reload
for the next part (RFC 8216bis, 6.2.5.2) together with a request for the preload-hinted part
(4.4.5.3), again and again, each on its own keep-alive connection. The viewers speak
HTTP/1.1 over plain asyncio protocols and read only what they need of a playlist (the media
sequence, the segments and parts listed, the hint), so that one client process can keep a
thousand of them busy on a machine of two cores; scripts/bench_viewers.py measures lag and
scaling through edges with steps of viewers; this script measures one thing, the CPU a request
costs golive, with the cheapest client.

A stream of 640x360 30 fps is published in real time (ffmpeg -re, looped) to golive with
the benchmark arguments (the source copy only). The viewers ask golive directly, then the
same number of viewers ask nginx with deploy/nginx/golive-edge.conf in front of golive, for
the same time. The figure is the server's CPU seconds over the requests the viewers had
answered: golive's directly, nginx's through the edge (golive then answers one request per
part and playlist version, whatever the number of viewers). Only loopback is used.

Target: golive at most 60 µs of CPU per request with 1,000 viewers, directly.

    .venv/bin/python scripts/bench_requests.py [--viewers 1000] [--seconds 15] [--no-edge]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.edges import start_edge  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.processes import Server, cpu_seconds  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import sample  # noqa: E402

ROOM = "viewers"
PATH = f"/hls/{ROOM}/source/"
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_SEQUENCE = re.compile(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)")
_HINT = re.compile(rb'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"')


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that asks one GET at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but write the same.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:end])
        length = _LENGTH.search(head)
        size = int(length.group(1)) if length else 0
        if len(self.buffer) < end + 4 + size:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + size])
        del self.buffer[: end + 4 + size]
        answer, self.answer = self.answer, None
        if not answer.done():
            answer.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("closed"))

    def get(self, path: str) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return self.answer


def next_reload(playlist: bytes) -> tuple[str, str | None]:
    """The blocking reload that asks for the part after the newest of ``playlist``, and the
    hinted part's URI."""
    match = _SEQUENCE.search(playlist)
    sequence = int(match.group(1)) if match else 0
    last_segment = playlist.rfind(b"#EXTINF:")
    msn = sequence + playlist.count(b"#EXTINF:")
    part = playlist.count(b"#EXT-X-PART:", last_segment if last_segment >= 0 else 0)
    hint = _HINT.search(playlist)
    return f"?_HLS_msn={msn}&_HLS_part={part}", hint.group(1).decode() if hint else None


@dataclass
class Tally:
    requests: int = 0
    errors: int = 0


async def connect(port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, "127.0.0.1", port)
    return protocol


async def viewer(port: int, tally: Tally, start: asyncio.Event, until: list[float]) -> None:
    reloads, parts = await connect(port), await connect(port)
    await start.wait()
    status, text = await reloads.get(PATH + "index.m3u8")
    while time.monotonic() < until[0]:
        query, hint = next_reload(text)
        part = parts.get(PATH + hint) if hint else None
        status, body = await reloads.get(PATH + "index.m3u8" + query)
        tally.requests += 1
        if status == 200:
            text = body
        else:
            tally.errors += 1
            await asyncio.sleep(0.1)
        if part is not None:
            status, _ = await part
            tally.requests += 1
            tally.errors += status != 200
    for connection in (reloads, parts):
        if connection.transport is not None:
            connection.transport.close()


async def run_viewers(
    port: int, viewers: int, seconds: float, server: Server
) -> tuple[Tally, float]:
    """``viewers`` viewers for ``seconds``; what they got and the server's CPU seconds."""
    tally = Tally()
    start = asyncio.Event()
    until = [0.0]
    tasks = []
    for first in range(0, viewers, 50):  # in batches: a listen backlog drops a SYN flood
        batch = [
            asyncio.ensure_future(viewer(port, tally, start, until))
            for _ in range(first, min(viewers, first + 50))
        ]
        tasks += batch
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    cpu_before = cpu_seconds(server.pids())
    until[0] = time.monotonic() + seconds
    start.set()
    await asyncio.gather(*tasks)
    return tally, cpu_seconds(server.pids()) - cpu_before


async def wait_live(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        connection = await connect(port)
        status, _ = await connection.get(PATH + "index.m3u8")
        assert connection.transport is not None
        connection.transport.close()
        if status == 200:
            await asyncio.sleep(3.0)  # a few segments into the stream
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the stream never became playable")


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main_async(viewers: int, seconds: float, edge: bool) -> None:
    source = sample(duration=10.0, size="640x360", fps=30, bitrate="800k")
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        golive = start_golive(tmp / "golive", *BENCHMARK_ARGS)
        cmd = ffmpeg_publisher(
            source, f"{golive.rtmp}/{ROOM}", realtime=True, loop=True, nostdin=True
        )
        publisher = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL)
        try:
            await wait_live(golive.http_port)
            print(f"{viewers} LL-HLS viewers, {seconds:g} s")
            rows = [("golive, direct", golive.http_port, golive)]
            nginx = start_edge("nginx", tmp / "edge", golive.http_port) if edge else None
            if nginx is not None:
                rows.append(("nginx edge", int(nginx.http.rsplit(":", 1)[1]), nginx.server))
            figures = {}
            for name, port, server in rows:
                mine = client_cpu()
                tally, cpu = await run_viewers(port, viewers, seconds, server)
                mine = client_cpu() - mine
                per = cpu / max(1, tally.requests) * 1e6
                figures[name] = per
                print(
                    f"{name:15} {tally.requests:7} requests ({tally.requests / seconds:6.0f}/s, "
                    f"{tally.errors} errors): server CPU {cpu:5.2f} s, {per:6.1f} µs/request "
                    f"(client {mine / max(1, tally.requests) * 1e6:.1f} µs/request)"
                )
            if nginx is not None:
                nginx.stop()
                ratio = figures["golive, direct"] / figures["nginx edge"]
                print(f"ratio golive/nginx CPU per request: {ratio:.2f}x")
            target = figures["golive, direct"] <= 60
            print(f"golive CPU per request: target <= 60 µs: {'met' if target else 'not met'}")
        finally:
            publisher.terminate()
            await publisher.wait()
            golive.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="golive's CPU per LL-HLS viewer request")
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-edge", dest="edge", action="store_false")
    args = parser.parse_args()
    if not 1 <= args.viewers <= 5000 or not 1 <= args.seconds <= 300:
        raise SystemExit("--viewers must be 1 to 5000 and --seconds 1 to 300")
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args.viewers, args.seconds, args.edge))
    else:
        uvloop.run(main_async(args.viewers, args.seconds, args.edge))


if __name__ == "__main__":
    main()
