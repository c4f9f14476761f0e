#!/usr/bin/env python3
"""Ingest benchmark: server CPU seconds per stream, golive against nginx-rtmp, same file.

Publishes the same 30 s 1080p30 6 Mbps H.264+AAC FLV with ffmpeg -c copy, as fast as the
network allows (default) or at its own pace as an encoder sends it (--realtime, all servers at
once), to golive and to nginx with Debian's libnginx-mod-rtmp (HLS on, as deployed, and HLS
off, ingest alone), in alternating rounds, and prints the median server CPU seconds per stream
and the ratios golive/nginx-rtmp. Only loopback is used.

    .venv/bin/python scripts/bench_ingest.py [--rounds 5] [--realtime]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
from tests.harness.samples import bench_sample  # noqa: E402


def start_nginx_rtmp(tmp: Path, hls: bool) -> Server | None:
    if not have_nginx_rtmp():
        return None
    port = free_port()
    name = "nginx-rtmp+hls" if hls else "nginx-rtmp"
    prefix = tmp / name
    conf = nginx_conf(prefix, rtmp_block(port, hls_directives(prefix) if hls else ()))
    server = start_nginx(name, prefix, conf, rtmp_port=port)
    server.hls_dir = prefix / "hls" if hls else None
    return server


def publisher(server: Server, key: str, sample: Path, realtime: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(ffmpeg_publisher(sample, f"{server.rtmp}/{key}", realtime=realtime))


def measure(server: Server, key: str, sample: Path) -> float:
    pids = server.pids()
    before = cpu_seconds(pids)
    if publisher(server, key, sample, realtime=False).wait() != 0:
        raise RuntimeError(f"publishing to {server.name} failed")
    # Let the server finish what it buffered (and nginx close its last HLS fragment).
    time.sleep(0.5)
    return cpu_seconds(pids) - before


def measure_realtime(servers: list[Server], key: str, sample: Path) -> dict[str, float]:
    """One real-time publisher per server, all at once: 30 s per round instead of 30 s per
    server, and each server's CPU is its own."""
    before = {s.name: cpu_seconds(s.pids()) for s in servers}
    procs = [publisher(s, key, sample, realtime=True) for s in servers]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("a real-time publisher failed")
    time.sleep(0.5)
    return {s.name: cpu_seconds(s.pids()) - before[s.name] for s in servers}


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx-rtmp ingest CPU")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="publish at the stream's own pace (ffmpeg -re), as encoders do, all servers at once",
    )
    args = parser.parse_args()
    sample = bench_sample()
    mode = "real time (-re), servers in parallel" if args.realtime else "as fast as possible"
    print(f"sample: {sample.name}, {sample.stat().st_size / 1e6:.1f} MB; publishing {mode}")
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = [start_golive(tmp / "golive", *BENCHMARK_ARGS)]
        for hls in (True, False):
            nginx = start_nginx_rtmp(tmp, hls)
            if nginx is None:
                print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
                break
            servers.append(nginx)
        results: dict[str, list[float]] = {s.name: [] for s in servers}
        try:
            for s in servers:  # warm-up round, not counted
                measure(s, "warmup", sample)
                if s.hls_dir is not None and not any(s.hls_dir.glob("*.ts")):
                    raise RuntimeError(f"{s.name} wrote no HLS: the comparison would be unfair")
            for r in range(args.rounds):
                if args.realtime:
                    for name, value in measure_realtime(servers, f"round{r}", sample).items():
                        results[name].append(value)
                    continue
                order: list[Server] = servers if r % 2 == 0 else servers[::-1]
                for s in order:
                    results[s.name].append(measure(s, f"round{r}", sample))
        finally:
            for s in servers:
                s.stop()
    med: Callable[[list[float]], float] = statistics.median
    for name, values in results.items():
        print(
            f"{name:16s} CPU s/stream: median {med(values):.3f}  "
            f"(rounds: {', '.join(f'{v:.3f}' for v in values)})"
        )
    golive = med(results["golive"])
    for peer in ("nginx-rtmp+hls", "nginx-rtmp"):
        if peer in results:
            print(f"ratio golive/{peer}: {golive / med(results[peer]):.2f}x")


if __name__ == "__main__":
    main()
