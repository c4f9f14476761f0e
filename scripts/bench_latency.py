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

Servers: golive (`golive serve`, LL-HLS) and nginx with Debian's libnginx-mod-rtmp (hls on,
hls_fragment 2s, hls_playlist_length 10s, served by the same nginx's http{} block). More golive
configurations can be compared in the same run (``--variant NAME:hls_part_target=0.25,...``:
settings by their GOLIVE_* names, lowercase and without the prefix).

Players, each a viewer that joins the running stream (a new page per measurement), with the
same settings for every server:

- ``defaults``: hls.js with ``lowLatencyMode: true`` and nothing else. hls.js then never
  changes the playback rate, so the latency it starts at is the latency it keeps.
- ``page``: the settings of golive's watch page (web/src/player.js), which also catch up by
  playing up to 1.5x when playback is behind the playlist's target.

Each round publishes to every server at once (one publisher process, encoding once),
then plays every (server, player) pair for --seconds after playback has started, in an order
that turns between rounds. Prints per-play figures (with hls.js's own view of the join: where it
started behind its live edge and how long the join took, and the requests per second the viewer
made), the median over all samples per server and player, the targets for golive's default
configuration (hls.js defaults at most 1.0 s, golive's page at most 0.9 s) as PASS or FAIL, and
the ratio to nginx-rtmp. Only loopback is used.

    .venv/bin/python scripts/bench_latency.py [--rounds 2] [--seconds 25] [--no-nginx]
        [--players defaults,page] [--variant NAME:SETTING=VALUE,...]
"""

from __future__ import annotations

import argparse
import json
import os
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
# hls.js settings by player; the targets golive's default configuration must meet, in seconds.
PLAYERS: dict[str, dict[str, object]] = {
    "defaults": {"lowLatencyMode": True},
    "page": {"lowLatencyMode": True, "maxLiveSyncPlaybackRate": 1.5},  # web/src/player.js
}
# The players that, as golive's page does, move forward to hls.js's live sync position once
# playback has begun (joinLive in web/src/player.js, with its JOIN_JUMP_S).
JOINS_LIVE = {"page"}
JOIN_JUMP_S = 0.1
TARGETS_S = {"defaults": 1.0, "page": 0.9}

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


def publish(urls: list[str], duration: float, audio: bool) -> None:
    """Encode once, send to every URL: every server gets the same stream at the same time, and
    the machine encodes one picture however many servers are compared."""
    import av

    # A scrolling ramp below the barcode, so that the encoder has motion to code.
    ramp = bytes(range(BLACK, WHITE)) * (WIDTH // (WHITE - BLACK) + 2)
    period = WHITE - BLACK
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    outputs = []
    for url in urls:
        # Each packet goes to the socket as it is muxed, as an encoder sends each frame as it
        # is made: left to its 32 KiB buffer, libavformat sent this 1.5 Mbps stream in bursts
        # about 0.17 s apart, which the barcode counted as latency (its gap to hls.js's
        # EXT-X-PROGRAM-DATE-TIME latency, which starts at golive's ingest, fell from 0.22 to
        # 0.25 s to about 0.06 s).
        out = av.open(url, "w", format="flv", container_options={"flush_packets": "1"})
        # Every output gets an encoder of the same settings, which writes the same decoder
        # configuration into its FLV header; only the first one encodes.
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
        outputs.append((out, vstream, astream))
    _, vencoder, aencoder = outputs[0]

    def send(packets: list[Any], video: bool, turn: int) -> None:
        # A muxed packet is consumed, so each output gets a copy; the order turns per frame.
        for packet in packets:
            data, pts, dts = bytes(packet), packet.pts, packet.dts
            for j in range(len(outputs)):
                out, vstream, astream = outputs[(j + turn) % len(outputs)]
                copy = av.Packet(data)
                copy.pts, copy.dts, copy.time_base = pts, dts, packet.time_base
                copy.is_keyframe = packet.is_keyframe
                stream = vstream if video else astream
                assert stream is not None
                copy.stream = stream
                out.mux(copy)

    try:
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
            send(list(vencoder.encode(frame)), True, i)
            # Silent AAC up to the end of this video frame, interleaved as an encoder sends it.
            while aencoder is not None and audio_pts * FPS < (i + 1) * 48000:
                chunk = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                chunk.sample_rate = 48000
                chunk.planes[0].update(bytes(chunk.planes[0].buffer_size))
                chunk.pts = audio_pts
                chunk.time_base = Fraction(1, 48000)
                audio_pts += 1024
                send(list(aencoder.encode(chunk)), False, i)
    finally:
        for out, _, _ in outputs:
            out.close()


# ---------------------------------------------------------------------------------------------
# Player page
# ---------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><body>
<video id="v" muted playsinline autoplay></video>
<script src="/__bench__/hls.min.js"></script>
<script>
  const {bits: BITS, block: BLOCK, mod: MOD, src: SRC, hls: SETTINGS, jump: JUMP} = CONFIG;
  const t0 = performance.now();
  window.report = {errors: [], fatal: null, started: false, samples: [], pdt: [],
                   unreadable: 0, stalls: 0, join: {}};
  const video = document.getElementById("v");
  const hls = new Hls(SETTINGS);
  hls.on(Hls.Events.ERROR, (_, d) => {
    window.report.errors.push(d.details);
    if (d.fatal) window.report.fatal = d.details;
  });
  video.addEventListener("waiting", () => { window.report.stalls += 1; });
  // The join, in ms after the page started: hls.js's first playlist and first media, and the
  // first frame played; and where hls.js was behind its live edge estimate then.
  const join = window.report.join;
  const once = (name) => { if (join[name] === undefined) join[name] = performance.now() - t0; };
  hls.on(Hls.Events.LEVEL_LOADED, () => once("playlist"));
  hls.on(Hls.Events.FRAG_LOADED, () => once("media"));
  hls.on(Hls.Events.FRAG_BUFFERED, () => once("buffered"));
  function joinLive() {
    const target = hls.liveSyncPosition;
    if (!Number.isFinite(target)) return false;
    if (target - video.currentTime < JUMP) return true;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= target && target < video.buffered.end(i)) {
        join.jump = target - video.currentTime;
        join.jumped = performance.now() - t0;
        video.currentTime = target;
        return true;
      }
    }
    return false;
  }
  video.addEventListener("playing", () => {
    if (join.playing !== undefined) return;
    once("playing");
    join.latency = hls.latency;  // the live edge estimate minus the position it started at
    join.target = hls.targetLatency;
    // Every request of the join: what, when it was sent and when its answer had come.
    window.report.trace = performance.getEntriesByType("resource").map((e) => [
      e.name.split("/").slice(-2).join("/"), e.startTime - t0, e.responseEnd - t0]);
    // joinLive() of web/src/player.js, for the players that are golive's page.
    if (JUMP !== null && !joinLive()) {
      const retry = () => joinLive() && hls.off(Hls.Events.FRAG_BUFFERED, retry);
      hls.on(Hls.Events.FRAG_BUFFERED, retry);
    }
  }, {once: true});
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
  // hls.js's view at the end: its latency estimate, its target and the playback rate.
  window.hlsView = () => ({latency: hls.latency, target: hls.targetLatency,
                           rate: video.playbackRate});
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


def start_golive_target(tmp: Path, name: str, settings: dict[str, str]) -> Target:
    """golive with ``settings`` (by their GOLIVE_* names, without the prefix) on top of its
    defaults."""
    env = {f"GOLIVE_{key.upper()}": value for key, value in settings.items()}
    server = start_golive(tmp / name, *BENCHMARK_ARGS, env=env, name=name)
    return Target(name, server, "/hls/{key}/index.m3u8")


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME:SETTING=VALUE,...`` (``NAME`` alone: golive's defaults under that name)."""
    name, _, rest = text.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{item!r} is not SETTING=VALUE")
        settings[key.strip()] = value.strip()
    if not name or name == "nginx-rtmp":
        raise argparse.ArgumentTypeError(f"{text!r} needs a name of its own")
    return name, settings


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
    """This script with --publish, to every URL, in its own session, stderr to a log file."""

    def __init__(self, urls: list[str], duration: float, audio: bool, log: Path) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve())]
        cmd += [arg for url in urls for arg in ("--publish", url)]
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
    join: dict[str, float] = field(default_factory=dict)  # see the page's report.join
    view: dict[str, float] = field(default_factory=dict)  # hls.js's latency, target and rate
    requests: dict[str, float] = field(default_factory=dict)  # per second, by kind
    trace: list[tuple[str, float, float]] = field(default_factory=list)  # the join's requests


