"""Simulated LL-HLS viewers: each does what hls.js does in low-latency mode, a blocking reload
for the next part together with a request for the preload-hinted part, again and again. Run
against golive directly or through a caching edge (tests/harness/edges.py), it tells the
origin requests per viewer request and how late each viewer got each part.

    python -m tests.harness.ll_viewers --viewers 100 --seconds 10 \\
        [--edges direct,nginx,nginx-nolock,varnish]

A part's lateness is when a viewer had it whole minus when golive listed it, as seen by one
probe asking golive itself with blocking reloads (both clocks are this process's). The viewers
share one event loop, so their own cost is in every figure alike; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from golive.hls import playlist_parser
from tests.harness.edges import Edge, start_edge
from tests.harness.golive import BENCHMARK_ARGS, golive_serve
from tests.harness.hls import wait_playlist
from tests.harness.publishers import ffmpeg_publisher
from tests.harness.samples import sample


@dataclass
class Run:
    """What the viewers of one run saw."""

    listed: dict[int, float] = field(default_factory=dict)  # part number -> when golive listed it
    received: list[tuple[int, float]] = field(default_factory=list)  # (part, when a viewer had it)
    requests: int = 0  # by the viewers
    errors: int = 0


def _next(text: str) -> tuple[str, int, int, str | None]:
    """(playlist text's next blocking reload query, msn, part, hinted part URI)."""
    pl = playlist_parser.parse_media(text)
    msn = pl.media_sequence + len(pl.segments)
    part = len(pl.trailing_parts)
    hint = pl.preload_hint.uri if pl.preload_hint is not None else None
    return f"?_HLS_msn={msn}&_HLS_part={part}", msn, part, hint


def _part_number(uri: str) -> int:
    return int(uri.removeprefix("part-").removesuffix(".m4s"))


async def probe(http: aiohttp.ClientSession, url: str, run: Run, until: float) -> None:
    """Follows golive itself and notes when each part was listed."""
    text = await wait_playlist(http, url)
    while time.monotonic() < until:
        query, *_ = _next(text)
        async with http.get(url + query) as resp:
            text = await resp.text()
        now = time.monotonic()
        pl = playlist_parser.parse_media(text)
        for part in [p for s in pl.segments for p in s.parts] + list(pl.trailing_parts):
            run.listed.setdefault(_part_number(part.uri), now)


async def viewer(http: aiohttp.ClientSession, url: str, run: Run, until: float) -> None:
    base = url.rsplit("/", 1)[0]
    async with http.get(url) as resp:
        text = await resp.text()
    run.requests += 1

    async def fetch_part(uri: str) -> None:
        async with http.get(f"{base}/{uri}") as resp:
            await resp.read()
            if resp.status == 200:
                run.received.append((_part_number(uri), time.monotonic()))
            else:
                run.errors += 1

    while time.monotonic() < until:
        query, _, _, hint = _next(text)
        part = asyncio.ensure_future(fetch_part(hint)) if hint else None
        async with http.get(url + query) as resp:
            body = await resp.text()
            if resp.status == 200:
                text = body
            else:
                run.errors += 1
                await asyncio.sleep(0.1)
        run.requests += 2 if part else 1
        if part:
            await part


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(origin: str, front: str, viewers: int, seconds: float) -> tuple[Run, float]:
    """``viewers`` viewers of room ``load`` through ``front`` for ``seconds``; the run and when
    it started."""
    run = Run()
    url = f"{front}/hls/load/source/index.m3u8"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_playlist(http, url)
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(
            probe(http, f"{origin}/hls/load/source/index.m3u8", run, until + 1),
            *(viewer(http, url, run, until) for _ in range(viewers)),
        )
    return run, started


async def main_async(viewers: int, seconds: float, edges: list[str]) -> None:
    source = sample(duration=10.0, size="640x360", fps=30, bitrate="800k")
    with tempfile.TemporaryDirectory() as tmp, golive_serve(Path(tmp), *BENCHMARK_ARGS) as g:
        publisher = await asyncio.create_subprocess_exec(
            *ffmpeg_publisher(source, f"{g.rtmp}/load", realtime=True, loop=True, nostdin=True),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            print(f"{viewers} viewers, {seconds:.0f} s each run")
            print("edge          viewer req  origin req  origin/viewer  parts  late p50   late p99")
            for kind in edges:
                edge: Edge | None = None
                if kind != "direct":
                    edge = start_edge(kind, Path(tmp) / kind, g.http_port)
                try:
                    before = edge.origin_requests() if edge else 0
                    run, started = await measure(
                        g.http, edge.http if edge else g.http, viewers, seconds
                    )
                    await asyncio.sleep(0.5)
                    origin = edge.origin_requests() - before if edge else run.requests
                finally:
                    if edge:
                        edge.stop()
                warm = started + 2.0  # the first parts of a run are cold for every cache
                late = [
                    (t - run.listed[n]) * 1000
                    for n, t in run.received
                    if n in run.listed and run.listed[n] > warm
                ]
                ratio = origin / max(1, run.requests)
                p50, p99 = statistics.median(late), _percentile(late, 0.99)
                print(
                    f"{kind:13} {run.requests:10} {origin:11} {ratio:14.3f} {len(late):6}"
                    f" {p50:7.1f} ms {p99:7.1f} ms"
                    + (f"  ({run.errors} errors)" if run.errors else "")
                )
        finally:
            publisher.terminate()
            await publisher.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--edges", default="direct,nginx,nginx-nolock,varnish")
    args = parser.parse_args()
    asyncio.run(main_async(args.viewers, args.seconds, args.edges.split(",")))


if __name__ == "__main__":
    main()
