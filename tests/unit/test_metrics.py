"""The metrics' instruments and registry: HLS requests by kind and status, room labels only
while a room is live, the workers' totals added to the primary's, and JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from golive import config, metrics
from golive.hls import window as window_module
from golive.hls.packager import Packager
from golive.hls.room import HlsRoom
from golive.hls.settings import HlsSettings
from golive.hls.window import LiveWindow
from golive.hub import StreamHub
from golive.logs import EscapeControlCharacters, JsonFormatter
from golive.media import Codec, Sample
from golive.node_metrics import NodeCollector, WorkerFigures, node_registry, rooms_source
from golive.transcode.events import LadderStatus
from golive.viewers import Audience


@pytest.mark.parametrize(
    ("path", "query", "kind"),
    [
        ("/hls/room/index.m3u8", "", "multivariant"),
        ("/hls/room/status.json", "", "status"),
        ("/hls/room/source/index.m3u8", "", "playlist"),
        ("/hls/room/source/index.m3u8", "_HLS_msn=3&_HLS_part=1", "blocking"),
        ("/hls/room/720p/part-1234.m4s", "", "part"),
        ("/hls/room/720p/seg-12.m4s", "", "segment"),
        ("/hls/room/source/init-1.mp4", "", "init"),
        ("/hls/room/source/nothing.txt", "", "other"),
        ("/hls/", "", "other"),
    ],
)
def test_hls_requests_are_told_apart_by_their_path(path: str, query: str, kind: str) -> None:
    assert metrics.hls_kind(path, query) == kind
    target = f"{path}?{query}" if query else path
    assert metrics.target_kind(target) == kind


def _request(target: str, peer: object = ("127.0.0.1", 40000)) -> Any:
    """A request over a connection with ``peer``: an (address, port) for TCP, "" for a unix
    socket."""
    protocol = mock.Mock()
    protocol.peername = peer
    return make_mocked_request("GET", target, protocol=protocol)


@pytest.mark.parametrize(
    "target",
    [
        "/hls/r/index.m3u8",
        "/hls/r/status.json",
        "/hls/r/source/index.m3u8",
        "/hls/r/source/index.m3u8?_HLS_msn=1",
        "/hls/r/source/part-7.m4s",
        "/hls/r/source/seg-7.m4s",
        "/hls/r/source/init-1.mp4",
        "/hls/r/x",
    ],
)
def test_a_request_is_counted_once_under_its_kind_and_status(target: str) -> None:
    kind = metrics.target_kind(target)
    before = metrics.hls_counts()[kind]
    metrics.count_hls_request(_request(target), 200)
    metrics.count_hls_request(_request(target), 404)
    after = metrics.hls_counts()[kind]
    assert after.get(200, 0) - before.get(200, 0) == 1
    assert after.get(404, 0) - before.get(404, 0) == 1


def test_a_workers_fetch_over_the_unix_socket_is_not_counted_by_the_primary() -> None:
    before = metrics.hls_counts()
    metrics.count_hls_request(_request("/hls/r/source/part-1.m4s", peer=""), 200)
    assert metrics.hls_counts() == before


def scrape(collector: NodeCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of a scrape, by name and sorted labels."""
    text = generate_latest(node_registry(collector)).decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


async def test_a_room_has_series_while_it_is_live_and_none_once_it_ends() -> None:
    hub = StreamHub(takeover_after=5.0)
    # The packager of another hub: this test's samples are no media to package.
    packager = Packager(StreamHub(takeover_after=5.0))
    audience = Audience()
    collector = NodeCollector([rooms_source(hub, packager, audience)])
    assert scrape(collector)["golive_live_rooms"] == {(): 0}
    assert scrape(collector).get("golive_ingest_bytes_total", {}) == {}

    stream = hub.open("alice")
    stream.push(Sample(Codec.AAC, 0, 0, False, b"x" * 100))
    stream.push(Sample(Codec.AAC, 21, 0, False, b"x" * 50))
    audience.seen("alice", audience.player("198.51.100.1", "hls.js"), "198.51.100.1")
    live = scrape(collector)
    room = (("room", "alice"),)
    assert live["golive_live_rooms"] == {(): 1}
    assert live["golive_ingest_bytes_total"] == {room: 150}
    assert live["golive_ingest_frames_total"] == {room: 2}
    assert live["golive_viewers"] == {room: 1}

    hub.close(stream)
    ended = scrape(collector)
    assert ended["golive_live_rooms"] == {(): 0}
    for name in ("golive_ingest_bytes_total", "golive_ingest_frames_total", "golive_viewers"):
        assert all(dict(labels).get("room") != "alice" for labels in ended.get(name, {}))
    await packager.close()


def _report(index: int, pid: int, parts: int, lag_buckets: list[float] | None = None) -> Any:
    buckets = lag_buckets or [0.0] * (len(metrics.LOOP_LAG_BUCKETS) + 1)
    return {
        "index": index,
        "pid": pid,
        "hls": {"part": {"200": parts}},
        "loop_lag": {"buckets": buckets, "sum": 0.5},
    }


