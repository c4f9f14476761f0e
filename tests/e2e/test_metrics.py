"""/metrics as a real Prometheus scrapes it, from `golive serve --workers 2` while ffmpeg
publishes and a player reads parts from the worker; and golive's JSON log lines."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
import pytest

from golive.edge import REPORT_INTERVAL
from golive.hls import playlist_parser
from tests.harness.connections import Connection, owner
from tests.harness.golive import golive_serve
from tests.harness.hls import until
from tests.harness.paths import ROOT
from tests.harness.processes import Server, children, stop
from tests.harness.prometheus import prometheus_scraping
from tests.harness.publishers import start_publisher
from tests.harness.rtmp_client import TestPublisher
from tests.harness.samples import stream_sample

pytestmark = pytest.mark.e2e


async def worker_connection(server: Server, tries: int = 64) -> Connection:
    """A kept-alive connection that an HTTP worker holds, not the primary (the kernel picks
    the process, so try several)."""
    deadline = time.monotonic() + 15
    while not [p for p in children(server.pid) if p != server.pid]:
        assert time.monotonic() < deadline, "no worker started"
        await asyncio.sleep(0.1)
    for _ in range(tries):
        conn = await Connection.open(server.http_port)
        await conn.request("GET", "/hls/probe/index.m3u8")  # accepted by now
        holder = owner([server.pid, *children(server.pid)], server.http_port, conn.local_port)
        if holder is not None and holder != server.pid:
            return conn
        await conn.close()
    raise AssertionError("no connection landed on a worker")


async def read_parts(conn: Connection, room: str, fetched: list[int]) -> None:
    """Follow the stream as an LL-HLS player does, on ``conn``: the preload-hinted part and a
    blocking reload for it, again and again; ``fetched[0]`` counts the parts read."""
    media = f"/hls/{room}/source/index.m3u8"
    while (answer := await conn.request("GET", media)).status != 200:
        await asyncio.sleep(0.2)
    while True:
        playlist = playlist_parser.parse_media(answer.body.decode())
        assert playlist.preload_hint is not None
        msn = playlist.media_sequence + len(playlist.segments)
        part = len(playlist.trailing_parts)
        hint = await conn.request("GET", f"/hls/{room}/source/{playlist.preload_hint.uri}")
        assert hint.status == 200
        fetched[0] += 1
        answer = await conn.request("GET", f"{media}?_HLS_msn={msn}&_HLS_part={part}")
        assert answer.status == 200


LADDER_ONLY = {"golive_ladder_lag_seconds", "golive_ladder_renditions"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


async def test_prometheus_scrapes_the_whole_node_while_a_stream_is_watched(
    tmp_path: Path,
) -> None:
    with golive_serve(tmp_path, "--open-publish", "--no-transcode", "--workers", "2") as srv:
        publisher = await start_publisher(stream_sample(), f"{srv.rtmp}/demo", loop=True)
        conn = await worker_connection(srv)
        fetched = [0]
        viewer = asyncio.ensure_future(read_parts(conn, "demo", fetched))
        target = f"127.0.0.1:{srv.http_port}"
        try:
            with prometheus_scraping(tmp_path / "prometheus", target) as prometheus:
                async with aiohttp.ClientSession() as http:

                    async def scraped(expr: str) -> bool:
                        """Whether ``expr`` has a series now (a comparison filters)."""
                        if viewer.done() and not viewer.cancelled():
                            viewer.result()  # the player's failure, if it failed
                        return await prometheus.value(http, expr) is not None

                    async def has_read(count: int) -> bool:
                        return fetched[0] >= count

                    await until(lambda: scraped('up{job="golive"} == 1'), "a scrape", 30)
                    await until(lambda: scraped("golive_live_rooms == 1"), "the live room", 30)
                    for expr in (
                        'golive_ingest_bytes_total{room="demo"}',
                        'golive_ingest_frames_total{room="demo"}',
                        'golive_viewers{room="demo"}',
                        'golive_rtmp_connections{state="publishing"}',
                        "golive_publishes_started_total",
                        'golive_hls_part_lateness_seconds_count{rendition="source"}',
                        "golive_event_loop_lag_seconds_count",
                        'golive_worker_event_loop_lag_seconds_count{worker="1"}',
                        'golive_worker_cpu_seconds_total{worker="1"}',
                        'golive_worker_resident_memory_bytes{worker="1"}',
                        "process_resident_memory_bytes",
                    ):
                        await until(lambda e=expr: scraped(f"{e} > 0"), expr, 30)  # type: ignore[misc]
                    # The parts the player read came from the worker alone: the node's count
                    # has them once the worker has reported (every REPORT_INTERVAL s).
                    await until(lambda: has_read(20), "20 parts read", 30)
                    read = fetched[0]
                    parts = 'sum(golive_hls_requests_total{kind="part",status="200"})'
                    await until(
                        lambda: scraped(f"{parts} >= {read}"),
                        f"{read} parts counted",
                        10 + 3 * REPORT_INTERVAL,
                    )
                    blocking = 'golive_hls_requests_total{kind="blocking",status="200"}'
                    await until(lambda: scraped(f"{blocking} > 0"), "blocking reloads", 15)

                    # Every query of the Grafana dashboard in docs/ is one this Prometheus
                    # takes, and every metric it names is one golive serves.
                    names = await prometheus.names(http)
                    for expr in dashboard_queries():
                        await prometheus.query(http, expr)  # fails on a query it refuses
                        named = set(re.findall(r"\b(golive_\w+|process_\w+)", expr))
                        # (No ladder runs here: its series exist only for a room transcoded.)
                        assert named - LADDER_ONLY <= names, (expr, named - names)

                    # The room ends: its series go, the node's counters stay.
                    viewer.cancel()
                    await stop(publisher)
                    await until(lambda: scraped("golive_live_rooms == 0"), "no room", 30)

                    async def room_gone() -> bool:
                        return not await prometheus.query(
                            http, 'golive_ingest_bytes_total{room="demo"}'
                        )

                    await until(room_gone, "the room's series gone", 30)
                    assert await prometheus.value(http, "golive_publishes_started_total") == 1
        finally:
            viewer.cancel()
            await asyncio.gather(viewer, return_exceptions=True)
            await conn.close()
            await stop(publisher)


async def test_json_log_lines_name_the_room_the_peer_and_the_event(tmp_path: Path) -> None:
    sneaky = "\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key\u202e"
    args = ("--open-publish", "--no-transcode", "--workers", "2", "--log-format", "json")
    with golive_serve(tmp_path, *args) as srv:
        publisher = await TestPublisher.connect(srv.rtmp_port, app="live", flash_ver="FMLE/3.0")
        await publisher.publish("room" + sneaky)
        await publisher.expect_status("NetStream.Publish.Start")
        publisher.close()

        async def logged(text: str) -> bool:
            assert srv.log is not None
            return text in srv.log.read_text(encoding="utf-8")

        await until(lambda: logged('"event": "publish_ended"'), "the end of the publish", 15)
        await until(lambda: logged('"worker": 1'), "a line of the worker", 15)
    assert srv.log is not None
    lines = srv.log.read_text(encoding="utf-8").removesuffix("\n").split("\n")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    events = {r["event"]: r for r in records if "event" in r}
    live = events["publish_started"]
    shown = "room\\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key"
    assert live["room"] == shown + "\\u202e"
    assert live["peer"].startswith("127.0.0.1:")
    assert live["logger"] == "golive.rtmp" and live["level"] == "INFO"
    assert events["connected"]["peer"] == live["peer"]
    assert events["publish_ended"]["room"] == live["room"]
    assert any(r.get("worker") == 1 for r in records)
