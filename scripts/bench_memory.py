#!/usr/bin/env python3
"""Memory benchmark: resident memory per live stream, golive against nginx-rtmp with HLS.

Publishes N copies of the same 720p30 2.5 Mbit/s H.264+AAC FLV (made by
tests/harness/samples.py, a keyframe every 2 s) in real time and for ever (ffmpeg -re
-stream_loop -1 -c copy), to golive (the source copy only, as nginx-rtmp packages only that)
and then to nginx with Debian's libnginx-mod-rtmp (HLS on, 2 s fragments, its default 30 s
playlist), waits for the live windows to fill, and prints each server's resident memory (RSS,
every process of it) per stream above its own baseline (the server started, one stream
published and ended before, so that what is loaded once is not counted per stream). Then the
publishers stop: golive's ended rooms stay readable for the linger and are measured too, and
again once the linger is over. Only loopback is used.

golive's window is in memory and nginx-rtmp's on disk (the page cache, which no RSS counts):
the figure is what each process holds. The target is at most 4 MB per 2.5 Mbit/s stream with
golive's default window. `--window 36` adds a round of golive with that window (36 s was the
default before the window was cut to what LL-HLS needs), filled for at least the window and
15 s.

    .venv/bin/python scripts/bench_memory.py [--streams 30] [--fill 30] [--window 36]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golive.hls.playlist_parser import parse_media  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.nginx import (  # noqa: E402
    have_nginx_rtmp,
    hls_directives,
    nginx_conf,
    rtmp_block,
    start_nginx,
)
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.processes import Server, stop_all  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import SampleSpec  # noqa: E402

# 20 s of 720p30 at 2.5 Mbit/s with AAC at 128 kbit/s, a keyframe every 2 s; looped.
SAMPLE = SampleSpec(duration=20, size="1280x720", fps=30, bitrate="2500k", gop=2.0)
TARGET_MB = 4.0  # per 2.5 Mbit/s stream above the baseline, golive's default window
LINGER = 10.0  # seconds golive keeps an ended room here (60 by default): the run stays short
MB = 1e6


def rss(server: Server) -> float:
    """Resident memory of the server's processes, bytes (/proc/PID/status VmRSS)."""
    total = 0
    for pid in server.pids():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def sampled_rss(
    server: Server, seconds: float, between: Callable[[int], object] = lambda i: None
) -> float:
    """The median of one reading a second for ``seconds``; ``between(i)`` after reading i."""
    readings = []
    for i in range(max(1, round(seconds))):
        readings.append(rss(server))
        between(i)
        time.sleep(1.0)
    return statistics.median(readings)


def publish(server: Server, sample: Path, key: str) -> subprocess.Popen[bytes]:
    cmd = ffmpeg_publisher(sample, f"{server.rtmp}/{key}", realtime=True, loop=True, nostdin=True)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def listed_seconds(server: Server, key: str) -> float | None:
    """Seconds of media golive holds for a room: its segments and the parts in progress."""
    url = f"{server.http}/hls/{key}/source/index.m3u8"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            pl = parse_media(response.read().decode())
    except OSError:
        return None
    return sum(s.duration for s in pl.segments) + sum(p.duration for p in pl.trailing_parts)


class Round:
    """One server under N real-time publishers: baseline, live, ended and gone figures."""

    def __init__(self, name: str, server: Server, streams: int) -> None:
        self.name = name
        self.server = server
        self.streams = streams
        self.baseline = self.live = self.ended = self.gone = 0.0
        self.held: list[float] = []  # golive: seconds of media per room, from its playlists

    def per_stream(self, value: float) -> float:
        return (value - self.baseline) / self.streams / MB


def warm_up(server: Server, sample: Path) -> None:
    """One stream published for a few seconds and ended: code loaded on first use (the
    packager, the fMP4 writer, nginx-rtmp's HLS muxer) is not counted per stream."""
    proc = publish(server, sample, "warmup")
    time.sleep(6.0)
    stop_all([proc])
    time.sleep(LINGER + 3.0)


