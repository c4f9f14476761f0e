#!/usr/bin/env python3
"""Serving benchmark: requests per second for LL-HLS parts and segments, golive against nginx.

Measures how many part and segment requests per second golive answers for one stream, against
nginx (the peer) serving the very same bytes as static files. golive runs with
GOLIVE_HLS_LINGER=600 so that an ended stream stays readable; the 30 s 1080p30 6 Mbps
H.264+AAC FLV (made by scripts/make_sample.py) is published to it as fast as possible with
ffmpeg -c copy. The script then reads the media playlist, picks a few parts and segments,
downloads their bytes into a temporary directory laid out with the same paths and serves that
directory with nginx (one worker process, sendfile on, access log off, the same Cache-Control
and CORS headers as golive). wrk (-t1 -c32 -d5s, a Lua script rotating over the URLs) loads
each server in turn, alternating rounds, and the script prints the median requests per second
and the ratios golive/nginx. Both servers are single-process. Only loopback is used.

Target (from the issue): golive serves at least 0.5x nginx's requests per second.

    .venv/bin/python scripts/bench_serving.py [--rounds 3] [--duration 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
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
from scripts.bench_ingest import cpu_seconds, free_port, wait_port  # noqa: E402
from scripts.make_sample import make_sample  # noqa: E402

SAMPLE = ROOT / "samples" / "bench-1080p30-6m.flv"
ROOM = "bench"
PARTS = 8  # parts rotated over (from the last complete segments, which keep their parts)
SEGMENTS = 4  # segments rotated over (from the middle of the stream)
MEDIA_CACHE = "public, max-age=3600, immutable"  # what golive sends for parts and segments


class Server:
    """A server process in its own session, stopped with its whole process group."""

    def __init__(
        self, name: str, cmd: list[str], port: int, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.port = port
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(port, self.proc)

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid, *(int(p) for p in out.stdout.split())]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def start_golive(tmp: Path) -> tuple[Server, int]:
    rtmp_port, http_port = free_port(), free_port()
    cmd = [
        sys.executable, "-m", "golive", "serve", "--host", "127.0.0.1",
        "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
        "--data-dir", str(tmp / "golive"), "--log-level", "WARNING",
        "--open-publish",  # the benchmark publishes by stream name, as nginx-rtmp takes it
        "--no-transcode",  # the source copy alone, as nginx-rtmp packages only that
    ]  # fmt: skip
    env = {**os.environ, "GOLIVE_HLS_LINGER": "600"}
    server = Server("golive", cmd, http_port, env)
    wait_port(rtmp_port, server.proc)
    return server, rtmp_port


def start_nginx(tmp: Path, root: Path) -> Server:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    port = free_port()
    prefix = tmp / "nginx"
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process on;
worker_processes 1;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
{temp_paths}
    types {{ video/mp4 m4s mp4; application/vnd.apple.mpegurl m3u8; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            add_header Cache-Control "{MEDIA_CACHE}";
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Expose-Headers "Age, Date";
        }}
    }}
}}
"""
    )
    return Server("nginx", [nginx, "-p", str(prefix), "-c", str(conf)], port)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def publish(rtmp_port: int) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(SAMPLE)]
    cmd += ["-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/{ROOM}"]
    if subprocess.run(cmd, timeout=120).returncode != 0:
        raise RuntimeError("publishing to golive failed")


def pick_urls(golive: Server) -> tuple[list[str], list[str]]:
    """Paths of parts and segments of the ended stream, read from its media playlist."""
    base = f"/hls/{ROOM}/source/"
    deadline = time.monotonic() + 15
    while True:
        pl = parse_media(fetch(golive.base + base + "index.m3u8").decode())
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
        data = fetch(golive.base + path)
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


def run_wrk(server: Server, script: Path, duration: float, connections: int) -> tuple[float, float]:
    """Requests per second, and the server's CPU use meanwhile (1.0 is one core busy)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "-s", str(script), server.base]
    pids = server.pids()
    cpu_before, wall_before = cpu_seconds(pids), time.monotonic()
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    cpu = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - wall_before)
    for bad in ("Non-2xx or 3xx responses", "Socket errors"):
        if bad in out:
            raise RuntimeError(f"wrk against {server.name}: {bad}\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return float(match.group(1)), cpu


def ensure_sample() -> None:
    if SAMPLE.exists():
        return
    print(f"making {SAMPLE.name} (30 s, 1920x1080, 30 fps, 6 Mbps H.264 + AAC)...")
    tmp_sample = SAMPLE.with_suffix(".part.flv")
    make_sample(
        tmp_sample,
        duration=30,
        size="1920x1080",
        fps=30,
        bitrate="6000k",
        gop=2.0,
        preset="veryfast",
    )
    tmp_sample.rename(SAMPLE)


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx: parts and segments served")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 60:
        raise SystemExit("--rounds must be 1 to 20 and --duration 1 to 60")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    ensure_sample()
    results: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = []
        try:
            golive, rtmp_port = start_golive(tmp)
            servers.append(golive)
            publish(rtmp_port)
            parts, segments = pick_urls(golive)
            www = tmp / "www"
            sizes = mirror(golive, parts + segments, www)
            nginx = start_nginx(tmp, www)
            servers.append(nginx)
            for path in parts + segments:  # the same bytes from both
                if fetch(nginx.base + path) != fetch(golive.base + path):
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