def request_kind(url: str) -> str:
    path = url.split("?", 1)[0]
    if path.endswith(".m3u8"):
        return "playlist"
    return "media" if path.endswith((".m4s", ".ts", ".mp4")) else "other"


def play(browser: Any, target: Target, key: str, player: str, seconds: float) -> Run:
    config = {
        "bits": BITS,
        "block": BLOCK,
        "mod": STAMP_MOD,
        "src": target.src(key),
        "hls": PLAYERS[player],
        "jump": JOIN_JUMP_S if player in JOINS_LIVE else None,
    }
    page_html = PAGE.replace("CONFIG", json.dumps(config))

    def serve_bench_files(route: Any) -> None:
        if route.request.url.endswith("hls.min.js"):
            route.fulfill(path=HLS_JS, content_type="text/javascript")
        else:
            route.fulfill(body=page_html, content_type="text/html")

    page = browser.new_page()
    console_errors: list[str] = []
    requests = {"playlist": 0, "media": 0, "other": 0}
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on(
        "request", lambda r: requests.__setitem__(kind := request_kind(r.url), requests[kind] + 1)
    )
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
        counted = dict(requests)
        measured = time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        report = page.evaluate("window.report")
        view = page.evaluate("window.hlsView()")
        elapsed = time.monotonic() - measured
        rates = {k: (requests[k] - counted[k]) / elapsed for k in ("playlist", "media")}
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
        join={k: v for k, v in report["join"].items() if isinstance(v, int | float)},
        view={k: v for k, v in view.items() if isinstance(v, int | float)},
        requests=rates,
        trace=[tuple(t) for t in report.get("trace", [])],
    )


