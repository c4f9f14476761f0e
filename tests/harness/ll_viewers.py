"""Simulated LL-HLS viewers: each does what hls.js does in low-latency mode, a blocking reload
for the next part together with a request for the preload-hinted part, again and again. Run
against golive directly or through a caching edge (tests/harness/edges.py), it tells the
origin requests per viewer request and how late each viewer got each part.

    python -m tests.harness.ll_viewers --viewers 100 --seconds 10 \\
        [--edges direct,nginx,nginx-nolock,varnish]

A part's lateness is when a viewer had it whole minus when golive listed it, as seen by one
probe asking golive itself with blocking reloads (both clocks are this process's). The viewers
share one event loop, so their own cost is in every figure alike; compare the rows of one run.

For thousands of viewers, ``run_load`` spreads them over worker processes with a client of
their own and reports what they cost (scripts/bench_viewers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp

from golive.hls import playlist_parser
from tests.harness.edges import Edge, start_edge
from tests.harness.golive import BENCHMARK_ARGS, golive_serve
from tests.harness.hls import wait_playlist
from tests.harness.paths import ROOT
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


# Many viewers in several processes ------------------------------------------------------
#
# One Python process can keep a few hundred LL-HLS viewers on time; a benchmark of thousands
# spreads them over worker processes (``python -m tests.harness.ll_viewers --worker``), each
# with its own uvloop event loop, a spec on stdin and its tallies as JSON on stdout. Each
# viewer speaks HTTP/1.1 over two keep-alive connections of its own (one for playlists, one
# for parts, as a browser opens several per host) with a client made of a buffer and two
# header lookups, a tenth of aiohttp's client in CPU per request, so that the load tool runs
# out of CPU well after the server does. Every worker checks its own event loop's lag; the
# caller measures the workers' CPU (``process_cpu_seconds``).


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 client connection, one request at a time (RFC 9112): the
    status, the body whole (Content-Length or chunked), and when the body was whole."""

    def __init__(self, host: str) -> None:
        self._host = host.encode()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: tuple[int, int, bool] | None = None  # status, length, chunked
        self._waiter: asyncio.Future[tuple[int, bytes, float]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._waiter is not None and self._answer():
            pass

    def _answer(self) -> bool:
        """Hand over one whole response if the buffer holds it."""
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = bytes(self._buffer[:end]).split(b"\r\n")
            del self._buffer[: end + 4]
            length, chunked = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            self._head = (int(lines[0].split(b" ", 2)[1]), length, chunked)
        status, length, chunked = self._head
        if chunked:
            body = self._dechunk()
            if body is None:
                return False
        else:
            if len(self._buffer) < length:
                return False
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
        self._head = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body, time.monotonic()))
        return True

    def _dechunk(self) -> bytes | None:
        """The body of a chunked message once the buffer holds all of it (no trailers), or
        None, leaving the buffer as it is."""
        chunks: list[bytes] = []
        at = 0
        while True:
            eol = self._buffer.find(b"\r\n", at)
            if eol < 0:
                return None
            size = int(bytes(self._buffer[at:eol]).split(b";")[0], 16)
            if len(self._buffer) < eol + 2 + size + 2:
                return None
            if size == 0:
                del self._buffer[: eol + 4]
                return b"".join(chunks)
            chunks.append(bytes(self._buffer[eol + 2 : eol + 2 + size]))
            at = eol + 2 + size + 2

    async def get(self, target: bytes) -> tuple[int, bytes, float]:
        """GET ``target``: (status, body, when the body was whole, time.monotonic())."""
        if self._transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, self._host))
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(
        lambda: HttpConnection(f"{host}:{port}"), host, port
    )
    return protocol


@dataclass(frozen=True)
class Version:
    """What a viewer needs of one playlist version."""

    query: bytes  # of the next blocking reload
    hint: bytes | None  # the preload-hinted part's URI
    hinted: int  # its number, or -1
    parts: tuple[tuple[int, bytes], ...]  # the newest parts listed: (number, URI)


class Versions:
    """What each playlist version says. Every viewer of a process gets the same bytes for the
    same version, so each is parsed once (a player parses each itself: the client's cost, not
    the server's)."""

    def __init__(self) -> None:
        self._known: dict[bytes, Version] = {}

    def __call__(self, body: bytes) -> Version:
        known = self._known.get(body)
        if known is None:
            if len(self._known) > 256:
                self._known.clear()
            text = body.decode()
            query, _, _, hint = _next(text)
            pl = playlist_parser.parse_media(text)
            listed = [p.uri for s in pl.segments for p in s.parts] + [
                p.uri for p in pl.trailing_parts
            ]
            known = Version(
                query=query.encode(),
                hint=hint.encode() if hint else None,
                hinted=_part_number(hint) if hint else -1,
                parts=tuple((_part_number(u), u.encode()) for u in listed[-CATCH_UP:]),
            )
            self._known[body] = known
        return known


