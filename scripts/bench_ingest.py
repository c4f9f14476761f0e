#!/usr/bin/env python3
"""Ingest benchmark: server CPU per stream, golive against nginx-rtmp, the same files.

Two modes, both only on loopback, both printing golive's figure as a ratio against nginx-rtmp
measured in the same run:

- As fast as possible (the default): the 30 s 1080p30 6 Mbps H.264+AAC FLV sent with ffmpeg
  -c copy as fast as the network allows, to golive and to nginx with Debian's
  libnginx-mod-rtmp (HLS on, as deployed, and HLS off, ingest alone), in alternating rounds;
  the median server CPU seconds per stream.
- Live (``--live``, the headline figure): publishers in real time (ffmpeg -re -c copy), as
  encoders send, golive and nginx-rtmp with HLS fed at once, ``--streams`` publishers each
  (the 1080p file for one stream, by default 30 s of 720p30 2.5 Mbps for more). Printed: the
  median CPU seconds per stream and cores per stream of each server, the ratio, and what the
  publishers themselves cost with how busy the machine was, so that publishers starving the
  servers (many ffmpeg processes on few cores) show. Both servers are checked to have written
  or served HLS for every stream.

    .venv/bin/python scripts/bench_ingest.py [--rounds 5]
    .venv/bin/python scripts/bench_ingest.py --live [--streams 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.nginx import (  # noqa: E402
    have_nginx_rtmp,
    hls_directives,
    nginx_conf,
    rtmp_block,
    start_nginx,
)
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.processes import Server, cpu_seconds  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import BENCH_SAMPLE, LIVE_SAMPLE, SampleSpec, bench_sample  # noqa: E402

SAMPLES = {"1080p": BENCH_SAMPLE, "720p": LIVE_SAMPLE}
# Below this share of the machine left idle during a live round, the publishers and the
# servers were competing for the cores, and the servers' figures include waiting for them.
_BUSY_IDLE = 0.10


def start_nginx_rtmp(tmp: Path, hls: bool, connections: int = 256) -> Server | None:
    if not have_nginx_rtmp():
        return None
    port = free_port()
    name = "nginx-rtmp+hls" if hls else "nginx-rtmp"
    prefix = tmp / name
    conf = nginx_conf(
        prefix,
        rtmp_block(port, hls_directives(prefix) if hls else ()),
        worker_connections=connections,
    )
    server = start_nginx(name, prefix, conf, rtmp_port=port)
    server.hls_dir = prefix / "hls" if hls else None
    return server


def publisher(server: Server, key: str, sample: Path, realtime: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ffmpeg_publisher(sample, f"{server.rtmp}/{key}", realtime=realtime, nostdin=True)
    )


def measure(server: Server, key: str, sample: Path) -> float:
    pids = server.pids()
    before = cpu_seconds(pids)
    if publisher(server, key, sample, realtime=False).wait() != 0:
        raise RuntimeError(f"publishing to {server.name} failed")
    # Let the server finish what it buffered (and nginx close its last HLS fragment).
    time.sleep(0.5)
    return cpu_seconds(pids) - before


def machine_times() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far, every core (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / tick, idle / tick


def reap(procs: list[subprocess.Popen[bytes]]) -> float:
    """Wait for every publisher; return their CPU seconds (from the kernel's rusage of each),
    raising if one failed."""
    total = 0.0
    failed = 0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        failed += proc.returncode != 0
        total += usage.ru_utime + usage.ru_stime
    if failed:
        raise RuntimeError(f"{failed} of {len(procs)} real-time publishers failed")
    return total


@dataclass
class LiveRound:
    cpu: dict[str, float]  # server name -> CPU seconds, all its streams
    wall: float  # seconds from the first publisher's start to the last one's end
    publishers: float  # CPU seconds of every publisher
    idle: float  # share of the machine's CPU time left idle meanwhile


def measure_live(servers: list[Server], round_: int, streams: int, sample: Path) -> LiveRound:
    """``streams`` real-time publishers per server, every server at once: the servers' CPU is
    their own, and one round takes the file's duration whatever the number of servers."""
    before = {s.name: cpu_seconds(s.pids()) for s in servers}
    busy0, idle0 = machine_times()
    start = time.monotonic()
    procs = [
        publisher(s, f"r{round_}s{i}", sample, realtime=True)
        for i in range(streams)
        for s in servers
    ]
    publishers = reap(procs)
    wall = time.monotonic() - start
    time.sleep(0.5)
    busy1, idle1 = machine_times()
    cpu = {s.name: cpu_seconds(s.pids()) - before[s.name] for s in servers}
    idle = (idle1 - idle0) / max(busy1 - busy0 + idle1 - idle0, 1e-9)
    return LiveRound(cpu, wall, publishers, idle)


def check_hls(servers: list[Server], keys: list[str]) -> None:
    """Every stream was packaged: nginx-rtmp wrote its fragments, golive serves its playlist
    (an unfair comparison otherwise: nginx-rtmp writes no HLS when its folder is not
    writable, and looks cheap)."""
    for s in servers:
        if s.hls_dir is not None:
            missing = [k for k in keys if not any(s.hls_dir.glob(f"{k}-*.ts"))]
        elif s.http_port:
            missing = [k for k in keys if not _served(f"{s.http}/hls/{k}/source/index.m3u8")]
        else:
            continue
        if missing:
            raise RuntimeError(
                f"{s.name} packaged no HLS for {len(missing)} of {len(keys)} streams "
                f"(first: {missing[0]}): the comparison would be unfair"
            )


def _served(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200 and b"#EXTINF" in response.read())
    except OSError:
        return False


@dataclass
class Results:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def _env(args: argparse.Namespace) -> dict[str, str]:
    """golive packages as nginx-rtmp does, and records nothing, as nginx-rtmp without its
    ``record`` directive; ``--record`` adds golive's recordings (on by default in golive)."""
    # Every publisher comes from 127.0.0.1 here, and all connect within a second: golive's
    # guard against one address holding many connections without publishing
    # (max_unpublished_per_address, 16) would close some of them before they publish, as
    # nginx-rtmp, which has no such guard, never does.
    env = {"GOLIVE_RTMP_MAX_UNPUBLISHED_PER_ADDRESS": str(max(16, 2 * args.streams))}
    if args.record:
        return {**env, "GOLIVE_RECORDINGS_MIN_FREE_BYTES": "0"}
    return {**env, "GOLIVE_RECORDINGS_ENABLED": "false"}


def run_live(args: argparse.Namespace, spec: SampleSpec) -> None:
    sample = bench_sample(spec=spec)
    rounds = args.rounds or 3
    print(
        f"sample: {sample.name}, {sample.stat().st_size / 1e6:.1f} MB; live: {args.streams} "
        f"real-time publisher(s) (ffmpeg -re -c copy) per server, servers fed at once, "
        f"{rounds} rounds"
    )
    results = Results()
    live: list[LiveRound] = []
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = [start_golive(tmp / "golive", *BENCHMARK_ARGS, env=_env(args))]
        nginx = start_nginx_rtmp(tmp, hls=True, connections=max(256, 4 * args.streams))
        if nginx is None:
            print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
        else:
            servers.append(nginx)
        try:
            for s in servers:  # warm-up round, not counted
                measure(s, "warmup", sample)
            check_hls(servers, ["warmup"])
            for r in range(rounds):
                result = measure_live(servers, r, args.streams, sample)
                check_hls(servers, [f"r{r}s{i}" for i in range(args.streams)])
                live.append(result)
                for name, value in result.cpu.items():
                    results.add(name, value / args.streams)
                print(
                    f"round {r + 1}: "
                    + ", ".join(f"{n} {v / args.streams:.4f} s" for n, v in result.cpu.items())
                    + f" per stream; {result.wall:.1f} s; publishers {result.publishers:.1f} "
                    f"CPU-s; machine idle {result.idle:.0%}"
                )
        finally:
            for s in servers:
                s.stop()
    wall = statistics.median(r.wall for r in live)
    med: Callable[[list[float]], float] = statistics.median
    for name, values in results.values.items():
        print(
            f"{name:16s} CPU s/stream: median {med(values):.4f}  "
            f"({med(values) / wall:.4f} cores/stream; rounds: "
            f"{', '.join(f'{v:.4f}' for v in values)})"
        )
    publishers = statistics.median(r.publishers for r in live) / (len(servers) * args.streams)
    idle = min(r.idle for r in live)
    print(
        f"publishers: {publishers:.3f} CPU s/stream ({publishers / wall:.4f} cores each, "
        f"{publishers * len(servers) * args.streams / wall:.2f} cores in all); rounds took "
        f"{wall:.1f} s for {spec.duration:g} s of media; machine idle at least {idle:.0%}"
    )
    cores = publishers * len(servers) * args.streams / wall
    if idle < _BUSY_IDLE or wall > spec.duration * 1.1:
        print(
            f"WARNING: the machine was saturated (the publishers took {cores:.2f} cores of it): "
            "the servers may have waited for the cores, which both pay in the same run"
            + ("; use fewer --streams" if cores > 0.5 else "; something else is running")
        )
    else:
        print("the publishers did not starve the servers: cores were left idle throughout")
    if "nginx-rtmp+hls" in results.values:
        golive = med(results.values["golive"])
        print(f"ratio golive/nginx-rtmp+hls: {golive / med(results.values['nginx-rtmp+hls']):.2f}x")


def run_fast(args: argparse.Namespace) -> None:
    sample = bench_sample()
    rounds = args.rounds or 5
    print(f"sample: {sample.name}, {sample.stat().st_size / 1e6:.1f} MB; as fast as possible")
    results = Results()
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = [start_golive(tmp / "golive", *BENCHMARK_ARGS, env=_env(args))]
        for hls in (True, False):
            nginx = start_nginx_rtmp(tmp, hls)
            if nginx is None:
                print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
                break
            servers.append(nginx)
        try:
            for s in servers:  # warm-up round, not counted
                measure(s, "warmup", sample)
            check_hls(servers, ["warmup"])
            for r in range(rounds):
                order: list[Server] = servers if r % 2 == 0 else servers[::-1]
                for s in order:
                    results.add(s.name, measure(s, f"round{r}", sample))
        finally:
            for s in servers:
                s.stop()
    med: Callable[[list[float]], float] = statistics.median
    for name, values in results.values.items():
        print(
            f"{name:16s} CPU s/stream: median {med(values):.3f}  "
            f"(rounds: {', '.join(f'{v:.3f}' for v in values)})"
        )
    golive = med(results.values["golive"])
    for peer in ("nginx-rtmp+hls", "nginx-rtmp"):
        if peer in results.values:
            print(f"ratio golive/{peer}: {golive / med(results.values[peer]):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx-rtmp ingest CPU")
    parser.add_argument("--rounds", type=int, default=None, help="5, or 3 with --live")
    parser.add_argument(
        "--live",
        "--realtime",
        action="store_true",
        help="publishers in real time (ffmpeg -re), as encoders send, both servers at once",
    )
    parser.add_argument("--streams", type=int, default=1, help="publishers per server (--live)")
    parser.add_argument(
        "--record",
        action="store_true",
        help="golive also records every stream to disk (its default; off here, as nginx-rtmp "
        "records nothing)",
    )
    parser.add_argument(
        "--sample",
        choices=sorted(SAMPLES),
        default=None,
        help="the stream (--live): 1080p30 6 Mbps for one publisher, 720p30 2.5 Mbps for more",
    )
    args = parser.parse_args()
    if args.live:
        name = args.sample or ("1080p" if args.streams == 1 else "720p")
        run_live(args, SAMPLES[name])
    else:
        run_fast(args)


if __name__ == "__main__":
    main()
