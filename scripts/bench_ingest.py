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
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.make_sample import make_sample  # noqa: E402

SAMPLE = ROOT / "samples" / "bench-1080p30-6m.flv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes, every thread, in ns precision (/proc/PID/task/*/schedstat).

    /proc/PID/stat counts in 10 ms ticks, too coarse for a server that needs tens of ms.
    """
    total = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total / 1e9


def wait_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0
) -> None:
    """Wait until something listens on the loopback port; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, cwd: Path | None = None) -> None:
        self.name = name
        self.port = port
        self.hls_dir: Path | None = None  # where nginx-rtmp writes HLS, to check it does
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(port, self.proc)

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def start_golive(tmp: Path) -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "golive",
        "serve",
        "--host",
        "127.0.0.1",
        "--rtmp-port",
        str(port),
        "--http-port",
        str(free_port()),
        "--data-dir",
        str(tmp / "golive"),
        "--log-level",
        "WARNING",
        "--open-publish",  # the benchmark publishes by stream name, as nginx-rtmp takes it
        "--no-transcode",  # the source copy alone, as nginx-rtmp packages only that
    ]
    return Server("golive", cmd, port, cwd=ROOT)


def start_nginx(tmp: Path, hls: bool) -> Server | None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    module = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
    if not Path(nginx).exists() or not module.exists():
        return None
    port = free_port()
    name = "nginx-rtmp+hls" if hls else "nginx-rtmp"
    prefix = tmp / name
    (prefix / "hls").mkdir(parents=True, exist_ok=True)
    # nginx started as root runs its worker as nobody, which must reach the HLS folder (the
    # temporary directory is 0700), or nginx-rtmp silently writes no HLS at all.
    tmp.chmod(0o755)
    prefix.chmod(0o755)
    (prefix / "hls").chmod(0o777)
    (prefix / "logs").mkdir(exist_ok=True)
    hls_conf = f"hls on; hls_path {prefix}/hls; hls_fragment 2s;" if hls else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""load_module {module};
daemon off;
master_process on;
worker_processes 1;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{ live on; {hls_conf} }}
    }}
}}
"""
    )
    server = Server(name, [nginx, "-p", str(prefix), "-c", str(conf)], port)
    server.hls_dir = prefix / "hls" if hls else None
    return server


def publisher(port: int, key: str, realtime: bool) -> subprocess.Popen[bytes]:
    pace = ["-re"] if realtime else []
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", *pace, "-i", str(SAMPLE)]
    cmd += ["-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"]
    return subprocess.Popen(cmd)


def measure(server: Server, key: str) -> float:
    pids = server.pids()
    before = cpu_seconds(pids)
    if publisher(server.port, key, realtime=False).wait() != 0:
        raise RuntimeError(f"publishing to {server.name} failed")
    # Let the server finish what it buffered (and nginx close its last HLS fragment).
    time.sleep(0.5)
    return cpu_seconds(pids) - before


def measure_realtime(servers: list[Server], key: str) -> dict[str, float]:
    """One real-time publisher per server, all at once: 30 s per round instead of 30 s per
    server, and each server's CPU is its own."""
    before = {s.name: cpu_seconds(s.pids()) for s in servers}
    procs = [publisher(s.port, key, realtime=True) for s in servers]
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
    if not SAMPLE.exists():
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
    mode = "real time (-re), servers in parallel" if args.realtime else "as fast as possible"
    print(f"sample: {SAMPLE.name}, {SAMPLE.stat().st_size / 1e6:.1f} MB; publishing {mode}")
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = [start_golive(tmp)]
        for hls in (True, False):
            nginx = start_nginx(tmp, hls)
            if nginx is None:
                print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
                break
            servers.append(nginx)
        results: dict[str, list[float]] = {s.name: [] for s in servers}
        try:
            for s in servers:  # warm-up round, not counted
                measure(s, "warmup")
                if s.hls_dir is not None and not any(s.hls_dir.glob("*.ts")):
                    raise RuntimeError(f"{s.name} wrote no HLS: the comparison would be unfair")
            for r in range(args.rounds):
                if args.realtime:
                    for name, value in measure_realtime(servers, f"round{r}").items():
                        results[name].append(value)
                    continue
                order: list[Server] = servers if r % 2 == 0 else servers[::-1]
                for s in order:
                    results[s.name].append(measure(s, f"round{r}"))
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