# Parts a viewer fetches to catch up when a playlist shows it behind (hls.js loads every part
# in order, from its buffer's end); beyond that it jumps to the live edge, as hls.js's
# live-sync does, and the parts in between are missed.
CATCH_UP = 8


@dataclass
class Tally:
    """What one worker's viewers did within the measured window [start, end)."""

    start: float
    end: float
    playlist_requests: int = 0
    part_requests: int = 0
    errors: int = 0
    missed: int = 0  # parts a viewer never had: it fell so far behind that it jumped ahead
    joined: int = 0  # viewers that got their first playlist
    received: list[tuple[int, float]] = field(default_factory=list)  # (part, when whole)
    # ``received`` from ``start`` on, with no end: the caller keeps the parts it listed within
    loop_lag: list[float] = field(default_factory=list)  # seconds, sampled every 50 ms

    def counts(self, when: float) -> bool:
        return self.start <= when < self.end


async def ll_viewer(
    host: str, port: int, path: str, join: float, tally: Tally, versions: Versions
) -> None:
    """One LL-HLS viewer as hls.js is in low-latency mode (RFC 8216bis, 6.2.5.2 and 4.4.5.3):
    the live playlist, then again and again the blocking reload for the next part together
    with the preload-hinted part, until ``tally.end``. A playlist that lists parts it has not
    had yet (it fell behind) has them fetched first, in order."""
    await asyncio.sleep(max(0.0, join - time.monotonic()))
    base = path.rsplit("/", 1)[0].encode() + b"/"
    playlist = path.encode()
    lists: HttpConnection | None = None
    parts: HttpConnection | None = None
    wanted = -1  # the next part this viewer needs

    async def fetch_part(uri: bytes, number: int) -> None:
        assert parts is not None
        try:
            status, _, done = await parts.get(base + uri)
        except ConnectionError:  # the viewer's loop sees it too and starts again
            return
        if status == 200 and done >= tally.start:
            # Also after the window: a part listed just before its end comes just after.
            tally.received.append((number, done))
        if tally.counts(done):
            tally.part_requests += 1
            tally.errors += status != 200

    joined = False
    while time.monotonic() < tally.end:
        try:
            # A player whose connection failed opens another and starts from the live edge.
            lists, parts = await connect(host, port), await connect(host, port)
            status, body, done = await lists.get(playlist)
            while status != 200 and time.monotonic() < tally.end:
                await asyncio.sleep(0.2)
                status, body, done = await lists.get(playlist)
            if not joined and status == 200:
                tally.joined += 1
                joined = True
            wanted = -1
            while time.monotonic() < tally.end:
                version = versions(body)
                behind = [(n, uri) for n, uri in version.parts if n >= wanted]
                if wanted < 0 or (behind and behind[0][0] > wanted):
                    # Starting, or so far behind that the part it needs left the newest
                    # listed: to the live edge.
                    if wanted >= 0 and tally.counts(done):
                        tally.missed += version.hinted - wanted
                    wanted, behind = version.hinted, []
                for number, uri in behind:
                    await fetch_part(uri, number)
                fetching = None
                if version.hint is not None:
                    fetching = asyncio.ensure_future(fetch_part(version.hint, version.hinted))
                status, answer, done = await lists.get(playlist + version.query)
                if tally.counts(done):
                    tally.playlist_requests += 1
                    tally.errors += status != 200
                if status == 200:
                    body = answer
                else:  # a 503 (the part did not come) or 404: again from the live edge
                    await asyncio.sleep(0.1)
                    status, answer, done = await lists.get(playlist)
                    body = answer if status == 200 else body
                if fetching is not None:
                    await fetching
                    wanted = version.hinted + 1
        except (ConnectionError, OSError):
            if tally.counts(time.monotonic()):
                tally.errors += 1
            await asyncio.sleep(0.2)
        finally:
            for connection in (lists, parts):
                if connection is not None:
                    connection.close()
            lists = parts = None


async def _loop_lag(tally: Tally, every: float = 0.05) -> None:
    """How late this event loop wakes a timer: its own saturation, in the figures."""
    while True:
        planned = time.monotonic() + every
        await asyncio.sleep(every)
        now = time.monotonic()
        if tally.counts(now):
            tally.loop_lag.append(now - planned)


async def _worker_async(spec: dict[str, Any]) -> dict[str, Any]:
    tally = Tally(start=spec["start"], end=spec["end"])
    lag = asyncio.ensure_future(_loop_lag(tally))
    versions = Versions()  # shared by the process's viewers
    await asyncio.gather(
        *(
            ll_viewer(spec["host"], spec["port"], spec["path"], join, tally, versions)
            for join in spec["joins"]
        )
    )
    lag.cancel()
    # Alive a while after the window, so that the caller reads its CPU from /proc at the end.
    await asyncio.sleep(max(0.0, tally.end + 1.0 - time.monotonic()))
    return {
        "playlist_requests": tally.playlist_requests,
        "part_requests": tally.part_requests,
        "errors": tally.errors,
        "missed": tally.missed,
        "joined": tally.joined,
        "received": tally.received,
        "loop_lag": tally.loop_lag,
    }


