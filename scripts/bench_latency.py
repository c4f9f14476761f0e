#!/usr/bin/env python3
"""Latency benchmark: ingest to display in hls.js, golive's LL-HLS against nginx-rtmp's HLS.

A publisher process (this script with --publish) encodes a live 640x360 30 fps picture in real
time with PyAV (libx264 veryfast zerolatency, 1 s GOP, silent AAC) and sends it over RTMP. Each
frame carries the sender's wall clock, ms since the epoch mod 2^24, as a barcode: 24 blocks of
16x16 px in the top row (white = 1, most significant bit first), with the complement in the row
below so that a misread block is detected. hls.js, in Debian's headless Chromium driven by
Playwright, plays the stream; every 250 ms the page draws the <video> into a canvas, decodes
the barcode of the frame on screen and records (Date.now() mod 2^24) - stamp. Publisher, servers
and browser share one clock, and the measurement is the same for both servers: nginx-rtmp's HLS
has no EXT-X-PROGRAM-DATE-TIME, so hls.js's playingDate cannot be used for it.

Servers: golive (`golive serve`, LL-HLS, hls.js lowLatencyMode) and nginx with Debian's
libnginx-mod-rtmp (hls on, hls_fragment 2s, hls_playlist_length 10s, served by the same nginx's
http{} block). hls.js gets the same settings for both: lowLatencyMode and
maxLiveSyncPlaybackRate 1.5, the settings of golive's own player. Each round publishes to both
servers at once (one publisher process each, started together), then plays one server and then
the other, for --seconds of playback each after playback has started, alternating the order
between rounds.
Prints per-round figures, the median over all samples per server and the ratio. Only loopback
is used.

    .venv/bin/python scripts/bench_latency.py [--rounds 2] [--seconds 25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.browser import BROWSER_ARGS, CHROMIUM, HLS_JS  # noqa: E402
from tests.harness.golive import BENCHMARK_ARGS, start_golive  # noqa: E402
from tests.harness.nginx import (  # noqa: E402
    have_nginx_rtmp,
    hls_directives,
    http_block,
    nginx_conf,
    rtmp_block,
    start_nginx,
)
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.processes import ProcessGroup, Server  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30
BITS = 24
STAMP_MOD = 1 << BITS
BLOCK = 16
# Limited-range luma: the browser turns 16 into black and 235 into white.
BLACK, WHITE, GREY = 16, 235, 128
TARGET_GOLIVE_S = 1.5  # the target for golive

# ---------------------------------------------------------------------------------------------
# Publisher (a separate process: PyAV holds the GIL while FFmpeg's RTMP client blocks)
# ---------------------------------------------------------------------------------------------


def barcode_rows(stamp: int) -> bytes:
    """Luma rows 0..2*BLOCK: the stamp's bits, then their complement; grey to the right."""
    bits = [(stamp >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    right = bytes([GREY]) * (WIDTH - BITS * BLOCK)
    top = b"".join(bytes([WHITE if b else BLACK]) * BLOCK for b in bits) + right
    bottom = b"".join(bytes([BLACK if b else WHITE]) * BLOCK for b in bits) + right
    return top * BLOCK + bottom * BLOCK


def publish(url: str, duration: float, audio: bool) -> None:
    import av

    # A scrolling ramp below the barcode, so that the encoder has motion to code.
    ramp = bytes(range(BLACK, WHITE)) * (WIDTH // (WHITE - BLACK) + 2)
    period = WHITE - BLACK
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    with av.open(url, "w", format="flv") as out:
        vstream = out.add_stream("libx264", rate=FPS)
        vstream.width, vstream.height = WIDTH, HEIGHT
        vstream.pix_fmt = "yuv420p"
        vstream.bit_rate = 1_500_000
        vstream.codec_context.gop_size = FPS
        vstream.codec_context.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0",
        }
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=48000)
            astream.bit_rate = 64000
            astream.layout = "mono"
        audio_pts = 0
        start = time.monotonic()
        for i in range(round(duration * FPS)):
            delay = start + i / FPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = int(time.time() * 1000) % STAMP_MOD
            shift = (i * 4) % period
            below = ramp[shift : shift + WIDTH] * (HEIGHT - 2 * BLOCK)
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            frame.planes[0].update(barcode_rows(stamp) + below)
            frame.planes[1].update(chroma)
            frame.planes[2].update(chroma)
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in vstream.encode(frame):
                out.mux(packet)
            # Silent AAC up to the end of this video frame, interleaved as an encoder sends it.
            while astream is not None and audio_pts * FPS < (i + 1) * 48000:
                chunk = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                chunk.sample_rate = 48000
                chunk.planes[0].update(bytes(chunk.planes[0].buffer_size))
                chunk.pts = audio_pts
                chunk.time_base = Fraction(1, 48000)
                audio_pts += 1024
                for packet in astream.encode(chunk):
                    out.mux(packet)


# ---------------------------------------------------------------------------------------------
# Player page
# ---------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><body>
<video id="v" muted playsinline autoplay></video>
<script src="/__bench__/hls.min.js"></script>
<script>
  const {bits: BITS, block: BLOCK, mod: MOD, src: SRC} = CONFIG;
  window.report = {errors: [], fatal: null, started: false, samples: [], pdt: [],
                   unreadable: 0, stalls: 0};
  const video = document.getElementById("v");
  // The player settings of golive's watch page, for both servers: low-latency mode, and
  // catching up (playing up to 1.5x) when playback has fallen behind the target latency
  // that the playlist sets; without it hls.js keeps whatever latency it settled at on start.
  const hls = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, debug: false});
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.details;
  });
  video.addEventListener("waiting", () => { window.report.stalls += 1; });
  hls.loadSource(SRC);
  hls.attachMedia(video);
  const canvas = document.createElement("canvas");
  canvas.width = BITS * BLOCK;
  canvas.height = 2 * BLOCK;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  // Mean of the green channel over the centre half of a block.
  function level(data, bx, by) {
    let sum = 0;
    for (let y = by + BLOCK / 4; y < by + 3 * BLOCK / 4; y++)
      for (let x = bx + BLOCK / 4; x < bx + 3 * BLOCK / 4; x++)
        sum += data[(y * canvas.width + x) * 4 + 1];
    return sum / (BLOCK * BLOCK / 4);
  }
  // The stamp of the frame on screen, or null when a block and its complement disagree.
  function stamp() {
    if (video.readyState < 2 || video.videoWidth === 0) return null;
    ctx.drawImage(video, 0, 0);  // intrinsic size: one canvas pixel per video pixel
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let value = 0;
    for (let i = 0; i < BITS; i++) {
      const top = level(data, i * BLOCK, 0), bottom = level(data, i * BLOCK, BLOCK);
      if (Math.abs(top - bottom) < 64) return null;
      value = value * 2 + (top > bottom ? 1 : 0);
    }
    return value;
  }
  setInterval(() => {
    if (video.paused || video.currentTime <= 0) return;
    const now = Date.now();
    const s = stamp();
    if (s === null) { window.report.unreadable += 1; return; }
    const latency = (((now % MOD) - s) % MOD + MOD) % MOD;
    if (latency > 120000) { window.report.unreadable += 1; return; }
    window.report.started = true;
    window.report.samples.push(latency);
    // golive's playlists carry EXT-X-PROGRAM-DATE-TIME: hls.js's own figure, for comparison.
    if (hls.playingDate) window.report.pdt.push(now - hls.playingDate.getTime());
  }, 250);