def test_the_workers_totals_add_up_and_never_go_back_when_one_is_restarted() -> None:
    figures = WorkerFigures()
    collector = NodeCollector([], figures)
    parts = (("kind", "part"), ("status", "200"))
    own = scrape(collector)["golive_hls_requests_total"].get(parts, 0)

    figures.take(_report(1, 1001, 10, [3.0, 1.0] + [0.0] * 10))
    figures.take(_report(2, 1002, 5))
    assert scrape(collector)["golive_hls_requests_total"][parts] == own + 15
    # Worker 1 is restarted: its new process starts from zero, its predecessor's 10 stay.
    figures.take(_report(1, 1003, 2))
    samples = scrape(collector)
    assert samples["golive_hls_requests_total"][parts] == own + 17
    # Each worker's loop lag is a histogram of its own.
    assert samples["golive_worker_event_loop_lag_seconds_count"] == {
        (("worker", "1"),): 0,
        (("worker", "2"),): 0,
    }
    figures.take(_report(2, 1002, 6, [3.0, 1.0] + [0.0] * 10))
    samples = scrape(collector)
    assert samples["golive_worker_event_loop_lag_seconds_count"][(("worker", "2"),)] == 4
    assert (
        samples["golive_worker_event_loop_lag_seconds_bucket"][(("le", "0.001"), ("worker", "2"))]
        == 3
    )


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"index": 1, "pid": 1, "hls": [], "loop_lag": {"buckets": [], "sum": 0}},
        {"index": 0, "pid": 1, "hls": {}, "loop_lag": {"buckets": [], "sum": 0}},
        {"index": 1, "pid": 1, "hls": {"part": {"999": 1}}, "loop_lag": {"buckets": [], "sum": 0}},
        {"index": 1, "pid": 1, "hls": {"part": {"x": 1}}, "loop_lag": {"buckets": [], "sum": 0}},
    ],
)
def test_a_malformed_worker_report_is_refused(report: Any) -> None:
    with pytest.raises(ValueError, match="malformed"):
        WorkerFigures().take(report)


def test_a_worker_report_names_no_kind_outside_the_fixed_set() -> None:
    figures = WorkerFigures()
    report = _report(1, 1, 1)
    report["hls"]["../../etc"] = {"200": 5}
    figures.take(report)
    assert set(figures.workers[1].hls) == {"part"}


def test_a_workers_own_report_is_what_the_primary_takes() -> None:
    metrics.count_hls("segment", 200)
    figures = WorkerFigures()
    figures.take(json.loads(json.dumps(metrics.worker_report(3))))
    assert figures.workers[3].hls["segment"][200] >= 1


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(worker=2))
    handler.addFilter(EscapeControlCharacters())
    logger = logging.getLogger("golive.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.removeHandler(handler)


def test_a_json_log_line_carries_the_room_the_peer_and_the_event(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_log
    forged = "\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key\u202e"
    logger.info(
        "room %s is live",
        "r",
        extra={"room": "r" + forged, "peer": "127.0.0.1:5000", "event": "publish_started"},
    )
    logger.warning("plain %s", "line" + forged)
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3  # one line each, whatever was logged
    first, second = (json.loads(line) for line in lines[:2])
    assert first["level"] == "INFO" and first["logger"] == "golive.test-json"
    assert first["message"] == "room r is live"
    assert first["room"] == (
        "r\\n2026-12-01 12:00:00 INFO golive: user alice regenerated their stream key\\u202e"
    )
    assert first["peer"] == "127.0.0.1:5000" and first["event"] == "publish_started"
    assert first["worker"] == 2
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert "room" not in second and second["message"].startswith("plain line\\n2026")
    assert all(ord(c) < 128 for c in out.getvalue())


def test_log_format_is_text_or_json() -> None:
    assert config.load(environ={}).log_format == "text"
    assert config.load(environ={"GOLIVE_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(config.ConfigError, match="log_format"):
        config.load(environ={"GOLIVE_LOG_FORMAT": "xml"})
    settings = config.load(environ={"GOLIVE_METRICS_PORT": "9935"})
    assert settings.metrics_port == 9935
    assert settings.metrics_allow == "127.0.0.0/8, ::1" and settings.metrics_token == ""


async def test_a_live_rooms_ladder_is_reported_with_it() -> None:
    hub = StreamHub(takeover_after=5.0)
    packager = Packager(StreamHub(takeover_after=5.0))
    collector = NodeCollector([rooms_source(hub, packager, Audience())])
    room = packager.rooms["carol"] = HlsRoom("carol", HlsSettings())
    room.ladder = LadderStatus(
        worker="thread",
        planned=["720p", "480p", "360p"],
        active=["480p", "360p"],
        dropped=[{"name": "720p", "lag": 3.2, "at": 0.0}],
        lag=1.25,
    )
    assert "golive_ladder_lag_seconds" not in scrape(collector)  # not live: no series
    stream = hub.open("carol")
    found = scrape(collector)
    assert found["golive_ladder_renditions"] == {
        (("room", "carol"), ("state", "active")): 2,
        (("room", "carol"), ("state", "dropped")): 1,
    }
    assert found["golive_ladder_lag_seconds"] == {(("room", "carol"),): 1.25}
    hub.close(stream)
    assert "golive_ladder_lag_seconds" not in scrape(collector)
    await packager.close()


def test_part_lateness_counts_from_the_promptest_part_of_the_timeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(window_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    window = LiveWindow("lateness-test", part_target=0.2, segment_target=2.0)
    observed: list[float] = []
    monkeypatch.setattr(window, "_lateness", SimpleNamespace(observe=observed.append))

    def part_cut(start_ms: int, at: float) -> None:
        now[0] = at
        window._observe_lateness(SimpleNamespace(start_ms=start_ms, duration=0.2))  # type: ignore[arg-type]
        window._clock_anchor = (0, 0.0)  # as _part sets it after the first part

    part_cut(0, 100.2)  # the first part: its own zero point
    part_cut(200, 100.45)  # 50 ms later than the first
    part_cut(400, 100.55)  # earlier than any: the new zero point
    part_cut(600, 100.8)
    window._clock_anchor = None  # a new timeline (a discontinuity, a new publish)
    part_cut(0, 200.2)
    assert [round(x, 3) for x in observed] == [0.0, 0.05, 0.0, 0.05, 0.0]
