#!/usr/bin/env python3
"""Soak test: golive under a steady mixed load for a bounded time, failing on upward trends.

`golive serve` (--open-publish, --no-transcode, on loopback ports) is driven for ``--minutes``
(10 by default; hours work) by:

- publishers: ``--publishers`` ffmpeg processes (-re -stream_loop -1 -c copy of a 10 s
  320x240 H.264+AAC sample) to rooms soak0, soak1, ...; each stops and publishes again every
  ``--reconnect`` seconds (staggered), as a streamer whose encoder restarts;
- a publisher whose RTMP timestamps wrap: the same sample's FLV tags sent in real time by the
  harness's RTMP client to the room "wrap", every session starting ``--wrap-lead`` seconds
  before 2^32 ms, so the 32-bit timestamp wraps once per session (RTMP 1.0, 5.3.1);
- ``--viewers`` LL-HLS viewers (aiohttp) spread over the rooms, each doing what hls.js does: a
  blocking playlist reload for the next part (_HLS_msn, _HLS_part; RFC 8216bis, 6.2.5.2), then
  a fetch of every newly listed part; after an ended or missing playlist, they start over;
- abusive RTMP connections (``--abusers`` of each kind): connect and send nothing; handshake
  and ``connect``, then silence; handshake, ``connect`` and a flood of 5-byte messages (one
  type-0 header, then type-3 chunks that each start a 4-byte Acknowledgement) at
  ``--flood-rate`` bytes/s; handshake then random bytes. Each expects the server to close it
  (timeouts, protocol errors, limits on unpublished connections) and comes back after a
  backoff (1 s, doubled after every connection that lasted under 5 s, at most 30 s);
- a health probe: GET /api/health twice a second.

Everything targets 127.0.0.1. Every ``--interval`` seconds (by default a thirtieth of the run,
at least 5 s) a row is printed: golive's RSS (VmRSS of /proc/PID/status), open file
descriptors (entries of /proc/PID/fd) and CPU use (% of one core); the parts the viewers
fetched; part-delivery lateness (time from the blocking reload's answer listing a part to the
part's last byte, p50 and p95); the blocking reload's answer delay (p50; mostly the wait for
the part itself); /api/health latency; the errors and reconnections of the interval.

The rule: a series trends upwards when the median of its last third of samples exceeds the
median of its middle third by more than a tolerance, ``median(last) > median(middle) *
(1 + rel) + abs``. The first third is left out: it holds the warm-up (playlist windows
filling, Python's allocator growing its pools). Medians of thirds ignore a single bad sample
(a reconnect, a busy neighbour on the machine) and see a steady climb. Tolerances: RSS 5 % +
8 MiB; open descriptors 4 + 2 per abusive connection and publisher (those come and go); part
lateness p50 50 % + 10 ms and p95 100 % + 25 ms (wide: the machine's other work and this
script's own clients show in them; a slowdown that builds up over a run still stands out).
The run fails (exit 1) if any series trends upwards, if golive exits or does not stop cleanly
on SIGTERM, if the viewers fetched no part in the last third, or if a room's target duration
went over 5 s (a reconnect or the wrap broke its timeline).

    .venv/bin/python scripts/soak.py [--minutes 10] [--viewers 30] [--publishers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golive.hls.playlist import MediaPlaylist  # noqa: E402
from golive.hls.playlist_parser import parse_media  # noqa: E402
from golive.rtmp.chunk import ChunkWriter  # noqa: E402
from tests.harness.golive import start_golive  # noqa: E402
from tests.harness.processes import Server, cpu_seconds  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.rtmp_client import TestPublisher  # noqa: E402
from tests.harness.samples import sample  # noqa: E402

WRAP = 1 << 32  # RTMP timestamps are 32-bit milliseconds
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds an abusive client waits before coming back
HELD_LONG = 5.0  # seconds: a connection held this long resets the backoff
# Seconds: a longer EXT-X-TARGETDURATION means a reconnect or a wrap broke a room's timeline
# (golive cuts segments at the first keyframe after 2 s; the samples have one every second).
MAX_TARGET = 5


class Tolerance(NamedTuple):
    rel: float
    abs: float


@dataclass
class Stats:
    """What happened since the last sample; the sampler takes and resets the lists."""

    lateness: list[float] = field(default_factory=list)  # ms, part listed -> part fetched
    answers: list[float] = field(default_factory=list)  # ms, blocking reload answer delay
    health: list[float] = field(default_factory=list)  # ms
    viewer_errors: Counter[str] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)  # publisher sessions, by outcome
    abuse: Counter[str] = field(default_factory=Counter)  # "kind outcome" -> connections
    room_parts: Counter[str] = field(default_factory=Counter)  # parts fetched, by room
    targets: dict[str, int] = field(default_factory=dict)  # longest EXT-X-TARGETDURATION seen

    def add(self, other: Stats) -> None:
        """Count ``other``'s totals in this one's (the lists are left alone)."""
        self.viewer_errors += other.viewer_errors
        self.sessions += other.sessions
        self.abuse += other.abuse
        self.room_parts += other.room_parts
        for room, target in other.targets.items():
            self.targets[room] = max(target, self.targets.get(room, 0))

    def take(self) -> Stats:
        """What happened so far; this object starts a fresh interval (the tasks keep it)."""
        taken = copy.copy(self)
        for f in dataclasses.fields(self):
            setattr(self, f.name, type(getattr(self, f.name))())
        return taken


class Sample(NamedTuple):
    t: float
    rss_mib: float
    fds: int
    cpu: float  # golive's CPU use over the interval, in % of one core
    parts: int
    late_p50: float
    late_p95: float
    answer_p50: float
    health_p50: float
    health_max: float
    errors: int
    sessions: int
    abuse_closed: int


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def rss_and_fds(pid: int) -> tuple[float, int]:
    """VmRSS in MiB and the number of open file descriptors of the process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def trend(values: list[float], tolerance: Tolerance) -> tuple[bool, float, float]:
    """(upwards, median of the middle third, median of the last third), NaNs left out."""
    n = len(values)
    middle = [v for v in values[n // 3 : 2 * n // 3] if not math.isnan(v)]
    last = [v for v in values[2 * n // 3 :] if not math.isnan(v)]
    if not middle or not last:
        return False, math.nan, math.nan
    m, lt = statistics.median(middle), statistics.median(last)
    return lt > m * (1 + tolerance.rel) + tolerance.abs, m, lt


# --- publishers ------------------------------------------------------------------------------


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def ffmpeg_sessions(
    golive: Server,
    source: Path,
    room: str,
    first: float,
    every: float,
    stop_at: float,
    stats: Stats,
    log: Path,
) -> None:
    """Publish ``room`` in sessions of ``every`` seconds (the first ``first``), with a pause
    of a second in between, until ``stop_at``."""
    length = first
    while time.monotonic() < stop_at - 2:
        cmd = ffmpeg_publisher(
            source,
            f"{golive.rtmp}/{room}",
            realtime=True,
            loop=True,
            nostdin=True,
            ffmpeg=shutil.which("ffmpeg") or "ffmpeg",
        )
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        try:
            end = min(time.monotonic() + length, stop_at)
            await asyncio.wait_for(proc.wait(), max(0.0, end - time.monotonic()))
            stats.sessions["failed"] += 1  # it ended on its own: refused or cut off
            await asyncio.sleep(2.0)
        except TimeoutError:
            stats.sessions["completed"] += 1
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        length = every
        await asyncio.sleep(1.0)


class FlvTag(NamedTuple):
    type_id: int  # 8 audio, 9 video
    timestamp: int  # ms from the file's start
    body: bytes


def flv_tags(path: Path) -> Iterator[FlvTag]:
    """The audio and video tags of an FLV file (FLV 10.1, E.4): the RTMP message bodies."""
    data = path.read_bytes()
    pos = int.from_bytes(data[5:9], "big") + 4  # header, then PreviousTagSize0
    while pos + 11 <= len(data):
        type_id = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | data[pos + 7] << 24
        body = data[pos + 11 : pos + 11 + size]
        if type_id in (8, 9):
            yield FlvTag(type_id, ts, body)
        pos += 11 + size + 4


def packet_type(tag: FlvTag) -> int:
    """AVCPacketType or AACPacketType (FLV 10.1, E.4.2.1 and E.4.3.1): 0 is the sequence
    header (the codec configuration, sent once per session), 2 an AVC end of sequence."""
    return tag.body[1] if len(tag.body) > 1 else -1


def loop_length(media: list[FlvTag]) -> int:
    """Milliseconds from the file's start to a frame after its last video frame: where the
    next loop starts, so the loop adds no gap that would lengthen a segment (audio past it,
    the encoder's padding, is left out)."""
    video = [t.timestamp for t in media if t.type_id == 9]
    step = (video[-1] - video[0]) / max(1, len(video) - 1)
    return round(video[-1] + step)


async def wrap_session(golive: Server, tags: list[FlvTag], lead_ms: int, end: float) -> None:
    """One publish of room "wrap" until ``end``: the file's tags in a loop, in real time, at
    timestamps starting ``lead_ms`` before 2^32 and sent modulo 2^32."""
    client = await connected(golive.rtmp_port)
    drain: asyncio.Task[bytes] | None = None
    try:
        await client.publish("wrap")
        await client.expect_status("NetStream.Publish.Start")
        drain = asyncio.create_task(client.reader.read(-1))  # the server says little; keep reading
        chunk_size = 4096
        await client.send(1, chunk_size.to_bytes(4, "big"))  # Set Chunk Size
        client.out.chunk_size = chunk_size
        headers = [t for t in tags if packet_type(t) == 0]
        media = [t for t in tags if packet_type(t) == 1]
        loop_ms = loop_length(media)
        media = [t for t in media if t.timestamp < loop_ms]
        base = WRAP - lead_ms
        start = time.monotonic()
        for tag in headers:
            await client.send(tag.type_id, tag.body, base % WRAP, stream_id=1, csid=4)
        for round_ in range(1_000_000):
            for tag in media:
                at = round_ * loop_ms + tag.timestamp
                if start + at / 1000 > end:
                    return
                await sleep_until(start + at / 1000)
                if drain.done():
                    raise ConnectionError("the server closed the wrapping publisher")
                csid = 4 if tag.type_id == 8 else 6
                await client.send(tag.type_id, tag.body, (base + at) % WRAP, stream_id=1, csid=csid)
    finally:
        if drain is not None:
            drain.cancel()
        client.close()


async def wrap_sessions(
    golive: Server,
    source: Path,
    lead: float,
    first: float,
    every: float,
    stop_at: float,
    stats: Stats,
) -> None:
    tags = list(flv_tags(source))
    length = first
    while time.monotonic() < stop_at - 2:
        end = min(time.monotonic() + length, stop_at)
        try:
            await wrap_session(golive, tags, round(lead * 1000), end)
            stats.sessions["completed"] += 1
        except (OSError, EOFError, AssertionError, TimeoutError):
            stats.sessions["failed"] += 1
            await asyncio.sleep(2.0)
        length = every
        await asyncio.sleep(1.0)


async def connected(port: int) -> TestPublisher:
    """The harness's RTMP client after its handshake and ``connect``."""
    client = await TestPublisher.connect(port)
    TestPublisher.opened.remove(client)  # the list is for tests; a soak would grow it for ever
    return client


# --- viewers ---------------------------------------------------------------------------------


def listed(pl: MediaPlaylist) -> tuple[list[tuple[int, int, str]], set[int]]:
    """(msn, part index, uri) of every listed part, and the msns of complete segments."""
    parts = [(s.msn, i, p.uri) for s in pl.segments for i, p in enumerate(s.parts)]
    trailing = pl.segments[-1].msn + 1 if pl.segments else pl.media_sequence
    parts += [(trailing, i, p.uri) for i, p in enumerate(pl.trailing_parts)]
    return parts, {s.msn for s in pl.segments}


async def follow(session: aiohttp.ClientSession, room: str, stats: Stats, stop_at: float) -> None:
    """Follow the room part by part until its playlist ends or goes away."""
    base = f"{room}/source/"
    async with session.get(base + "index.m3u8") as response:
        if response.status != 200:
            stats.viewer_errors[f"playlist {response.status}"] += 1
            return
        text = await response.text()
    pl = parse_media(text)
    parts, complete = listed(pl)
    # The last part seen; before the first one, the one before part 0 of the first segment.
    last = parts[-1][:2] if parts else (pl.media_sequence, -1)
    while not pl.ended and time.monotonic() < stop_at:
        msn, index = last
        want = (msn + 1, 0) if msn in complete else (msn, index + 1)
        query = {"_HLS_msn": str(want[0]), "_HLS_part": str(want[1])}
        asked = time.monotonic()
        async with session.get(base + "index.m3u8", params=query) as response:
            if response.status != 200:
                stats.viewer_errors[f"reload {response.status}"] += 1
                return
            text = await response.text()
        answered = time.monotonic()
        stats.answers.append((answered - asked) * 1000)
        pl = parse_media(text)
        stats.targets[room] = max(pl.target_duration, stats.targets.get(room, 0))
        parts, complete = listed(pl)
        for msn, index, uri in parts:
            if (msn, index) <= last:
                continue
            async with session.get(base + uri) as response:
                if response.status != 200:
                    stats.viewer_errors[f"part {response.status}"] += 1
                    return
                await response.read()
            stats.lateness.append((time.monotonic() - answered) * 1000)
            stats.room_parts[room] += 1
            last = (msn, index)


async def viewer(http: str, room: str, number: int, stats: Stats, stop_at: float) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"User-Agent": f"golive-soak-viewer/{number}"}
    async with aiohttp.ClientSession(f"{http}/hls/", timeout=timeout, headers=headers) as session:
        while time.monotonic() < stop_at:
            try:
                await follow(session, room, stats, stop_at)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                stats.viewer_errors[type(exc).__name__] += 1
            await asyncio.sleep(0.5)  # ended, gone or refused: look again shortly


async def health_probe(http: str, stats: Stats, stop_at: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while time.monotonic() < stop_at:
            asked = time.monotonic()
            try:
                async with session.get(f"{http}/api/health") as response:
                    await response.read()
                stats.health.append((time.monotonic() - asked) * 1000)
            except (aiohttp.ClientError, TimeoutError):
                stats.viewer_errors["health"] += 1
            await asyncio.sleep(0.5)


# --- abusive connections ---------------------------------------------------------------------


async def until_closed(reader: asyncio.StreamReader, stop_at: float) -> str:
    """Read and drop until the server closes; "stopped" when the run ends first."""
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), max(0.1, stop_at - time.monotonic()))
        except TimeoutError:
            return "stopped"
        if not data:
            return "closed"


async def squat(port: int, stop_at: float) -> str:
    """Connect and send nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await until_closed(reader, stop_at)
    finally:
        writer.close()


async def connect_and_idle(port: int, stop_at: float) -> str:
    """Handshake and ``connect``, then silence."""
    client = await connected(port)
    try:
        return await until_closed(client.reader, stop_at)
    finally:
        client.close()


async def tiny_flood(port: int, stop_at: float, rate: int) -> str:
    """Handshake and ``connect``, then 5-byte messages at ``rate`` bytes/s."""
    client = await connected(port)
    closed = asyncio.create_task(until_closed(client.reader, stop_at))
    try:
        # A type-0 header for a 4-byte Acknowledgement on chunk stream 5; every type-3 chunk
        # after it (one byte of header, four of body) is a whole new message.
        client.writer.write(ChunkWriter().write(5, 0, 3, 0, bytes(4)))
        batch = b"\xc5\x00\x00\x00\x00" * max(1, rate // 20 // 5)
        while not closed.done():
            client.writer.write(batch)
            await client.writer.drain()
            await asyncio.sleep(0.05)
        return closed.result()
    finally:
        closed.cancel()
        client.close()


async def garbage(port: int, stop_at: float) -> str:
    """A complete handshake, then random bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x03" + bytes(8) + os.urandom(1528))
        s0s1s2 = await reader.readexactly(1 + 1536 * 2)
        writer.write(s0s1s2[1 : 1 + 1536] + os.urandom(4096))
        await writer.drain()
        return await until_closed(reader, stop_at)
    finally:
        writer.close()


async def abuser(
    kind: str, attack: Callable[[float], Coroutine[Any, Any, str]], stats: Stats, stop_at: float
) -> None:
    """Attack again and again, politely: a connection the server cut short is retried after
    a backoff that doubles, one held for a while resets it."""
    backoff = BACKOFF_FIRST
    while time.monotonic() < stop_at:
        began = time.monotonic()
        try:
            outcome = await attack(stop_at)
        except (OSError, EOFError, asyncio.IncompleteReadError, AssertionError, TimeoutError):
            outcome = "reset"  # reset, refused, or cut short during the handshake or connect
        stats.abuse[f"{kind} {outcome}"] += 1
        held = time.monotonic() - began
        backoff = BACKOFF_FIRST if held >= HELD_LONG else min(backoff * 2, BACKOFF_MAX)
        await asyncio.sleep(min(backoff, max(0.0, stop_at - time.monotonic())))


# --- the run ---------------------------------------------------------------------------------


# The table's columns, one per field of Sample: title, unit, width, format.
COLUMNS = (
    ("t", "s", 6, ".0f"),
    ("RSS", "MiB", 7, ".1f"),
    ("fds", "", 5, "d"),
    ("cpu", "%", 5, ".0f"),
    ("parts", "", 6, "d"),
    ("late50", "ms", 7, ".1f"),
    ("late95", "ms", 7, ".1f"),
    ("answer50", "ms", 9, ".1f"),
    ("health50", "ms", 9, ".1f"),
    ("healthmax", "ms", 10, ".1f"),
    ("errors", "", 7, "d"),
    ("pubs", "", 5, "d"),
    ("abuse", "", 6, "d"),
)


def header() -> str:
    titles = " ".join(f"{title:>{width}}" for title, _, width, _ in COLUMNS)
    units = " ".join(f"{f'({unit})' if unit else '':>{width}}" for _, unit, width, _ in COLUMNS)
    return f"{titles}\n{units}"


def row(s: Sample) -> str:
    return " ".join(
        f"{value:{width}{fmt}}" for value, (_, _, width, fmt) in zip(s, COLUMNS, strict=True)
    )


async def sampler(
    golive: Server, stats: Stats, totals: Stats, began: float, interval: float, stop_at: float
) -> list[Sample]:
    """A row every ``interval`` seconds until ``stop_at``; the intervals' counts go to
    ``totals``."""
    samples: list[Sample] = []
    print(header(), flush=True)
    cpu_before, at = cpu_seconds([golive.pid]), time.monotonic()
    while time.monotonic() < stop_at - interval / 2:
        await sleep_until(began + (len(samples) + 1) * interval)
        golive.check()
        rss, fds = rss_and_fds(golive.pid)
        cpu, now = cpu_seconds([golive.pid]), time.monotonic()
        got = stats.take()
        s = Sample(
            now - began,
            rss,
            fds,
            (cpu - cpu_before) / (now - at) * 100,
            len(got.lateness),
            percentile(got.lateness, 50),
            percentile(got.lateness, 95),
            percentile(got.answers, 50),
            percentile(got.health, 50),
            max(got.health, default=math.nan),
            sum(got.viewer_errors.values()),
            sum(got.sessions.values()),
            sum(got.abuse.values()),
        )
        cpu_before, at = cpu, now
        samples.append(s)
        print(row(s), flush=True)
        totals.add(got)
    return samples


async def drive(
    golive: Server, args: argparse.Namespace, source: Path
) -> tuple[list[Sample], dict[str, int]]:
    """Run the load for ``--minutes``; the samples, and the longest target duration seen in
    each room."""
    total = args.minutes * 60
    interval = args.interval or max(5.0, total / 30)
    reconnect = min(args.reconnect, total / 3)
    began = time.monotonic()
    stop_at = began + total
    stats = Stats()
    rooms = [f"soak{i}" for i in range(args.publishers)] + ["wrap"]
    log = Path(golive.log).parent / "ffmpeg.log" if golive.log else Path(os.devnull)
    tasks: list[asyncio.Task[Any]] = []
    # Staggered: the publishers' first sessions end at different times, then every
    # `reconnect` seconds.
    firsts = [reconnect * (i + 1) / len(rooms) for i in range(len(rooms))]
    for i, room in enumerate(rooms[:-1]):
        tasks.append(
            asyncio.create_task(
                ffmpeg_sessions(golive, source, room, firsts[i], reconnect, stop_at, stats, log)
            )
        )
    tasks.append(
        asyncio.create_task(
            wrap_sessions(golive, source, args.wrap_lead, firsts[-1], reconnect, stop_at, stats)
        )
    )
    port = golive.rtmp_port
    attacks: dict[str, Callable[[float], Coroutine[Any, Any, str]]] = {
        "squat": lambda stop: squat(port, stop),
        "connect-idle": lambda stop: connect_and_idle(port, stop),
        "flood": lambda stop: tiny_flood(port, stop, args.flood_rate),
        "garbage": lambda stop: garbage(port, stop),
    }
    for kind, attack in attacks.items():
        tasks += [
            asyncio.create_task(abuser(kind, attack, stats, stop_at)) for _ in range(args.abusers)
        ]
    for i in range(args.viewers):
        tasks.append(
            asyncio.create_task(viewer(golive.http, rooms[i % len(rooms)], i, stats, stop_at))
        )
    tasks.append(asyncio.create_task(health_probe(golive.http, stats, stop_at)))
    totals = Stats()
    try:
        samples = await sampler(golive, stats, totals, began, interval, stop_at)
        # Every task ends by itself at stop_at; what they count on the way out is reported.
        await asyncio.wait(tasks, timeout=10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    totals.add(stats)
    print("viewer errors:", dict(totals.viewer_errors) or "none")
    print("parts fetched by room:", dict(sorted(totals.room_parts.items())))
    print("longest target duration by room (s):", dict(sorted(totals.targets.items())))
    print("publisher sessions:", dict(totals.sessions))
    print("abusive connections, by how they ended:", dict(sorted(totals.abuse.items())))
    return samples, totals.targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between samples")
    parser.add_argument("--publishers", type=int, default=3, help="ffmpeg publishers")
    parser.add_argument("--viewers", type=int, default=30)
    parser.add_argument("--abusers", type=int, default=1, help="connections of each kind")
    parser.add_argument("--flood-rate", type=int, default=20_000, help="bytes/s of 5-byte messages")
    parser.add_argument("--reconnect", type=float, default=180.0, help="seconds per publish")
    parser.add_argument(
        "--wrap-lead",
        type=float,
        default=15.0,
        help="seconds of a wrapping session before its timestamps wrap",
    )
    parser.add_argument("--keep", action="store_true", help="keep golive's data and logs")
    args = parser.parse_args()
    if not 1 <= args.minutes <= 24 * 60:
        raise SystemExit("--minutes must be 1 to 1440")
    if args.interval and args.interval * 6 > args.minutes * 60:
        raise SystemExit("--interval must leave at least 6 samples")
    if not (1 <= args.publishers <= 50 and 1 <= args.viewers <= 500 and 0 <= args.abusers <= 50):
        raise SystemExit("--publishers 1-50, --viewers 1-500, --abusers 0-50")
    source = sample(duration=10, size="320x240", fps=30, bitrate="400k", gop=1.0, verbose=True)
    workdir = Path(tempfile.mkdtemp(prefix="golive-soak-"))
    print(
        f"soak: {args.minutes:g} min; {args.publishers} ffmpeg publishers and one wrapping its "
        f"timestamps, {args.viewers} LL-HLS viewers, {args.abusers} abusive connection(s) of "
        f"each kind; golive's log in {workdir}",
        flush=True,
    )
    # One process: the figures are those of golive's own process, so all HTTP goes through it.
    golive = start_golive(
        workdir, "--open-publish", "--no-transcode", "--workers", "1", name="golive"
    )
    try:
        samples, targets = asyncio.run(drive(golive, args, source))
    finally:
        code = golive.stop()
    failures = [] if code == 0 else [f"golive exited with {code} on SIGTERM"]
    n_abusive = 4 * args.abusers + args.publishers + 1
    checks = {
        "RSS MiB": ([s.rss_mib for s in samples], Tolerance(0.05, 8.0)),
        "open fds": ([float(s.fds) for s in samples], Tolerance(0.0, 4.0 + 2 * n_abusive)),
        "lateness p50 ms": ([s.late_p50 for s in samples], Tolerance(0.5, 10.0)),
        "lateness p95 ms": ([s.late_p95 for s in samples], Tolerance(1.0, 25.0)),
    }
    for name, (values, tolerance) in checks.items():
        upwards, middle, last = trend(values, tolerance)
        verdict = "UPWARDS" if upwards else "flat"
        print(f"{name:16s} middle third {middle:8.1f}, last third {last:8.1f}: {verdict}")
        if upwards:
            failures.append(f"{name} trends upwards")
    if sum(s.parts for s in samples[2 * len(samples) // 3 :]) == 0:
        failures.append("the viewers fetched no part in the last third")
    long = {room: t for room, t in targets.items() if t > MAX_TARGET}
    if long:
        failures.append(f"target durations over {MAX_TARGET} s (a timeline broken): {long}")
    log = workdir / "golive.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    print(f"golive's log: {text.count(chr(10))} lines, {text.count('Traceback')} tracebacks")
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
