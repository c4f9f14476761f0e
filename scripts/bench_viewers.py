#!/usr/bin/env python3
"""Viewers benchmark: what LL-HLS viewers cost golive, and how late they get each part, as the
audience grows, directly and through the caching edges of deploy/.

One 720p30 2.5 Mbps H.264+AAC stream (made by tests/harness/samples.py) is published in real
time, looped, with ``ffmpeg -re -c copy`` to ``golive serve --no-transcode``; once it is live,
steps of viewers join it (250, 500, 1,000, 2,000 by default), each doing what hls.js does in
low-latency mode: the blocking reload for the next part (``_HLS_msn``/``_HLS_part``) together
with the preload-hinted part, again and again (tests/harness/ll_viewers.py). The viewers run in
several worker processes, each with its own uvloop event loop and a raw HTTP/1.1 client, and
report back as JSON.

At each step it prints golive's CPU per request (the CPU seconds of golive's process tree over
the requests that reached golive, in µs), the cores golive used, its RSS, the parts' delivery
lag (when a viewer had a part whole minus when golive listed it, as seen by a probe following
golive itself with blocking reloads), parts missed and errors; through an edge also the origin
requests per viewer request and per second. It checks that the load tool is not the
bottleneck: the workers' CPU (utime + stime from /proc) over the step and their event loops'
lag, and says so in a warning line when it is.

On a machine of 2 cores or more, golive (with the publisher and the edge) runs on the first
half of the cores and the viewers on the others (sched_setaffinity), as the figures in
docs/benchmarks.md were measured; ``--no-pin`` shares every core.

Targets (checked as lines, PASS or FAIL, never asserted): directly with one HTTP process, at
1,000 viewers, at most 60 µs of golive CPU per request and a p99 part lag under 500 ms; through
an edge, golive's CPU flat from 1,000 to 2,000 viewers and the p99 lag within 200 ms of
direct.

    .venv/bin/python scripts/bench_viewers.py [--viewers 250,500,1000,2000]
        [--edges direct,nginx,varnish] [--workers 1,auto] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.edges import EDGES, Edge, start_edge  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.ll_viewers import Load, Tally, listings, run_load  # noqa: E402
from tests.harness.processes import Server, cpu_seconds, stop  # noqa: E402
from tests.harness.publishers import ffmpeg_publisher  # noqa: E402
from tests.harness.samples import sample, stream_sample  # noqa: E402

ROOM = "viewers"
STEPS = (250, 500, 1000, 2000)
SATURATED_BUSY = (
    0.85  # share of its cores (used by it, or busy at all) that makes it the bottleneck
)
SATURATED_LAG = 0.050  # s; p99 of its event loops' lag beyond which its clock is late
WARNING = "load generator saturated: figures at this step are the tool's, not golive's"


def tree(pid: int) -> list[int]:
    """The process and all its descendants (golive's HTTP workers, nginx's, varnishd's)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        out = subprocess.run(["pgrep", "-P", str(current)], capture_output=True, text=True)
        todo += [int(p) for p in out.stdout.split()]
    return found


def rss_bytes(pids: list[int]) -> int:
    """The sum of the processes' resident sets (pages shared by forked workers count once
    per process)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def core_times() -> dict[int, tuple[int, int]]:
    """Each core's (busy, all) clock ticks since boot (/proc/stat): how much of a core other
    processes took while a step ran."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(f) for f in fields]
            idle = ticks[3] + ticks[4]  # idle, iowait
            times[int(name[3:])] = (sum(ticks[:8]) - idle, sum(ticks[:8]))
    return times


def busy_share(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cores: set[int]
) -> float:
    """The share of ``cores`` busy between two readings (1.0: every one all the time)."""
    busy = sum(after[c][0] - before[c][0] for c in cores)
    return busy / max(1, sum(after[c][1] - before[c][1] for c in cores))


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Processes started meanwhile inherit ``cpus`` (this thread's affinity; fork copies it)."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Step:
    """One row: a number of viewers, with golive's HTTP processes, in front of an edge."""

    workers: str
    edge: str
    load: Load
    golive_cpu: float  # CPU seconds of golive's process tree within the window
    golive_requests: int  # requests golive answered within the window
    golive_rss: int
    golive_idle: float  # cores golive used with the stream and no viewer
    origin_requests: int | None  # through an edge: those it sent to golive
    edge_cpu: float | None
    lag: list[float]  # s, every part every viewer had, from parts listed within the window
    golive_cores_busy: float  # share of golive's cores busy, with anything
    load_cores_busy: float  # share of the load's cores busy, with anything
    probe_lag: list[float]  # the probe's event loop's lag, s

    @property
    def seconds(self) -> float:
        return self.load.seconds

    @property
    def us_per_request(self) -> float:
        return self.golive_cpu / max(1, self.golive_requests) * 1e6

    @property
    def net_us_per_request(self) -> float:
        """The same, less what golive spends with the stream and no viewer (ingest)."""
        net = self.golive_cpu - self.golive_idle * self.seconds
        return net / max(1, self.golive_requests) * 1e6

    @property
    def saturated(self) -> bool:
        # No lag sample at all: its loops never woke within the window. Its cores busy with
        # anything (other processes too): it could not have had more of them. Viewers that
        # never joined: their requests are missing from every figure.
        lag = _percentile(self.load.loop_lag, 0.99) if self.load.loop_lag else float("inf")
        return (
            max(self.load.busy, self.load_cores_busy) >= SATURATED_BUSY
            or lag >= SATURATED_LAG
            or self.load.joined < self.load.viewers
        )

    def why_saturated(self) -> str:
        lag = _percentile(self.load.loop_lag, 0.99) * 1000
        said = (
            f"it used {self.load.busy:.0%} of its cores, which were {self.load_cores_busy:.0%}"
            f" busy; its event loops were {lag:.0f} ms late at p99"
        )
        if self.load.busy < SATURATED_BUSY <= self.load_cores_busy:
            said += "; other processes took its cores"
        if self.load.joined < self.load.viewers:
            said += f"; {self.load.viewers - self.load.joined} viewers never joined"
        return said

    def cores_line(self, golive_cpus: set[int], load_cpus: set[int]) -> str:
        """Who had the cores: what golive and the load used of theirs, against how busy those
        cores were (other processes of the machine take the rest)."""
        golive_share = self.golive_cpu / self.seconds / len(golive_cpus)
        edge = self.edge_cpu / self.seconds / len(golive_cpus) if self.edge_cpu else 0.0
        return (
            f"  cores {sorted(golive_cpus)} {self.golive_cores_busy:.0%} busy (golive"
            f" {golive_share:.0%}, edge {edge:.0%}); cores {sorted(load_cpus)}"
            f" {self.load_cores_busy:.0%} busy (load {self.load.busy:.0%})"
        )

    def row(self) -> str:
        origin = "-"
        if self.origin_requests is not None:
            ratio = self.origin_requests / max(1, self.load.requests)
            origin = f"{ratio:.4f} ({self.origin_requests / self.seconds:,.0f}/s)"
        edge_cores = "-" if self.edge_cpu is None else f"{self.edge_cpu / self.seconds:.2f}"
        return (
            f"{self.workers:>7} {self.edge:8} {self.load.viewers:6,} {self.load.joined:6,}"
            f" {self.load.requests / self.seconds:9,.0f}"
            f" {self.golive_requests / self.seconds:8,.0f}"
            f" {self.us_per_request:7.1f} {self.net_us_per_request:7.1f}"
            f" {self.golive_cpu / self.seconds:6.2f}"
            f" {self.golive_rss / 1e6:6.0f} {edge_cores:>5} {origin:>17}"
            f" {_percentile(self.lag, 0.5) * 1000:7.0f} {_percentile(self.lag, 0.99) * 1000:7.0f}"
            f" {self.load.missed:6,} {self.load.errors:6,}"
            f" {self.load.busy * 100:5.0f}% {_percentile(self.load.loop_lag, 0.99) * 1000:6.1f}"
            + ("  SATURATED" if self.saturated else "")
        )


HEADER = (
    f"{'workers':>7} {'in front':8} {'viewers':>6} {'joined':>6} {'viewer r/s':>9}"
    f" {'golive r/s':>8} {'µs/req':>7} {'net':>7} {'cores':>6} {'RSS MB':>6} {'edge':>5}"
    f" {'origin/viewer req':>17} {'p50 ms':>7} {'p99 ms':>7} {'missed':>6} {'errors':>6}"
    f" {'load':>6} {'lag ms':>6}"
)
LEGEND = (
    "µs/req: golive CPU per request it answered; net: less its CPU with no viewer; cores:"
    " golive's CPU / wall; edge: the edge's cores; p50/p99: part delivery lag; load: the"
    " load tool's share of its cores; lag ms: p99 of its event loops' lag"
)


async def measure_step(
    golive: Server,
    edge: Edge | None,
    workers: str,
    viewers: int,
    idle: float,
    args: argparse.Namespace,
) -> Step:
    """``viewers`` viewers join the running stream through ``edge`` (or directly), and are
    measured for ``args.seconds`` after ``args.ramp`` seconds of joining and ``args.warmup``
    more."""
    origin_url = f"{golive.http}/hls/{ROOM}/source/index.m3u8"
    url = f"{edge.http if edge else golive.http}/hls/{ROOM}/source/index.m3u8"
    joins_from = time.monotonic() + 1.5  # the workers' interpreters start meanwhile
    start = joins_from + args.ramp + args.warmup
    end = start + args.seconds
    listed: dict[int, float] = {}
    probe = Tally(start=start, end=end)
    following = asyncio.ensure_future(listings(origin_url, end + 1.0, listed, probe))
    load_task = asyncio.ensure_future(
        run_load(
            url,
            viewers,
            processes=args.processes,
            cpus=args.load_cpus,
            start=start,
            end=end,
            joins_from=joins_from,
        )
    )
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    pids = tree(golive.pid)
    edge_pids = tree(edge.server.pid) if edge else []
    cores_before = core_times()
    cpu_before = cpu_seconds(pids)
    edge_before = cpu_seconds(edge_pids)
    origin_before = await asyncio.to_thread(edge.origin_requests) if edge else 0
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    golive_cpu = cpu_seconds(pids) - cpu_before
    cores_after = core_times()
    every = set(cores_after)
    edge_cpu = cpu_seconds(edge_pids) - edge_before if edge else None
    rss = rss_bytes(pids)
    load = await load_task
    await following
    if edge:
        await asyncio.sleep(0.3)  # nginx logs a request once it is answered
        origin: int | None = await asyncio.to_thread(edge.origin_requests) - origin_before
        assert origin is not None
        golive_requests = origin + probe.playlist_requests
    else:
        origin = None
        golive_requests = load.requests + probe.playlist_requests
    lag = [t - listed[n] for n, t in load.received if n in listed and listed[n] >= start]
    return Step(
        workers=workers,
        edge=edge.kind if edge else "direct",
        load=load,
        golive_cpu=golive_cpu,
        golive_requests=golive_requests,
        golive_rss=rss,
        golive_idle=idle,
        origin_requests=origin,
        edge_cpu=edge_cpu,
        lag=lag,
        golive_cores_busy=busy_share(cores_before, cores_after, args.golive_cpus or every),
        load_cores_busy=busy_share(cores_before, cores_after, args.load_cpus or every),
        probe_lag=probe.loop_lag,
    )


async def wait_live(golive: Server) -> None:
    """Until the room's playlist has a few parts (30 s at most)."""
    listed: dict[int, float] = {}
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        golive.check()
        with contextlib.suppress(ConnectionError, OSError):
            await listings(
                f"{golive.http}/hls/{ROOM}/source/index.m3u8",
                time.monotonic() + 1.0,
                listed,
                Tally(0.0, 0.0),
            )
        if len(listed) >= 6:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("the stream never went live")


def start_server(
    tmp: Path, workers: str | None, cpus: set[int] | None, checkout: Path
) -> tuple[Server | None, str]:
    """golive of ``checkout`` on ``cpus``, with ``--workers`` when asked; None and why if it
    refuses."""
    extra = ("--workers", workers) if workers is not None else ()
    name = f"golive-workers-{workers or 'default'}"
    try:
        with pinned(cpus):
            # `python -m golive` run in a checkout imports that checkout's golive.
            server = start_golive(tmp / name, *BENCHMARK_ARGS, *extra, name=name, cwd=checkout)
            return server, ""
    except RuntimeError as error:
        text = str(error)
        if workers is not None and ("--workers" in text or "unrecognized" in text):
            return None, "golive refuses --workers (this golive has no such option)"
        raise


async def run(args: argparse.Namespace) -> list[Step]:
    source = (
        stream_sample()
        if args.quick
        else sample(verbose=True, duration=20.0, size="1280x720", fps=30, bitrate="2500k", gop=2.0)
    )
    steps: list[Step] = []
    for workers in args.workers:
        label = workers or "-"
        with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
            tmp = Path(tmpdir)
            golive, refused = start_server(tmp, workers, args.golive_cpus, args.checkout)
            if golive is None:
                print(f"--workers {workers}: {refused}; skipped")
                continue
            publisher = None
            try:
                with pinned(args.golive_cpus):
                    publisher = await asyncio.create_subprocess_exec(
                        *ffmpeg_publisher(
                            source, f"{golive.rtmp}/{ROOM}", realtime=True, loop=True, nostdin=True
                        ),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                await wait_live(golive)
                pids = tree(golive.pid)
                before = cpu_seconds(pids)
                await asyncio.sleep(args.idle)
                idle = (cpu_seconds(pids) - before) / args.idle
                print(
                    f"golive --workers {label}: {len(pids)} process(es), the stream and no "
                    f"viewer cost {idle:.3f} cores, RSS {rss_bytes(pids) / 1e6:.0f} MB"
                )
                print(HEADER)
                for kind in args.edges:
                    edge = None
                    if kind != "direct":
                        with pinned(args.golive_cpus):
                            edge = start_edge(kind, tmp / kind, golive.http_port)
                    try:
                        for viewers in args.viewers:
                            golive.check()
                            step = await measure_step(golive, edge, label, viewers, idle, args)
                            steps.append(step)
                            print(step.row(), flush=True)
                            if args.golive_cpus and args.load_cpus:
                                print(step.cores_line(args.golive_cpus, args.load_cpus))
                            if step.saturated:
                                print(f"  {WARNING} ({step.why_saturated()})")
                            if _percentile(step.probe_lag, 0.99) >= SATURATED_LAG:
                                print("  the probe's event loop was late: lags read short")
                            if step.load.joined < viewers:
                                print(f"  only {step.load.joined} of {viewers} viewers joined")
                    finally:
                        if edge:
                            edge.stop()
            finally:
                if publisher is not None:
                    await stop(publisher)
                golive.stop()
    return steps


def _one_process(step: Step) -> bool:
    return step.workers in ("-", "1")


def targets(steps: list[Step], edges: list[str]) -> list[str]:
    """The targets as lines, PASS or FAIL, with the figures they were judged on."""
    lines = []

    def find(edge: str, viewers: int) -> Step | None:
        found = [s for s in steps if s.edge == edge and s.load.viewers == viewers]
        one = [s for s in found if _one_process(s)]
        return (one or found)[0] if found else None

    def note(*used: Step) -> str:
        return (
            " (load generator saturated: the tool's figure)"
            if any(s.saturated for s in used)
            else ""
        )

    direct = find("direct", 1000) if "direct" in edges else None
    if direct is None or not _one_process(direct):
        lines.append("direct, one HTTP process, 1,000 viewers: not measured")
    else:
        us, p99 = direct.us_per_request, _percentile(direct.lag, 0.99) * 1000
        verdict = "PASS" if us <= 60 else "FAIL"
        lines.append(
            f"{verdict} direct, one HTTP process, 1,000 viewers: {us:.1f} µs of golive CPU "
            f"per request (target <= 60){note(direct)}"
        )
        verdict = "PASS" if p99 < 500 else "FAIL"
        lines.append(
            f"{verdict} direct, one HTTP process, 1,000 viewers: p99 part lag {p99:.0f} ms "
            f"(target < 500){note(direct)}"
        )
    for edge in [e for e in edges if e != "direct"]:
        low, high = find(edge, 1000), find(edge, 2000)
        if low is None or high is None:
            lines.append(f"through {edge}: golive CPU from 1,000 to 2,000 viewers: not measured")
        else:
            a, b = low.golive_cpu / low.seconds, high.golive_cpu / high.seconds
            flat = b <= a * 1.25 or b - a <= 0.02
            lines.append(
                f"{'PASS' if flat else 'FAIL'} through {edge}: golive CPU flat from 1,000 to "
                f"2,000 viewers: {a:.3f} -> {b:.3f} cores (target: within 25% or 0.02 cores)"
                + note(low, high)
            )
        compared = []
        for viewers in (1000, 2000):
            through, alone = find(edge, viewers), find("direct", viewers)
            if through is not None and alone is not None:
                compared.append((viewers, through, alone))
        if not compared:
            lines.append(f"through {edge}: p99 lag against direct: not measured")
            continue
        worst = max(_percentile(t.lag, 0.99) - _percentile(d.lag, 0.99) for _, t, d in compared)
        said = ", ".join(
            f"{_percentile(t.lag, 0.99) * 1000:.0f} vs {_percentile(d.lag, 0.99) * 1000:.0f} ms "
            f"at {v:,}"
            for v, t, d in compared
        )
        lines.append(
            f"{'PASS' if worst <= 0.200 else 'FAIL'} through {edge}: p99 lag within 200 ms of "
            f"direct: {said}" + note(*(s for _, t, d in compared for s in (t, d)))
        )
    return lines


def split_cpus(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """golive's cores and the load's: the first half and the rest, or none on one core."""
    cores = sorted(os.sched_getaffinity(0))
    if no_pin or len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", help="steps, e.g. 500,1000 (default 250,500,1000,2000)")
    parser.add_argument(
        "--edges",
        help="of direct, nginx, nginx-nolock, varnish, varnish-stock (varnishd's default"
        " parameters) (default direct,nginx,varnish)",
    )
    parser.add_argument(
        "--workers", help="golive serve --workers values, e.g. 1,auto; not passed by default"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per step")
    parser.add_argument("--warmup", type=float, default=3.0, help="after the viewers joined")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds the viewers join over")
    parser.add_argument("--idle", type=float, default=3.0, help="golive with no viewer, s")
    parser.add_argument("--processes", type=int, help="load worker processes")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="the golive working tree to run (default this one), e.g. to compare branches",
    )
    parser.add_argument("--no-pin", action="store_true", help="golive and the load share cores")
    parser.add_argument("--quick", action="store_true", help="a small stream, 20 viewers, short")
    args = parser.parse_args()
    if args.quick:
        args.viewers = args.viewers or "20"
        args.seconds, args.warmup, args.ramp, args.idle = 3.0, 1.0, 0.5, 1.0
    args.viewers = [int(v) for v in (args.viewers or ",".join(map(str, STEPS))).split(",")]
    args.edges = (args.edges or ("direct" if args.quick else "direct,nginx,varnish")).split(",")
    for kind in args.edges:
        if kind != "direct" and kind not in EDGES:
            raise SystemExit(f"--edges: {kind} is none of direct, {', '.join(EDGES)}")
    args.workers = args.workers.split(",") if args.workers else [None]
    args.golive_cpus, args.load_cpus = split_cpus(args.no_pin)
    if args.processes is None:
        args.processes = max(2, len(args.load_cpus or os.sched_getaffinity(0)))
    # Two sockets per viewer at the load, two at golive (which inherits this limit).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    if args.golive_cpus:
        where = (
            f"golive, the publisher and the edge pinned to cores {sorted(args.golive_cpus)}, "
            f"the load to {sorted(args.load_cpus or ())} (sched_setaffinity)"
        )
    else:
        where = "nothing pinned: golive and the load share the cores"
    print(
        f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())};"
        f" {where}; {args.processes} load processes"
    )
    print(
        f"steps {', '.join(f'{v:,}' for v in args.viewers)} viewers; {args.seconds:g} s measured"
        f" after {args.ramp:g} s of joining and {args.warmup:g} s of warm-up"
    )
    steps = asyncio.run(run(args))
    print()
    print(f"Summary (load average now {' '.join(f'{v:.2f}' for v in os.getloadavg())})")
    print(LEGEND)
    print(HEADER)
    for step in steps:
        print(step.row())
    saturated = [s for s in steps if s.saturated]
    if saturated:
        print(f"{WARNING} ({len(saturated)} of {len(steps)} steps, marked SATURATED)")
    print()
    for line in targets(steps, args.edges):
        print(line)


if __name__ == "__main__":
    main()
