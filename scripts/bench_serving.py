#!/usr/bin/env python3
"""Serving benchmark: requests per second for LL-HLS parts and segments, golive against nginx.

Measures how many part and segment requests per second golive answers for one stream, against
nginx (the peer) serving the very same bytes as static files. golive runs with
GOLIVE_HLS_LINGER=600 so that an ended stream stays readable; the 30 s 1080p30 6 Mbps
H.264+AAC FLV (made by tests/harness/samples.py) is published to it as fast as possible with
ffmpeg -c copy. The script then reads the media playlist, picks a few parts and segments,
downloads their bytes into a temporary directory laid out with the same paths and serves that
directory with nginx (one worker process, sendfile on, access log off, the same Cache-Control
and CORS headers as golive). wrk (-t1 -c32 -d5s, a Lua script rotating over the URLs) loads
each server in turn, alternating rounds, and the script prints the median requests per second
and the ratios golive/nginx. Both servers are single-process. Only loopback is used.

Target: golive serves at least 0.5x nginx's requests per second.

With ``--scaling`` it measures instead how serving grows with golive's HTTP processes: golive
with ``--workers 1`` and with ``--workers N`` (``--workers``, 2 by default), each fed the same
sample in real time, looped (a live stream), and loaded in turn with wrk on the newest parts
and on blocking playlist reloads (``_HLS_msn``/``_HLS_part``) that name them, picked afresh
before each wrk run so that they exist and stay in the window. It prints the requests per
second of each and the ratio N/1. Target: 2 workers serve at least 1.5x what 1 does.

    .venv/bin/python scripts/bench_serving.py [--rounds 3] [--duration 5] [--connections 32]
    .venv/bin/python scripts/bench_serving.py --scaling [--workers 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golive.hls.playlist_parser import parse_media  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.nginx import http_block, nginx_binary, nginx_conf, start_nginx  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.processes import Server, cpu_seconds  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import bench_sample  # noqa: E402
from tests.harness.samples import sample as make_sample  # noqa: E402

ROOM = "bench"
PARTS = 8  # parts rotated over (from the last complete segments, which keep their parts)
SEGMENTS = 4  # segments rotated over (from the middle of the stream)
MEDIA_CACHE = "public, max-age=3600, immutable"  # what golive sends for parts and segments


def start_static_nginx(tmp: Path, root: Path) -> Server:
    if nginx_binary() is None:
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    port = free_port()
    prefix = tmp / "nginx"
    server = f"""    types {{ video/mp4 m4s mp4; application/vnd.apple.mpegurl m3u8; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            add_header Cache-Control "{MEDIA_CACHE}";
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Expose-Headers "Age, Date";
        }}
    }}
"""
    head = ["sendfile on", "tcp_nopush on", "keepalive_requests 1000000"]
    conf = nginx_conf(prefix, http_block(prefix, server, head), worker_connections=1024)
    return start_nginx("nginx", prefix, conf, http_port=port)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def publish(golive: Server, sample: Path) -> None:
    cmd = ffmpeg_publisher(sample, f"{golive.rtmp}/{ROOM}")
    if subprocess.run(cmd, timeout=120).returncode != 0:
        raise RuntimeError("publishing to golive failed")


def pick_urls(golive: Server) -> tuple[list[str], list[str]]:
    """Paths of parts and segments of the ended stream, read from its media playlist."""
    base = f"/hls/{ROOM}/source/"
    deadline = time.monotonic() + 15
    while True:
        pl = parse_media(fetch(golive.http + base + "index.m3u8").decode())
        if pl.ended:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the playlist did not end after the publisher did")
        time.sleep(0.1)
    complete = list(pl.segments)
    with_parts = [p.uri for s in complete for p in s.parts]
    parts = with_parts[: min(PARTS, len(with_parts))]
    middle = len(complete) // 2 - SEGMENTS // 2
    segments = [s.uri for s in complete[max(0, middle) : max(0, middle) + SEGMENTS]]
    if not parts or not segments:
        raise RuntimeError("the playlist lists no parts or no segments")
    return [base + u for u in parts], [base + u for u in segments]


def mirror(golive: Server, paths: list[str], root: Path) -> dict[str, int]:
    """Download the files into ``root`` under the same paths; return their sizes."""
    sizes = {}
    for path in paths:
        data = fetch(golive.http + path)
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        sizes[path] = len(data)
    # nginx's worker runs as an unprivileged user: let it read the tree.
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)
    root.parent.chmod(0o755)  # the temporary directory is made 0700
    return sizes


def wrk_script(tmp: Path, name: str, paths: list[str]) -> Path:
    script = tmp / f"{name}.lua"
    listed = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"""local paths = {{{listed}}}