</script>
</body></html>
"""


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    server: Server
    playlist: str  # path of the playlist, with {key} for the stream name

    @property
    def origin(self) -> str:
        return self.server.http

    def rtmp(self, key: str) -> str:
        return f"{self.server.rtmp}/{key}"

    def src(self, key: str) -> str:
        return self.origin + self.playlist.format(key=key)


def start_golive_target(tmp: Path) -> Target:
    server = start_golive(tmp / "golive", *BENCHMARK_ARGS)
    return Target("golive", server, "/hls/{key}/index.m3u8")


def start_nginx_target(tmp: Path) -> Target | None:
    if not have_nginx_rtmp():
        return None
    port, http_port = free_port(), free_port()
    prefix = tmp / "nginx-rtmp"
    rtmp = rtmp_block(port, hls_directives(prefix, playlist_length="10s"))
    server = f"""    server {{
        listen 127.0.0.1:{http_port};
        location /hls {{
            types {{
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }}
            root {prefix};
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
"""
    conf = nginx_conf(prefix, rtmp, http_block(prefix, server))
    nginx = start_nginx("nginx-rtmp", prefix, conf, rtmp_port=port, http_port=http_port)
    return Target("nginx-rtmp", nginx, "/hls/{key}.m3u8")


class Publisher(ProcessGroup):
    """This script with --publish, in its own session, stderr to a log file."""

    def __init__(self, url: str, duration: float, audio: bool, log: Path) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--publish", url]
        cmd += ["--duration", str(duration), *([] if audio else ["--no-audio"])]
        super().__init__("publisher", cmd, cwd=ROOT, log=log)


def wait_playlist(url: str, publisher: Publisher, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        publisher.check()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and resp.read().startswith(b"#EXTM3U"):
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no playlist at {url} after {timeout:.0f} s")


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    samples: list[int] = field(default_factory=list)
    pdt: list[int] = field(default_factory=list)
    unreadable: int = 0
    stalls: int = 0
    startup: float = 0.0  # seconds from page load to the first decoded stamp
    errors: list[str] = field(default_factory=list)


def play(browser: Any, target: Target, key: str, seconds: float) -> Run:
    config = {"bits": BITS, "block": BLOCK, "mod": STAMP_MOD, "src": target.src(key)}
    page_html = PAGE.replace("CONFIG", json.dumps(config))

    def serve_bench_files(route: Any) -> None:
        if route.request.url.endswith("hls.min.js"):
            route.fulfill(path=HLS_JS, content_type="text/javascript")
        else:
            route.fulfill(body=page_html, content_type="text/html")

    page = browser.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    try:
        page.route(f"{target.origin}/__bench__/**", serve_bench_files)
        loaded = time.monotonic()
        page.goto(f"{target.origin}/__bench__/player.html")
        page.wait_for_function("window.report.started", timeout=30_000)
        startup = time.monotonic() - loaded
        page.evaluate(
            "window.report.samples = []; window.report.pdt = []; "
            "window.report.unreadable = 0; window.report.stalls = 0;"
        )
        page.wait_for_timeout(seconds * 1000)
        report = page.evaluate("window.report")
    finally:
        page.close()
    if report["fatal"] is not None:
        raise RuntimeError(f"hls.js failed on {target.name}: {report['errors']}")
    if not report["samples"]:
        raise RuntimeError(f"no readable frame from {target.name} in {seconds:.0f} s")
    return Run(
        samples=report["samples"],
        pdt=report["pdt"],
        unreadable=report["unreadable"],
        stalls=report["stalls"],
        startup=startup,
        errors=report["errors"] + console_errors,
    )


def fmt_s(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx-rtmp latency in hls.js")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=25.0, help="playback per server")
    parser.add_argument(
        "--warmup", type=float, default=12.0, help="seconds of stream before the first player"
    )
    parser.add_argument("--publish", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--no-audio", action="store_true", help="publish video only")
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.duration, audio=not args.no_audio)
        return
    if not HLS_JS.exists():
        sys.exit("web/node_modules is missing: run npm ci in web/")
    from playwright.sync_api import sync_playwright

    # A publisher outlives its round only if something hangs; the round stops it.
    publish_for = args.warmup + 2 * (args.seconds + 60) + 60
    print(
        f"stream: {WIDTH}x{HEIGHT} {FPS} fps H.264 (veryfast, zerolatency, 1 s GOP)"
        f"{'' if args.no_audio else ' + silent AAC'}, published in real time; "
        f"{args.rounds} rounds x {args.seconds:.0f} s of playback per server"
    )
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="golive-latency-") as tmpdir:
        tmp = Path(tmpdir)
        targets = [start_golive_target(tmp)]
        try:
            nginx = start_nginx_target(tmp)
            if nginx is None:
                print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
            else:
                targets.append(nginx)
            results = {t.name: [] for t in targets}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
                )
                for r in range(args.rounds):
                    key = f"latency{r}"
                    publishers = {}
                    try:
                        for t in targets:
                            publishers[t.name] = Publisher(
                                t.rtmp(key),
                                publish_for,
                                not args.no_audio,
                                tmp / f"publish-{t.name}-{r}.log",
                            )
                        started = time.monotonic()
                        for t in targets:
                            wait_playlist(t.src(key), publishers[t.name])
                        time.sleep(max(0.0, started + args.warmup - time.monotonic()))
                        order = targets if r % 2 == 0 else targets[::-1]
                        for t in order:
                            run = play(browser, t, key, args.seconds)
                            publishers[t.name].check()
                            results[t.name].append(run)
                            med = statistics.median(run.samples)
                            pdt = (
                                f", hls.js PDT latency {fmt_s(statistics.median(run.pdt))}"
                                if run.pdt
                                else ""
                            )
                            print(
                                f"round {r + 1} {t.name:10s}: median {fmt_s(med)} "
                                f"(min {fmt_s(min(run.samples))}, max {fmt_s(max(run.samples))}, "
                                f"{len(run.samples)} samples, {run.unreadable} unreadable, "
                                f"{run.stalls} stalls, first stamp {run.startup:.1f} s after load"
                                f"{pdt})"
                            )
                            if run.errors:
                                print(f"    non-fatal errors: {sorted(set(run.errors))}")
                    finally:
                        for p in publishers.values():
                            p.stop()
                browser.close()
        finally:
            for t in targets:
                t.server.stop()
    pooled = {name: [v for run in runs for v in run.samples] for name, runs in results.items()}
    for name, values in pooled.items():
        rounds = ", ".join(fmt_s(statistics.median(run.samples)) for run in results[name])
        print(
            f"{name:10s} latency: median {fmt_s(statistics.median(values))} over "
            f"{len(values)} samples (round medians: {rounds})"
        )
    golive = statistics.median(pooled["golive"])
    verdict = "met" if golive <= TARGET_GOLIVE_S * 1000 else "NOT met"
    print(f"target golive <= {TARGET_GOLIVE_S} s: {verdict}")
    if "nginx-rtmp" in pooled:
        ratio = golive / statistics.median(pooled["nginx-rtmp"])
        print(f"ratio golive/nginx-rtmp: {ratio:.2f}x")


if __name__ == "__main__":
    main()
