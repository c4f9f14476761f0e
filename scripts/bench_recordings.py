#!/usr/bin/env python3
"""Recordings' cost on the event loop: LL-HLS part lateness with recording on against off.

The part availability benchmark (scripts/bench_parts.py: a blocking playlist reload for every
part of a real-time 1080p30 6 Mbps stream, lateness from the frame that closes the part to its
listing), run against two `golive serve` processes in the same run, one recording every stream
(the default settings, with the free-space floor at 0 so that a small disk does not pause it)
and one with ``[recordings] enabled = false``, each with ``--streams`` background real-time
publishers (640x360 500 kb/s) recorded too. Each server first takes one discarded stream (a
fresh server's first stream pays for its start); rounds alternate the order of the conditions.
Printed: p50, p95 and max lateness per condition, CPU of each golive, what was written to disk,
and the ratio p95 on / p95 off. Target (issue 15): within 1.2x. Only loopback is used.

    .venv/bin/python scripts/bench_recordings.py [--rounds 2] [--streams 10]

``--loop-lag SECONDS`` measures the event loop itself instead, both servers at once under the
same load: each takes ``--streams`` background streams and the 1080p stream looped, and a
thread per server times ``GET /api/health`` one after another (5 ms apart) for that long;
printed: p50, p99 and max per server, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_parts import Measurement, measure, percentile, start_background, summary  # noqa: E402
from tests.harness.api import health_probe  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.processes import Server, stop_all  # noqa: E402
from tests.harness.samples import bench_sample, sample  # noqa: E402

TARGET = 1.2


def _written(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder``."""
    files = size = 0
    for base, _, names in os.walk(folder):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(base, name))
    return files, size


def loop_lag(servers: dict[str, Server], seconds: float, streams: int, measured: Path) -> None:
    background = sample(duration=10, size="640x360", fps=30, bitrate="500k", gop=2.0)
    procs = []
    try:
        for cond, golive in servers.items():
            procs += start_background(golive, background, streams, f"lag{cond}")
            procs += start_background(golive, measured, 1, f"big{cond}")

        async def probe() -> dict[str, list[float]]:
            async with (
                health_probe(servers["on"].http_port) as on,
                health_probe(servers["off"].http_port) as off,
            ):
                await asyncio.sleep(seconds)
            return {"on": on, "off": off}

        lags = asyncio.run(probe())
    finally:
        stop_all(procs)
    figures = {}
    for cond, values in lags.items():
        ms = [v * 1000 for v in values]
        figures[cond] = (percentile(ms, 50), percentile(ms, 99), max(ms))
        p50, p99, worst = figures[cond]
        print(
            f"recording {cond:3s}: /api/health {len(ms)} requests, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {worst:.1f} ms"
        )
    on, off = figures["on"], figures["off"]
    print(
        f"ratio on / off: p50 {on[0] / off[0]:.2f}x, p99 {on[1] / off[1]:.2f}x, "
        f"max {on[2] / off[2]:.2f}x; load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="part lateness with recordings on and off")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--streams", type=int, default=10, help="background streams")
    parser.add_argument("--loop-lag", type=float, default=0, help="seconds; see above")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or not 0 <= args.streams <= 100:
        raise SystemExit("--rounds must be 1 to 10 and --streams 0 to 100")
    measured = bench_sample()
    background = sample(duration=10, size="640x360", fps=30, bitrate="500k", gop=2.0, verbose=True)
    print(
        f"measured: {measured.name} in real time; background: {args.streams} x "
        f"{background.name}; load before: {os.getloadavg()[0]:.2f}"
    )
    results: dict[str, list[Measurement]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmpdir:
        base = {"GOLIVE_HLS_LINGER": "10", "GOLIVE_RECORDINGS_MIN_FREE_BYTES": "0"}
        servers = {
            "on": start_golive(Path(tmpdir) / "on", *BENCHMARK_ARGS, env=base),
            "off": start_golive(
                Path(tmpdir) / "off",
                *BENCHMARK_ARGS,
                env={**base, "GOLIVE_RECORDINGS_ENABLED": "false"},
            ),
        }
        try:
            if args.loop_lag:
                loop_lag(servers, args.loop_lag, args.streams, measured)
                return
            # A first stream on a fresh server pays for its start (imports, caches, the first
            # folders): one discarded stream on each, alone, before the rounds.
            for cond, golive in servers.items():
                m = measure(golive, measured, 0, f"warmup{cond}", [])
                print(f"warm-up, recording {cond}: listed p95 {percentile(m.listed, 95):.1f} ms")
            for r in range(args.rounds):
                order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
                for cond in order:
                    golive = servers[cond]
                    bg = start_background(golive, background, args.streams, f"{r}{cond}")
                    try:
                        pids = [p.pid for p in bg]
                        m = measure(golive, measured, args.streams, f"measured{r}{cond}", pids)
                        if any(p.poll() is not None for p in bg):
                            raise RuntimeError("a background publisher stopped early")
                    finally:
                        stop_all(bg)
                    results[cond].append(m)
                    print(
                        f"round {r} recording {cond:3s}: {len(m.listed)} parts, listed p95 "
                        f"{percentile(m.listed, 95):.1f} ms, golive {m.cpu['golive']:.2f} cores, "
                        f"machine {m.cpu['machine']:.2f} cores, load {os.getloadavg()[0]:.2f}"
                    )
            files, size = _written(Path(tmpdir) / "on" / "data" / "recordings")
            print(f"recorded: {files} files, {size / 1e6:.0f} MB")
            if not files:
                raise RuntimeError("nothing was recorded")
        finally:
            for golive in servers.values():
                golive.stop()
    p95 = {}
    for cond in ("on", "off"):
        values = [v for m in results[cond] for v in m.listed]
        p95[cond] = percentile(values, 95)
        print(f"recording {cond:3s}, part listed ({len(values)} parts): " + summary(values))
    ratio = p95["on"] / max(p95["off"], 0.1)
    verdict = "met" if ratio <= TARGET else "not met"
    print(f"ratio p95 listed, recording on / off: {ratio:.2f}x (target {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
