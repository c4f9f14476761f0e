"""`golive serve --workers 2`: the primary and one HTTP worker share the public port.

Connections spread over both processes; ffmpeg's HLS client plays through the port; a
connection that the worker holds gets blocking playlist reloads, the preload-hinted part and
the API (sign-up, log-in, an authenticated call); a killed worker is started again, and
stopping the primary stops the worker. A player counts once, whichever process serves it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from golive.edge import REPORT_INTERVAL
from golive.hls import playlist_parser
from tests.harness.api import rooms, sign_up
from tests.harness.connections import Connection, owner
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.paths import require
from tests.harness.processes import Server, children, stop
from tests.harness.publishers import start_publisher
from tests.harness.samples import stream_sample

pytestmark = pytest.mark.e2e


def worker_pids(server: Server) -> list[int]:
    pids = []
    for pid in children(server.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # a worker that was just killed and reaped between pgrep and now
        if b"golive.edge" in cmdline:
            pids.append(pid)
    return pids


async def wait_worker(server: Server, other_than: int = 0, timeout: float = 15) -> int:
    """The pid of a worker (not ``other_than``) once it serves the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in worker_pids(server) if p != other_than]
        if pids and server.log and f"(pid {pids[0]}) serving HTTP" in server.log_tail():
            return pids[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker serves the port:\n{server.log_tail()}")


async def connection_to(server: Server, pid: int, tries: int = 64) -> Connection:
    """A kept-alive connection that process ``pid`` holds (the kernel picks, so try several).
    A worker answers plain HLS GETs itself (its fast path) until another request comes."""
    for _ in range(tries):
        conn = await Connection.open(server.http_port)
        probe = await conn.request("GET", "/hls/probe/index.m3u8")  # accepted by now
        assert probe.status == 404 and probe.json()["error"]["code"] == "not_found"
        if owner([server.pid, *children(server.pid)], server.http_port, conn.local_port) == pid:
            return conn
        await conn.close()
    raise AssertionError(f"no connection landed on pid {pid}")


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


async def test_two_processes_serve_one_port(tmp_path: Path) -> None:
    with golive_serve(tmp_path, "--open-publish", "--no-transcode", "--workers", "2") as srv:
        worker = await wait_worker(srv)
        # (a) Connections spread over both processes.
        conns = [await Connection.open(srv.http_port) for _ in range(16)]
        for conn in conns:
            assert (await conn.request("GET", "/api/health")).status == 200
        pids = [srv.pid, *children(srv.pid)]
        owners = [owner(pids, srv.http_port, c.local_port) for c in conns]
        assert owners.count(srv.pid) > 0 and owners.count(worker) > 0, owners
        for conn in conns:
            await conn.close()

        publisher = await start_publisher(stream_sample(), f"{srv.rtmp}/demo", loop=True)
        try:
            # (c) Blocking reloads and the hinted part, on a connection the worker holds.
            conn = await connection_to(srv, worker)
            media = "/hls/demo/source/index.m3u8"
            deadline = time.monotonic() + 15
            while (answer := await conn.request("GET", media)).status != 200:
                assert time.monotonic() < deadline, "the playlist never appeared"
                await asyncio.sleep(0.2)
            for _ in range(4):
                pl = playlist_parser.parse_media(answer.body.decode())
                assert pl.preload_hint is not None
                msn, part = pl.media_sequence + len(pl.segments), len(pl.trailing_parts)
                hint = await conn.request("GET", f"/hls/demo/source/{pl.preload_hint.uri}")
                assert hint.status == 200 and hint.body[4:8] == b"moof"
                answer = await conn.request("GET", f"{media}?_HLS_msn={msn}&_HLS_part={part}")
                assert answer.status == 200
                after = playlist_parser.parse_media(answer.body.decode())
                uris = [p.uri for s in after.segments for p in s.parts]
                assert pl.preload_hint.uri in uris + [p.uri for p in after.trailing_parts]
            # (e) The API through the worker: sign up, log in, an authenticated call (the
            # worker's aiohttp takes the connection over from its fast path here).
            user = {"username": "viaworker", "email": "w@example.org", "password": "pw-" * 6}
            assert (await conn.request("POST", "/api/users", json_body=user)).status == 201
            login = await conn.request(
                "POST", "/api/sessions", json_body={k: user[k] for k in ("username", "password")}
            )
            assert login.status == 201 and "set-cookie" in login.headers
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            me = await conn.request("GET", "/api/me/stream-key", headers=auth)
            assert me.status == 200 and me.json()["stream_key"]
            await conn.close()

            # (b) ffmpeg's HLS client plays the stream through the port.
            played = await asyncio.to_thread(
                subprocess.run,
                [require("ffmpeg"), "-hide_banner", "-loglevel", "error", "-i",
                 f"{srv.http}/hls/demo/index.m3u8", "-t", "2", "-f", "null", "-"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert played.returncode == 0, played.stderr
        finally:
            await stop(publisher)

        # (d) A killed worker is started again.
        os.kill(worker, signal.SIGKILL)
        again = await wait_worker(srv, other_than=worker)
        conn = await connection_to(srv, again)
        assert (await conn.request("GET", "/api/health")).status == 200
        await conn.close()
    # ... and stopping the primary (golive_serve checks it exits cleanly) stops the worker.
    deadline = time.monotonic() + 5
    while not gone(again):
        assert time.monotonic() < deadline, "the worker outlived the primary"
        await asyncio.sleep(0.1)


async def test_a_player_counts_once_whichever_process_serves_it(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The worker digests players with the primary's key and reports them: a player seen by
    the worker shows in /api/rooms, and the same player seen by the primary too counts once."""
    with golive_serve(tmp_path, "--no-transcode", "--workers", "2") as srv:
        worker = await wait_worker(srv)
        login = await sign_up(http, srv.http, "counted")
        publisher = await start_publisher(stream_sample(), f"{srv.rtmp}/{login['stream_key']}")
        try:
            player = {"User-Agent": "one-player/1.0"}  # the one player of the room
            on_worker = await connection_to(srv, worker)
            on_primary = await connection_to(srv, srv.pid)
            multivariant = "/hls/counted/index.m3u8"
            deadline = time.monotonic() + 15
            while (await on_worker.request("GET", multivariant, headers=player)).status != 200:
                assert time.monotonic() < deadline, "the room never went live"
                await asyncio.sleep(0.2)
            answer = await on_primary.request("GET", multivariant, headers=player)
            assert answer.status == 200

            async def counted() -> bool:
                return int((await rooms(http, srv.http))["counted"]["viewers"]) >= 1

            await until(counted, "the worker's player is counted")
            await asyncio.sleep(REPORT_INTERVAL + 0.5)  # another report, the same player
            assert (await rooms(http, srv.http))["counted"]["viewers"] == 1
            for conn in (on_worker, on_primary):
                await conn.close()
        finally:
            await stop(publisher)


def test_one_worker_is_one_process(tmp_path: Path) -> None:
    """--workers 1 is golive as a single process: no worker is started."""
    with golive_serve(tmp_path, "--no-transcode", "--workers", "1") as srv:
        with urllib.request.urlopen(f"{srv.http}/api/health", timeout=10) as r:
            assert r.status == 200
        time.sleep(1.0)  # a worker would have been started by now
        assert worker_pids(srv) == [] and children(srv.pid) == []
        assert "HTTP served by" not in srv.log_tail()