def worker_main() -> None:
    """A load worker: its spec as JSON on stdin, its tally as JSON on stdout."""
    spec = json.loads(sys.stdin.read())
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])  # before the loop makes any thread
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # two sockets per viewer
    try:
        import uvloop

        result = uvloop.run(_worker_async(spec))
    except ImportError:
        result = asyncio.run(_worker_async(spec))
    # The event loop may leave standard output non-blocking: a report larger than the pipe
    # (a busy step's samples) would then be cut where the pipe was full.
    os.set_blocking(sys.stdout.fileno(), True)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


def process_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (/proc/PID/stat, in clock ticks), every thread."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / tick


@dataclass
class Load:
    """What the viewers of one step saw and what they cost, merged over the workers."""

    viewers: int
    seconds: float
    playlist_requests: int
    part_requests: int
    errors: int
    missed: int
    joined: int
    received: list[tuple[int, float]]
    loop_lag: list[float]  # every worker's samples, seconds
    cpu: float  # the workers' CPU seconds within the window
    cpus: int  # cores the workers may run on

    @property
    def requests(self) -> int:
        return self.playlist_requests + self.part_requests

    @property
    def busy(self) -> float:
        """The share of their cores the workers used (1.0: all of it)."""
        return self.cpu / (self.seconds * self.cpus)


async def run_load(
    url: str,
    viewers: int,
    *,
    processes: int,
    cpus: set[int] | None,
    start: float,
    end: float,
    joins_from: float,
) -> Load:
    """``viewers`` LL-HLS viewers of the playlist ``url`` in ``processes`` worker processes
    (pinned to ``cpus``), joining one after another from ``joins_from`` to ``start`` and
    counted from ``start`` to ``end`` (time.monotonic()); returns once they are done."""
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname is not None and parsed.port is not None
    joins = [joins_from + (start - joins_from) * i / max(1, viewers) for i in range(viewers)]
    workers = []
    for w in range(processes):
        spec = {
            "host": parsed.hostname, "port": parsed.port, "path": parsed.path,
            "joins": joins[w::processes], "start": start, "end": end,
            "cpus": sorted(cpus) if cpus else None,
        }  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.harness.ll_viewers", "--worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        workers.append(proc)
    pids = [p.pid for p in workers]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu_before = process_cpu_seconds(pids)
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu = process_cpu_seconds(pids) - cpu_before
    results = []
    for proc in workers:
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a load worker exited with {proc.returncode}")
        results.append(json.loads(out))
    return Load(
        viewers=viewers,
        seconds=end - start,
        playlist_requests=sum(r["playlist_requests"] for r in results),
        part_requests=sum(r["part_requests"] for r in results),
        errors=sum(r["errors"] for r in results),
        missed=sum(r["missed"] for r in results),
        joined=sum(r["joined"] for r in results),
        received=[(n, t) for r in results for n, t in r["received"]],
        loop_lag=[v for r in results for v in r["loop_lag"]],
        cpu=cpu,
        cpus=len(cpus) if cpus else os.cpu_count() or 1,
    )


async def listings(url: str, until: float, listed: dict[int, float], tally: Tally) -> None:
    """Follow golive itself with blocking reloads on a connection of its own until ``until``,
    noting in ``listed`` when each part was first listed; its requests and its own event
    loop's lag within the window go to ``tally``."""
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname is not None and parsed.port is not None
    path = parsed.path.encode()
    connection = await connect(parsed.hostname, parsed.port)
    watch = asyncio.ensure_future(_loop_lag(tally))
    try:
        status, body, done = await connection.get(path)
        while time.monotonic() < until:
            tally.playlist_requests += tally.counts(done)
            query = b""
            if status == 200:
                text = body.decode()
                pl = playlist_parser.parse_media(text)
                for part in [p for s in pl.segments for p in s.parts] + list(pl.trailing_parts):
                    listed.setdefault(_part_number(part.uri), done)
                query = _next(text)[0].encode()
            else:
                await asyncio.sleep(0.1)
            status, body, done = await connection.get(path + query)
    finally:
        watch.cancel()
        connection.close()


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
    if sys.argv[1:] == ["--worker"]:
        worker_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--edges", default="direct,nginx,nginx-nolock,varnish")
    args = parser.parse_args()
    asyncio.run(main_async(args.viewers, args.seconds, args.edges.split(",")))


if __name__ == "__main__":
    main()