def run(name: str, server: Server, sample: Path, streams: int, fill: float, golive: bool) -> Round:
    result = Round(name, server, streams)
    try:
        warm_up(server, sample)
        result.baseline = sampled_rss(server, 3)
        procs = [publish(server, sample, f"s{i}") for i in range(streams)]
        try:
            time.sleep(fill)
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a publisher to {name} stopped")
            server.check()

            def held(i: int) -> None:
                """Seconds of media a room holds, read from its playlist: one room a second,
                the streams being in step, so that the segment in progress is seen at every
                stage of its growth."""
                if golive and (seconds := listed_seconds(server, f"s{i % streams}")) is not None:
                    result.held.append(seconds)

            result.live = sampled_rss(server, 10, held)
        finally:
            stop_all(procs)
        if golive:
            time.sleep(1.0)
            result.ended = sampled_rss(server, 3)  # every room ended, within the linger
            time.sleep(LINGER + 2.0)
            result.gone = sampled_rss(server, 3)
    finally:
        server.stop()
    return result


def start_nginx_rtmp(tmp: Path) -> Server:
    port = free_port()
    prefix = tmp / "nginx-rtmp"
    conf = nginx_conf(prefix, rtmp_block(port, hls_directives(prefix)))
    server = start_nginx("nginx-rtmp+hls", prefix, conf, rtmp_port=port)
    server.hls_dir = prefix / "hls"
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx-rtmp: memory per live stream")
    parser.add_argument("--streams", type=int, default=30)
    parser.add_argument("--fill", type=float, default=30.0, help="seconds before measuring")
    parser.add_argument(
        "--window", type=float, default=None, help="also measure golive with this window (s)"
    )
    args = parser.parse_args()
    if not 1 <= args.streams <= 200 or not 10 <= args.fill <= 600:
        raise SystemExit("--streams must be 1 to 200 and --fill 10 to 600")
    sample = SAMPLE.make(verbose=True)
    byte_rate = sample.stat().st_size / SAMPLE.duration
    print(
        f"sample: {sample.name}, {byte_rate * 8 / 1e6:.2f} Mbit/s in all; {args.streams} "
        f"streams in real time, measured after {args.fill:g} s"
    )
    env = {"GOLIVE_HLS_LINGER": str(LINGER)}
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # (name, environment, seconds to fill): a longer window fills for longer.
        configs: list[tuple[str, dict[str, str], float]] = [("golive", env, args.fill)]
        if args.window is not None:
            configs.append(
                (
                    f"golive window={args.window:g}",
                    {**env, "GOLIVE_HLS_WINDOW": str(args.window)},
                    max(args.fill, args.window + 15),
                )
            )
        for name, environ, fill in configs:
            server = start_golive(tmp / name.replace(" ", "_"), *BENCHMARK_ARGS, env=environ)
            rounds.append(run(name, server, sample, args.streams, fill, golive=True))
        if have_nginx_rtmp():
            nginx = start_nginx_rtmp(tmp)
            rounds.append(run(nginx.name, nginx, sample, args.streams, args.fill, golive=False))
            if nginx.hls_dir is None or not any(nginx.hls_dir.glob("*.ts")):
                raise RuntimeError("nginx-rtmp wrote no HLS: the comparison would be unfair")
        else:
            print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
    for r in rounds:
        line = (
            f"{r.name:22s} baseline {r.baseline / MB:6.1f} MB, live {r.live / MB:7.1f} MB: "
            f"{r.per_stream(r.live):5.2f} MB per stream"
        )
        if r.held:
            held = statistics.mean(r.held)
            media = held * byte_rate / MB
            line += (
                f" (media held {held:.1f} s = {media:.2f} MB, the rest "
                f"{r.per_stream(r.live) - media:.2f} MB); ended rooms "
                f"{r.per_stream(r.ended):.2f} MB, after the linger {r.per_stream(r.gone):.2f} MB"
            )
        print(line)
    golive = rounds[0].per_stream(rounds[0].live)
    verdict = "met" if golive <= TARGET_MB else "not met"
    print(f"golive per stream: {golive:.2f} MB (target <= {TARGET_MB:g} MB: {verdict})")
    for peer in rounds[1:]:
        print(f"ratio {rounds[0].name}/{peer.name}: {golive / peer.per_stream(peer.live):.1f}x")


if __name__ == "__main__":
    main()
