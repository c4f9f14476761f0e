"""RTMPS ingest and HTTPS, as a streamer and an operator meet them, against `golive serve`
with two HTTP processes and a certificate made by the test (openssl).

- A streamer signs up in Chromium over HTTPS; the dashboard offers the rtmps:// server; the
  ffmpeg command-line tool publishes there with the key, and the channel page plays the room
  with hls.js over HTTPS.
- PyAV and GStreamer's rtmp2sink publish over RTMPS as well; ffmpeg's HLS client plays over
  HTTPS, checking the certificate.
- SIGHUP with a renewed certificate: live publishers go on, and new RTMPS and HTTPS
  handshakes (in the primary and in the worker) present the new one. A broken pair is
  refused with a log line and the previous certificate stays.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness.browser import BROWSER_ARGS, CHROMIUM
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.paths import ROOT, require
from tests.harness.ports import free_port
from tests.harness.processes import Server, stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import sample

pytestmark = pytest.mark.e2e

DIST = ROOT / "golive" / "static"


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [require("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN=golive test {name}",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def fingerprint(pem: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


async def presented(port: int) -> str:
    """The SHA-256 of the certificate a new TLS handshake on ``port`` presents."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return hashlib.sha256(der).hexdigest()


async def presented_everywhere(port: int, tries: int = 24) -> set[str]:
    """What handshakes on ``port`` present, over enough connections that the kernel hands
    some to each process sharing the port."""
    return {await presented(port) for _ in range(tries)}


def looped() -> Path:
    return sample(duration=6.0, size="640x360", fps=30, bitrate="600k")


class TlsGolive:
    def __init__(self, server: Server, rtmps_port: int, cert: Path) -> None:
        self.server = server
        self.rtmps_port = rtmps_port
        self.https = f"https://127.0.0.1:{server.http_port}"
        self.rtmps = f"rtmps://127.0.0.1:{rtmps_port}/live"
        self.cert = cert


def tls_settings(tmp_path: Path, cert: Path, key: Path) -> tuple[dict[str, str], int]:
    """RTMPS on a free port and HTTPS, from live.crt and live.key (copies of ``cert`` and
    ``key``: renewing replaces them, as an ACME client does); the settings and the port."""
    (tmp_path / "live.crt").write_bytes(cert.read_bytes())
    (tmp_path / "live.key").write_bytes(key.read_bytes())
    rtmps_port = free_port()
    env = {
        "GOLIVE_RTMPS_PORT": str(rtmps_port),
        "GOLIVE_HTTPS": "true",
        "GOLIVE_TLS_CERT": str(tmp_path / "live.crt"),
        "GOLIVE_TLS_KEY": str(tmp_path / "live.key"),
    }
    return env, rtmps_port


@pytest.fixture
async def golive_tls(tmp_path: Path) -> AsyncIterator[TlsGolive]:
    env, rtmps_port = tls_settings(tmp_path, *make_certificate(tmp_path, "first"))
    live_cert = tmp_path / "live.crt"
    with golive_serve(tmp_path, "--workers", "2", env=env) as srv:
        await until(lambda: worker_up(srv), "the HTTP worker to serve")
        yield TlsGolive(srv, rtmps_port, live_cert)


async def worker_up(server: Server) -> bool:
    return "serving HTTP" in server.log_tail()


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_a_streamer_publishes_over_rtmps_and_viewers_watch_over_https(
    golive_tls: TlsGolive, tmp_path: Path
) -> None:
    if not (DIST / "index.html").exists():
        pytest.fail("golive/static is missing; scripts/test.sh builds it (scripts/build_web.sh)")
    from playwright.async_api import async_playwright, expect

    srv = golive_tls
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        try:
            # The test's own certificate, which Chromium does not know.
            context = await chromium.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.goto(f"{srv.https}/signup")
            await page.get_by_label("Username").fill("tls_streamer")
            await page.get_by_label("Email").fill("tls@example.org")
            await page.get_by_label("Password").fill(f"pw-{uuid.uuid4().hex}")
            await page.get_by_role("button", name="Sign up").click()
            await page.wait_for_url("**/dashboard")
            # The dashboard offers the RTMPS server first, and the plain one beside it.
            server_box = page.locator("#rtmp-url")
            await expect(server_box).to_have_value(srv.rtmps)
            await expect(page.get_by_test_id("plain-rtmp")).to_contain_text("rtmp://127.0.0.1:")
            await page.get_by_role("button", name="Reveal").click()
            key = await page.get_by_test_id("stream-key").input_value()
            assert len(key) > 20

            publisher = await start_publisher(looped(), f"{srv.rtmps}/{key}", loop=True)
            try:
                watch = await context.new_page()
                await watch.goto(f"{srv.https}/tls_streamer")
                state = watch.get_by_test_id("state")
                await expect(state).to_have_attribute("data-state", "live", timeout=20_000)
                await watch.wait_for_function(
                    "document.querySelector('video').currentTime > 2", timeout=20_000
                )
                assert publisher.returncode is None
            finally:
                await stop(publisher)
        finally:
            await chromium.close()
    # The key travelled inside TLS only: it reached no log line either.
    assert key not in srv.server.log_tail()