local i = 0
request = function()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end
"""
    )
    return script


# wrk's CPU use (cores) in each run: on a 2-core machine the client's share is what caps
# scaling when the answers are large.
WRK_CPU: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    server: Server, script: Path, duration: float, connections: int, threads: int = 1
) -> tuple[float, float]:
    """Requests per second, and the server's CPU use meanwhile (1.0 is one core busy); wrk's
    own, in ``WRK_CPU``."""
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "-s", str(script),
        server.http,
    ]  # fmt: skip
    pids = server.pids()
    cpu_before, wall_before = cpu_seconds(pids), time.monotonic()
    wrk_before = _children_cpu()
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    wall = time.monotonic() - wall_before
    cpu = (cpu_seconds(pids) - cpu_before) / wall
    WRK_CPU.append((_children_cpu() - wrk_before) / wall)
    for bad in ("Non-2xx or 3xx responses", "Socket errors"):
        if bad in out:
            raise RuntimeError(f"wrk against {server.name}: {bad}\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return float(match.group(1)), cpu


def live_urls(server: Server) -> tuple[list[str], list[str]]:
    """The newest parts of the live stream, and the blocking reloads that name them."""
    base = f"/hls/{ROOM}/source/"
    pl = parse_media(fetch(server.http + base + "index.m3u8").decode())
    named = [
        (pl.media_sequence + i, n, part.uri)
        for i, segment in enumerate(pl.segments)
        for n, part in enumerate(segment.parts)
    ]
    msn = pl.media_sequence + len(pl.segments)
    named += [(msn, n, part.uri) for n, part in enumerate(pl.trailing_parts)]
    newest = named[-PARTS:]
    if len(newest) < PARTS:
        raise RuntimeError(f"{server.name} lists {len(newest)} parts")
    parts = [base + uri for _, _, uri in newest]
    reloads = [f"{base}index.m3u8?_HLS_msn={m}&_HLS_part={n}" for m, n, _ in newest]
    return parts, reloads


def per_request(cores: list[float], rates: list[float]) -> float:
    """Microseconds of CPU per request, the median over the rounds."""
    return statistics.median(c / r for c, r in zip(cores, rates, strict=True)) * 1e6


def scaling(args: argparse.Namespace, sample: Path) -> None:
    """golive with 1 HTTP process against golive with ``args.workers``, on a live stream."""
    kinds = ("parts", "blocking reloads")
    results: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    client: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = []
        publishers: list[subprocess.Popen[bytes]] = []
        try:
            for count in (1, args.workers):
                name = f"workers={count}"
                server = start_golive(
                    tmp / name, *BENCHMARK_ARGS, "--workers", str(count), name=name
                )
                servers.append(server)
                cmd = ffmpeg_publisher(sample, f"{server.rtmp}/{ROOM}", realtime=True, loop=True)
                publishers.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
            deadline = time.monotonic() + 30
            for server in servers:  # a few segments listed, each with its parts
                while True:
                    try:
                        live_urls(server)
                        break
                    except (OSError, RuntimeError):
                        if time.monotonic() > deadline:
                            what = f"{server.name}: the stream never went live"
                            raise RuntimeError(what) from None
                        time.sleep(0.5)

            def load(server: Server, kind: str, duration: float) -> tuple[float, float]:
                parts, reloads = live_urls(server)
                script = wrk_script(tmp, "load", parts if kind == "parts" else reloads)
                return run_wrk(server, script, duration, args.connections, args.threads)

            print(
                f"live stream {sample.name}, newest {PARTS} parts; wrk -t{args.threads} "
                f"-c{args.connections} -d{args.duration:g}s, {args.rounds} rounds, alternating"
            )
            for server in servers:  # warm-up (and the workers' caches), not counted
                for kind in kinds:
                    load(server, kind, 1)
            for r in range(args.rounds):
                order = servers if r % 2 == 0 else servers[::-1]
                for kind in kinds:
                    for server in order:
                        rps, busy = load(server, kind, args.duration)
                        results.setdefault((server.name, kind), []).append(rps)
                        cpu.setdefault((server.name, kind), []).append(busy)
                        client.setdefault((server.name, kind), []).append(WRK_CPU[-1])
        finally:
            for proc in publishers:
                proc.terminate()
                proc.wait(10)
            for server in reversed(servers):
                server.stop()
    names = [s.name for s in servers]
    for kind in kinds:
        for name in names:
            values = results[(name, kind)]
            print(
                f"{name:10s} {kind:16s} req/s: median {statistics.median(values):7.0f}  "
                f"(rounds: {', '.join(f'{v:.0f}' for v in values)}); "
                f"server CPU {statistics.median(cpu[(name, kind)]):.2f} cores, "
                f"wrk {statistics.median(client[(name, kind)]):.2f}; per request: server "
                f"{per_request(cpu[(name, kind)], values):.0f} us, "
                f"wrk {per_request(client[(name, kind)], values):.0f} us"
            )
    for kind in kinds:
        many, one = results[(names[1], kind)], results[(names[0], kind)]
        ratio = statistics.median(many) / statistics.median(one)
        # Each round measures both back to back: on a shared machine whose load drifts, the
        # median of the rounds' own ratios is the steadier figure.
        paired = statistics.median(m / o for m, o in zip(many, one, strict=True))
        verdict = "met" if min(ratio, paired) >= 1.5 else "not met"
        print(
            f"ratio {names[1]}/{names[0]} {kind:16s}: {ratio:.2f}x of the medians, "
            f"{paired:.2f}x median of the rounds' ratios  (target >= 1.5x: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx: parts and segments served")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads")
    parser.add_argument(
        "--scaling", action="store_true", help="golive with 1 HTTP process against --workers"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="golive's HTTP processes with --scaling"
    )
    parser.add_argument(
        "--video",
        default="",
        metavar="SIZE:BITRATE",
        help="the sample's video, e.g. 1280x720:2500k (parts of a third of that bitrate's "
        "second); default the benchmarks' 1920x1080:6000k",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 60:
        raise SystemExit("--rounds must be 1 to 20 and --duration 1 to 60")
    if not 1 <= args.threads <= 8 or not 2 <= args.workers <= 64:
        raise SystemExit("--threads must be 1 to 8 and --workers 2 to 64")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.video:
        size, _, bitrate = args.video.partition(":")
        sample = make_sample(duration=30, size=size, fps=30, bitrate=bitrate, gop=2.0)
    else:
        sample = bench_sample()
    if args.scaling:
        scaling(args, sample)
        return
    results: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = []
        try:
            # An ended stream stays readable for the whole run.
            env = {"GOLIVE_HLS_LINGER": "600"}
            golive = start_golive(tmp / "golive", *BENCHMARK_ARGS, env=env)
            servers.append(golive)
            publish(golive, sample)
            parts, segments = pick_urls(golive)
            www = tmp / "www"
            sizes = mirror(golive, parts + segments, www)
            nginx = start_static_nginx(tmp, www)
            servers.append(nginx)
            for path in parts + segments:  # the same bytes from both
                if fetch(nginx.http + path) != fetch(golive.http + path):
                    raise RuntimeError(f"nginx and golive differ on {path}")
            kinds = {
                "parts": (wrk_script(tmp, "parts", parts), parts),
                "segments": (wrk_script(tmp, "segments", segments), segments),
            }
            for kind, (_, paths) in kinds.items():
                mean = statistics.mean(sizes[p] for p in paths)
                print(f"{kind}: {len(paths)} files, mean {mean / 1e3:.1f} kB ({paths[0]}, ...)")
            print(
                f"wrk -t1 -c{args.connections} -d{args.duration:g}s, {args.rounds} rounds, "
                "servers alternating"
            )
            for server in servers:  # warm-up, not counted
                for script, _ in kinds.values():
                    run_wrk(server, script, 1, args.connections)
            for r in range(args.rounds):
                order = servers if r % 2 == 0 else servers[::-1]
                for kind, (script, _) in kinds.items():
                    for server in order:
                        rps, load = run_wrk(server, script, args.duration, args.connections)
                        results.setdefault((server.name, kind), []).append(rps)
                        cpu.setdefault((server.name, kind), []).append(load)
        finally:
            for server in reversed(servers):
                server.stop()
    for kind in ("parts", "segments"):
        for name in ("golive", "nginx"):
            values = results[(name, kind)]
            print(
                f"{name:6s} {kind:8s} req/s: median {statistics.median(values):7.0f}  "
                f"(rounds: {', '.join(f'{v:.0f}' for v in values)}); "
                f"server CPU {statistics.median(cpu[(name, kind)]):.2f} cores"
            )
    for kind in ("parts", "segments"):
        ratio = statistics.median(results[("golive", kind)]) / statistics.median(
            results[("nginx", kind)]
        )
        verdict = "met" if ratio >= 0.5 else "not met"
        print(f"ratio golive/nginx {kind:8s}: {ratio:.2f}x  (target >= 0.5x: {verdict})")


if __name__ == "__main__":
    main()