def fmt_s(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def describe(run: Run) -> str:
    """One play's figures after its median: the spread, the join and what it cost."""
    join = run.join
    parts = [
        f"min {fmt_s(min(run.samples))}, max {fmt_s(max(run.samples))}",
        f"{len(run.samples)} samples, {run.unreadable} unreadable, {run.stalls} stalls",
    ]
    if run.pdt:
        parts.append(f"PDT latency {fmt_s(statistics.median(run.pdt))}")
    if "playing" in join:
        parts.append(
            f"join: playlist {join.get('playlist', 0) / 1000:.2f} s, "
            f"media {join.get('media', 0) / 1000:.2f} s, playing {join['playing'] / 1000:.2f} s, "
            f"started {join.get('latency', 0):.2f} s behind hls.js's edge "
            f"(target {join.get('target', 0):.2f} s)"
            + (
                f", moved {join['jump']:.2f} s forward at {join.get('jumped', 0) / 1000:.2f} s"
                if "jump" in join
                else ""
            )
        )
    if run.view:
        parts.append(
            f"at the end hls.js latency {run.view.get('latency', 0):.2f} s, "
            f"target {run.view.get('target', 0):.2f} s, rate {run.view.get('rate', 1):.2f}"
        )
    parts.append(
        f"{run.requests.get('playlist', 0):.1f} playlist + "
        f"{run.requests.get('media', 0):.1f} media requests/s"
    )
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="golive vs nginx-rtmp latency in hls.js")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=25.0, help="playback per server")
    parser.add_argument(
        "--warmup", type=float, default=12.0, help="seconds of stream before the first player"
    )
    parser.add_argument(
        "--players",
        default=",".join(PLAYERS),
        help=f"comma-separated, of {', '.join(PLAYERS)} (default: all)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        metavar="NAME[:SETTING=VALUE,...]",
        help="a golive configuration to compare (repeatable; default: golive's defaults)",
    )
    parser.add_argument("--no-nginx", action="store_true", help="golive only")
    parser.add_argument("--trace", action="store_true", help="print the requests of each join")
    parser.add_argument("--publish", metavar="URL", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--no-audio", action="store_true", help="publish video only")
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.duration, audio=not args.no_audio)
        return
    players = [p.strip() for p in args.players.split(",") if p.strip()]
    if not players or any(p not in PLAYERS for p in players):
        parser.error(f"--players takes some of {', '.join(PLAYERS)}")
    variants: list[tuple[str, dict[str, str]]] = args.variant or [("golive", {})]
    if len({name for name, _ in variants}) < len(variants):
        parser.error("every --variant needs a name of its own")
    if not HLS_JS.exists():
        sys.exit("web/node_modules is missing: run npm ci in web/")
    from playwright.sync_api import sync_playwright

    servers = len(variants) + (0 if args.no_nginx else 1)
    # A publisher outlives its round only if something hangs; the round stops it.
    publish_for = args.warmup + servers * len(players) * (args.seconds + 60) + 60
    print(
        f"stream: {WIDTH}x{HEIGHT} {FPS} fps H.264 (veryfast, zerolatency, 1 s GOP)"
        f"{'' if args.no_audio else ' + silent AAC'}, published in real time; "
        f"{args.rounds} rounds x {args.seconds:.0f} s of playback per server and player "
        f"({', '.join(players)}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name, settings in variants:
        shown = ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
        print(f"{name}: {shown}")
    results: dict[tuple[str, str], list[Run]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="golive-latency-") as tmpdir:
        tmp = Path(tmpdir)
        targets: list[Target] = []
        try:
            for name, settings in variants:
                targets.append(start_golive_target(tmp, name, settings))
            if not args.no_nginx:
                nginx = start_nginx_target(tmp)
                if nginx is None:
                    print("nginx with libnginx-mod-rtmp is not installed: golive figures only")
                else:
                    targets.append(nginx)
            plays = [(t, p) for t in targets for p in players]
            results = {(t.name, p): [] for t, p in plays}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
                )
                for r in range(args.rounds):
                    key = f"latency{r}"
                    publisher = Publisher(
                        [t.rtmp(key) for t in targets],
                        publish_for,
                        not args.no_audio,
                        tmp / f"publish-{r}.log",
                    )
                    try:
                        started = time.monotonic()
                        for t in targets:
                            wait_playlist(t.src(key), publisher)
                        time.sleep(max(0.0, started + args.warmup - time.monotonic()))
                        # Every pair goes first in turn, and the order reverses every round.
                        shift = (r // 2) % len(plays)
                        order = plays[shift:] + plays[:shift]
                        if r % 2:
                            order.reverse()
                        for t, player in order:
                            run = play(browser, t, key, player, args.seconds)
                            loads.append(os.getloadavg()[0])
                            publisher.check()
                            results[(t.name, player)].append(run)
                            med = statistics.median(run.samples)
                            print(
                                f"round {r + 1} {t.name:10s} {player:8s}: median {fmt_s(med)} "
                                f"({describe(run)})"
                            )
                            if run.errors:
                                print(f"    non-fatal errors: {sorted(set(run.errors))}")
                            if args.trace:
                                for what, sent, done in run.trace:
                                    print(f"    {sent:7.0f} {done:7.0f} ms  {what}")
                                print(f"    {run.join.get('playing', 0):7.0f}         playing")
                    finally:
                        publisher.stop()
                browser.close()
        finally:
            for t in targets:
                t.server.stop()
    print(f"load average during the plays: {min(loads):.1f} to {max(loads):.1f}")
    pooled = {pair: [v for run in runs for v in run.samples] for pair, runs in results.items()}
    for (name, player), values in pooled.items():
        runs = results[(name, player)]
        rounds = ", ".join(fmt_s(statistics.median(run.samples)) for run in runs)
        joins = [run.join["latency"] for run in runs if "latency" in run.join]
        requests = statistics.mean(sum(run.requests.values()) for run in runs)
        behind = f", started {statistics.median(joins):.2f} s behind the edge" if joins else ""
        print(
            f"{name:10s} {player:8s} latency: median {fmt_s(statistics.median(values))} over "
            f"{len(values)} samples (round medians: {rounds}{behind}; "
            f"{requests:.1f} requests/s)"
        )
    golive = variants[0][0]
    for player in players:
        median = statistics.median(pooled[(golive, player)])
        verdict = "PASS" if median <= TARGETS_S[player] * 1000 else "FAIL"
        print(
            f"target {golive} with {player} at most {TARGETS_S[player]:.1f} s: "
            f"{fmt_s(median)} {verdict}"
        )
        if ("nginx-rtmp", player) in pooled:
            ratio = median / statistics.median(pooled[("nginx-rtmp", player)])
            print(f"ratio {golive}/nginx-rtmp with {player}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