async def pyav_publish(url: str, path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.harness.publishers", str(path), url,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")


async def gstreamer_publish(url: str, path: Path) -> None:
    """GStreamer's own RTMP client (rtmp2sink) over TLS, told to take the test's certificate."""
    proc = await asyncio.create_subprocess_exec(
        require("gst-launch-1.0"), "-q", "filesrc", f"location={path}", "!", "flvdemux",
        "name=d", "d.video", "!", "queue", "!", "h264parse", "!", "mux.", "d.audio", "!",
        "queue", "!", "aacparse", "!", "mux.", "flvmux", "name=mux", "streamable=true", "!",
        "rtmp2sink", f"location={url}", "tls-validation-flags=0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode(errors="replace")


async def room_reached(http: aiohttp.ClientSession, base: str, room: str) -> bool:
    async with http.get(f"{base}/hls/{room}/source/index.m3u8") as resp:
        return resp.status == 200


async def test_publishers_over_rtmps_and_a_renewed_certificate_on_sighup(
    tmp_path: Path,
) -> None:
    cert, key = make_certificate(tmp_path, "first")
    renewed, renewed_key = make_certificate(tmp_path, "renewed")
    other, _ = make_certificate(tmp_path, "other")
    env, rtmps_port = tls_settings(tmp_path, cert, key)
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    flv = sample(duration=3.0, size="320x240", fps=30, bitrate="300k")
    with golive_serve(tmp_path, "--workers", "2", "--open-publish", env=env) as srv:
        await until(lambda: worker_up(srv), "the HTTP worker to serve")
        https = f"https://127.0.0.1:{srv.http_port}"
        rtmps = f"rtmps://127.0.0.1:{rtmps_port}/live"
        first = fingerprint(cert)
        assert await presented(rtmps_port) == first
        assert await presented_everywhere(srv.http_port) == {first}

        # PyAV and GStreamer publish whole streams over RTMPS.
        connector = aiohttp.TCPConnector(ssl=trusting(cert))
        async with aiohttp.ClientSession(connector=connector) as http:
            await pyav_publish(f"{rtmps}/by_pyav", flv)
            await gstreamer_publish(f"{rtmps}/by_gst", flv)
            for room in ("by_pyav", "by_gst"):
                assert await room_reached(http, https, room), room
        assert "by_pyav is live" in srv.log_tail() and "by_gst is live" in srv.log_tail()

        # ffmpeg publishes in a loop; ffmpeg's HLS client plays it over HTTPS, checking the
        # certificate against the test's.
        publisher = await start_publisher(looped(), f"{rtmps}/by_ffmpeg", loop=True)
        try:
            connector = aiohttp.TCPConnector(ssl=trusting(cert))
            async with aiohttp.ClientSession(connector=connector) as http:
                await until(lambda: room_reached(http, https, "by_ffmpeg"), "the room")
            played = await asyncio.to_thread(
                subprocess.run,
                [require("ffmpeg"), "-hide_banner", "-loglevel", "error", "-tls_verify", "1",
                 "-ca_file", str(cert), "-i", f"{https}/hls/by_ffmpeg/index.m3u8", "-t", "2",
                 "-f", "null", "-"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert played.returncode == 0, played.stderr

            # Renewed: the files are replaced, then SIGHUP. New handshakes, in the primary
            # and in the worker, present the new certificate; the publisher goes on.
            live_cert.write_bytes(renewed.read_bytes())
            live_key.write_bytes(renewed_key.read_bytes())
            os.kill(srv.pid, signal.SIGHUP)
            await until(
                lambda: _presents(rtmps_port, srv.http_port, fingerprint(renewed)),
                "the renewed certificate on every handshake",
            )
            # A broken pair (a certificate with another's key) is refused; the renewed one
            # stays.
            live_cert.write_bytes(other.read_bytes())
            os.kill(srv.pid, signal.SIGHUP)
            await until(
                lambda: _said(srv, "still presenting the previous certificate"),
                "the refusal in the log",
            )
            assert await presented(rtmps_port) == fingerprint(renewed)
            assert await presented_everywhere(srv.http_port) == {fingerprint(renewed)}
            assert publisher.returncode is None, "the live publisher was dropped"
            connector = aiohttp.TCPConnector(ssl=trusting(renewed))
            async with aiohttp.ClientSession(connector=connector) as http:
                assert await room_reached(http, https, "by_ffmpeg")
        finally:
            await stop(publisher)


async def _presents(rtmps_port: int, http_port: int, want: str) -> bool:
    return await presented(rtmps_port) == want and await presented_everywhere(http_port) == {want}


async def _said(server: Server, text: str) -> bool:
    return text in server.log_tail()


def test_rtmps_without_a_certificate_stops_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "golive", "serve", "--host", "127.0.0.1", "--rtmp-port", "0",
         "--http-port", "0", "--data-dir", str(tmp_path)],
        env={**os.environ, "GOLIVE_RTMPS_PORT": str(free_port())},
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "'rtmps_port' needs both 'tls_cert' and 'tls_key'" in done.stderr
