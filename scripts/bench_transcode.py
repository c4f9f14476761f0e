#!/usr/bin/env python3
"""Transcoding benchmarks: golive's ladder against the ffmpeg tool, and thread against process.

Default (CPU and speed): the 30 s 1080p30 6 Mbps H.264 sample (made by tests/harness/samples.py,
as for bench_ingest.py) is transcoded to the default ladder (720p 3000k, 480p 1500k, 360p 800k)
as fast as possible, by golive's transcoder (golive.transcode.pipeline.Pipeline in a child
process, fed the FLV's samples as ingest would hand them over) and by the ffmpeg tool with the
same settings: one decode, split, bicubic scale, libx264 with the same preset, bitrate, VBV,
no scene-cut keyframes and keyframes where the source has them (golive's ladder aligns to
the publisher's regular keyframes, here every 2 s). Rounds alternate; each process's CPU time
is its own and its threads' (wait4 rusage). Prints golive's CPU seconds and wall time and
their ratios to ffmpeg's. Targets: at most 1.1x ffmpeg's CPU, faster than real time.

--workers (where the ladder runs): a server built in this process (stream hub, RTMP listener,
packager with the default ladder) takes the same sample from ffmpeg -re -c copy, with the
ladder in a worker thread, in a worker process, or off (the baseline), in alternating rounds.
For the source copy it records when each part was produced against the publisher's pace
(lateness, from a zero point at the earliest part as in bench_parts.py), and the event loop's
own delay (a 10 ms timer's overshoot): what ingest and the source copy would suffer.

    .venv/bin/python scripts/bench_transcode.py [--rounds 3]
    .venv/bin/python scripts/bench_transcode.py --workers [--rounds 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import BENCH_SAMPLE  # noqa: E402

SAMPLE = BENCH_SAMPLE.path
MEDIA_SECONDS = 30.0


# --- CPU and speed against the ffmpeg tool ------------------------------------------------


def golive_child() -> None:
    """Runs in the measured child: the ladder over the sample, as fast as it goes."""
    import av

    from golive.codecs import describe
    from golive.media import Codec, Sample, TrackConfig
    from golive.transcode.events import Encoded, EncoderParams, Start
    from golive.transcode.ladder import Ladder, plan
    from golive.transcode.pipeline import Pipeline

    started = time.perf_counter()
    cpu0 = time.process_time()
    frames = [0] * 3
    with av.open(str(SAMPLE)) as container:
        stream = container.streams.video[0]
        video = TrackConfig(Codec.H264, bytes(stream.codec_context.extradata or b""))
        info = describe(video)
        planned = plan(Ladder(), info.width, info.height, 30.0)
        params = EncoderParams(Ladder().preset, "", 2000, max_lag=60.0)
        pipeline = Pipeline(Start(video, planned, params, 30.0))
        events = []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.dts is None or packet.pts is None:
                continue
            sample = Sample(
                Codec.H264,
                int(packet.dts),
                int(packet.pts - packet.dts),
                bool(packet.is_keyframe),
                bytes(packet),
            )
            events = pipeline.feed(sample, time.monotonic())
            for event in events:
                if isinstance(event, Encoded):
                    for index, _ in event.samples:
                        frames[index] += 1
        for event in pipeline.flush(restart=False):
            if isinstance(event, Encoded):
                for index, _ in event.samples:
                    frames[index] += 1
    print(
        json.dumps(
            {
                "frames": frames,
                "wall": time.perf_counter() - started,
                "cpu": time.process_time() - cpu0,
                "plan": [f"{r.name} {r.width}x{r.height} {r.video_bitrate}" for r in planned],
            }
        )
    )


def ffmpeg_cmd() -> list[str]:
    from golive.transcode.ladder import Ladder, plan

    planned = plan(Ladder(), 1920, 1080, 30.0)
    split = f"[0:v]split={len(planned)}" + "".join(f"[s{i}]" for i in range(len(planned)))
    scales = [
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic[v{i}]" for i, r in enumerate(planned)
    ]
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(SAMPLE)]
    cmd += ["-filter_complex", ";".join([split, *scales])]
    for i, r in enumerate(planned):
        rate = str(r.video_bitrate)
        cmd += [
            "-map", f"[v{i}]", "-c:v", "libx264", "-preset", Ladder().preset,
            "-b:v", rate, "-maxrate", rate, "-bufsize", str(2 * r.video_bitrate),
            "-g", "600", "-forced-idr", "1", "-x264-params", "scenecut=0",
            "-force_key_frames", "source", "-an", "-f", "null", "-",
        ]  # fmt: skip
    return cmd


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """(CPU seconds of the process and its threads, wall seconds, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed with code {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall, out


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def bench_cpu(rounds: int) -> None:
    golive = [sys.executable, str(Path(__file__).resolve()), "--child"]
    ffmpeg = ffmpeg_cmd()
    results: dict[str, list[tuple[float, float]]] = {"golive": [], "ffmpeg": []}
    print(f"ffmpeg command: {' '.join(ffmpeg)}")
    for r in range(rounds):
        order = [("golive", golive), ("ffmpeg", ffmpeg)]
        if r % 2:
            order.reverse()
        for name, cmd in order:
            load = load_average()
            cpu, wall, out = run_measured(cmd)
            results[name].append((cpu, wall))
            extra = ""
            if name == "golive":
                child = json.loads(out.strip().splitlines()[-1])
                extra = f"  frames {child['frames']}  transcode-phase CPU {child['cpu']:.2f} s"
            print(
                f"round {r + 1} {name:6s}: CPU {cpu:6.2f} s  wall {wall:6.2f} s  "
                f"({MEDIA_SECONDS / wall:.2f}x real time, load before {load}){extra}"
            )
    med = statistics.median
    g_cpu, g_wall = (med(v[i] for v in results["golive"]) for i in (0, 1))
    f_cpu, f_wall = (med(v[i] for v in results["ffmpeg"]) for i in (0, 1))
    print(f"golive: median CPU {g_cpu:.2f} s, wall {g_wall:.2f} s ({MEDIA_SECONDS / g_wall:.2f}x)")
    print(f"ffmpeg: median CPU {f_cpu:.2f} s, wall {f_wall:.2f} s ({MEDIA_SECONDS / f_wall:.2f}x)")
    print(f"ratio golive/ffmpeg: CPU {g_cpu / f_cpu:.2f}x, wall {g_wall / f_wall:.2f}x")


# --- thread or process: the source copy and the event loop while the ladder runs -----------


def rss_mb(pids: list[int]) -> float:
    """Resident memory of the processes, in MB (/proc/PID/status VmRSS)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def children_of_this_process() -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return pids


async def one_live_run(mode: str, seconds: float) -> dict[str, float]:
    from golive.hls.packager import Packager
    from golive.hls.settings import HlsSettings
    from golive.hub import StreamHub
    from golive.rtmp.server import RtmpServer, open_authorizer
    from golive.transcode.ladder import NO_LADDER, Ladder

    ladder = NO_LADDER if mode == "off" else Ladder(worker=mode)
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(hub, HlsSettings(), ladder=ladder)
    server = RtmpServer(hub, open_authorizer)
    await server.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    # per rendition: (wall time, part number, part end in media seconds)
    produced: dict[str, list[tuple[float, int, float]]] = {}
    overshoots: list[float] = []
    memory: list[float] = []
    publisher_pid = [0]
    stop = asyncio.Event()

    async def ticker() -> None:
        n = 0
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            overshoots.append(loop.time() - before - 0.01)
            n += 1
            if n % 50 == 0:  # this process and a worker process, not the publisher
                others = [p for p in children_of_this_process() if p != publisher_pid[0]]
                memory.append(rss_mb([os.getpid(), *others]))

    async def watch() -> None:
        seen: dict[str, int] = {}
        while not stop.is_set():
            room = packager.rooms.get("bench")
            for name, window in room.windows.items() if room is not None else ():
                if window.next_part > seen.get(name, 0):
                    now = time.monotonic()
                    rows = produced.setdefault(name, [])
                    for seg in window.segments:
                        end = seg.start_ms / 1000
                        for part in seg.parts:
                            end += part.duration
                            if part.number >= seen.get(name, 0):
                                rows.append((now, part.number, end))
                    seen[name] = window.next_part
            await asyncio.sleep(0.002)

    tasks = [loop.create_task(ticker()), loop.create_task(watch())]
    url = f"rtmp://127.0.0.1:{server.port}/live/bench"
    cmd = ffmpeg_publisher(
        SAMPLE, url, realtime=True, nostdin=True, input_args=["-t", str(seconds)]
    )
    cpu0 = os.times()
    publisher = await asyncio.create_subprocess_exec(*cmd)
    publisher_pid[0] = publisher.pid
    await publisher.wait()
    await asyncio.sleep(1.0)
    room = packager.rooms.get("bench")
    status = room.ladder.as_dict() if room is not None and room.ladder is not None else {}
    if room is not None and room.ladder_task is not None:
        await room.ladder_task
    cpu1 = os.times()
    stop.set()
    for task in tasks:
        await task
    await server.stop()
    await packager.close()

    # The first second is warm-up, as in bench_parts.py; the zero point is the earliest part;
    # the last part, which the end of the stream closes at once, is left out.
    def kept(rows: list[tuple[float, int, float]]) -> list[tuple[float, float]]:
        last = max(n for _, n, _ in rows)
        return [(w, e) for w, n, e in rows if e >= 1.0 and n != last]

    source = kept(produced["source"])
    zero = min(w - e for w, e in source)
    lateness = sorted((w - e - zero) * 1000 for w, e in source)
    # How far behind the source copy the ladder's smallest rendition lists its parts.
    ladder_rows = [kept(rows) for name, rows in produced.items() if name != "source"]
    behind = sorted((w - e - zero) * 1000 for w, e in ladder_rows[-1]) if ladder_rows else [0.0]
    ticks = sorted(o * 1000 for o in overshoots)
    dropped = [d["name"] for d in status.get("dropped", [])]  # type: ignore[attr-defined]
    return {
        "parts": len(lateness),
        "late_p50": lateness[len(lateness) // 2],
        "late_p95": lateness[int(len(lateness) * 0.95)],
        "late_max": lateness[-1],
        "loop_p99": ticks[int(len(ticks) * 0.99)],
        "loop_max": ticks[-1],
        "cpu": (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system)
        - (cpu0.user + cpu0.system + cpu0.children_user + cpu0.children_system),
        "dropped": float(len(dropped)),
        "ladder_behind": behind[len(behind) // 2],
        "rss_mb": max(memory),
    }


def bench_workers(rounds: int, seconds: float) -> None:
    modes = ["off", "thread", "process"]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        for mode in order:
            load = load_average()
            # A fresh process per run: memory and CPU figures are that run's alone.
            cmd = [sys.executable, str(Path(__file__).resolve()), "--live-child", mode]
            out = subprocess.run(
                [*cmd, "--seconds", str(seconds)], capture_output=True, text=True, check=True
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            results[mode].append(figures)
            print(
                f"round {r + 1} {mode:7s}: source parts late p50 {figures['late_p50']:5.1f} "
                f"p95 {figures['late_p95']:5.1f} max {figures['late_max']:6.1f} ms; "
                f"event loop delay p99 {figures['loop_p99']:5.1f} max {figures['loop_max']:6.1f} "
                f"ms; CPU {figures['cpu']:5.1f} s; smallest rendition behind the source "
                f"{figures['ladder_behind']:4.0f} ms; peak RSS {figures['rss_mb']:4.0f} MB; "
                f"renditions dropped {figures['dropped']:.0f} "
                f"(load before {load})"
            )
    print("medians over rounds:")
    for mode in modes:
        rows = results[mode]
        med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        print(
            f"  {mode:7s}: parts late p95 {med['late_p95']:5.1f} ms, max {med['late_max']:6.1f} ms;"
            f" loop delay p99 {med['loop_p99']:5.1f} ms, max {med['loop_max']:6.1f} ms;"
            f" CPU {med['cpu']:5.1f} s; ladder behind {med['ladder_behind']:4.0f} ms;"
            f" peak RSS {med['rss_mb']:4.0f} MB;"
            f" dropped {med['dropped']:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="golive transcoding benchmarks")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", action="store_true", help="thread against process, live")
    parser.add_argument("--seconds", type=float, default=30.0, help="--workers: stream length")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--live-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    BENCH_SAMPLE.make(verbose=True)
    if args.child:
        golive_child()
    elif args.live_child:
        print(json.dumps(asyncio.run(one_live_run(args.live_child, args.seconds))))
    elif args.workers:
        bench_workers(args.rounds or 2, args.seconds)
    else:
        bench_cpu(args.rounds or 3)


if __name__ == "__main__":
    main()
