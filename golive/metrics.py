"""golive's instruments for the Prometheus metrics (docs/metrics.md lists them and says what
they mean): what is counted as it happens, in every process, with no dependency on the rest of
golive, so that any part may count (golive.node_metrics reads the rest at a scrape and serves
/metrics).

- An HLS request is one increment in a table of plain integers by kind and status
  (``count_hls_request``), no lock and no object made: the HLS path is golive's hottest.
- Part lateness, event-loop lag and dropped renditions are prometheus-client metrics,
  observed a few times a second at most.

With HTTP workers (golive.edge), each worker counts the HLS requests it answers and its loop
lag, and sends its totals (``worker_report``) to the primary over the unix socket every few
seconds, which adds them to its own (docs/architecture.md, "Metrics").
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from aiohttp import web

METRICS_PATH = "/metrics"
# Where a worker sends its totals (POST, over the unix socket only).
WORKER_METRICS_PATH = "/_workers/metrics"

# --- HLS requests, counted as they are answered ---------------------------------------------

# What an HLS URL names (golive.hls.routes); "other" for anything else under /hls/.
HLS_KINDS = ("multivariant", "status", "playlist", "blocking", "part", "segment", "init", "other")
# Requests answered, by kind and status: plain integers, read at a scrape.
_hls_requests: dict[str, dict[int, int]] = {kind: {} for kind in HLS_KINDS}


def hls_kind(path: str, query: str) -> str:
    """The kind of an HLS request, from its path (``/hls/ROOM/...``) and query string: a
    few suffix tests, no allocation."""
    if path.endswith(".m4s"):
        return "part" if "/part-" in path else "segment"
    if path.endswith(".m3u8"):
        if path.count("/") == 3:
            return "multivariant"
        return "blocking" if "_HLS_msn" in query else "playlist"
    if path.endswith(".mp4"):
        return "init"
    if path.endswith("/status.json"):
        return "status"
    return "other"


def target_kind(target: str) -> str:
    """``hls_kind`` of a request target (a path with its query, if any)."""
    query = target.find("?")
    if query < 0:
        return hls_kind(target, "")
    return hls_kind(target[:query], target[query:])


def count_hls_request(request: web.BaseRequest, status: int) -> None:
    """An HLS request answered with ``status``; the one call on the HLS path. A worker's
    fetch over the unix socket is not counted here: the worker counts what its clients ask."""
    protocol = request.protocol
    if protocol is not None:
        peer = protocol.peername
        if peer is not None and peer.__class__ is not tuple:
            return  # a unix socket's peer: one of this node's HTTP workers
    path = request.path
    # hls_kind, inlined: the query string is read only for a media playlist.
    if path.endswith(".m4s"):
        kind = "part" if "/part-" in path else "segment"
    elif path.endswith(".m3u8"):
        if path.count("/") == 3:
            kind = "multivariant"
        else:
            kind = "blocking" if "_HLS_msn" in request.query_string else "playlist"
    else:
        kind = hls_kind(path, "")
    statuses = _hls_requests[kind]
    try:
        statuses[status] += 1
    except KeyError:
        statuses[status] = 1


def count_hls(kind: str, status: int) -> None:
    statuses = _hls_requests[kind]
    try:
        statuses[status] += 1
    except KeyError:
        statuses[status] = 1


def hls_counts() -> dict[str, dict[int, int]]:
    """This process's HLS requests so far, by kind and status (a copy)."""
    return {kind: dict(statuses) for kind, statuses in _hls_requests.items()}


# --- what happens a few times a second: prometheus-client histograms -----------------------

PART_LATENESS = Histogram(
    "golive_hls_part_lateness_seconds",
    "How late a part is completed after its nominal end: the time it was cut minus its end "
    "in media time, less the smallest such difference of its rendition's current timeline "
    "(scripts/bench_parts.py's zero point).",
    ["rendition"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=None,
)
LADDER_DROPS = Counter(
    "golive_ladder_renditions_dropped",
    "Renditions the transcoding ladders dropped for falling behind real time (max_lag), by "
    "rendition.",
    ["rendition"],
    registry=None,
)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LOOP_LAG = Histogram(
    "golive_event_loop_lag_seconds",
    "How much later than asked a sleep of the event loop returns (its overshoot).",
    buckets=LOOP_LAG_BUCKETS,
    registry=None,
)
# Seconds between two loop-lag probes. Each probe wakes an otherwise idle loop, and on a node
# with one stream those wake-ups were a tenth of its CPU at 4 a second; once a second still
# catches every stall longer than a second and a share of the shorter ones, which is what a
# histogram over minutes needs.
LOOP_PROBE_EVERY = 1.0


async def probe_loop_lag(every: float = LOOP_PROBE_EVERY) -> None:
    """Sleep ``every`` seconds again and again, observing how late each sleep returns."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(every)
        LOOP_LAG.observe(max(0.0, loop.time() - start - every))


def _histogram_state(histogram: Histogram) -> tuple[list[float], float]:
    """(count per bucket, not cumulative; sum) of an unlabelled histogram."""
    buckets: list[float] = []
    total = 0.0
    for metric in histogram.collect():
        previous = 0.0
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append(sample.value - previous)
                previous = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return buckets, total


def worker_report(index: int) -> dict[str, Any]:
    """What a worker sends the primary: its totals since it started."""
    buckets, total = _histogram_state(LOOP_LAG)
    return {
        "index": index,
        "pid": os.getpid(),
        "hls": {kind: {str(s): n for s, n in st.items()} for kind, st in hls_counts().items()},
        "loop_lag": {"buckets": buckets, "sum": total},
    }


__all__ = [
    "HLS_KINDS",
    "LADDER_DROPS",
    "LOOP_LAG",
    "LOOP_LAG_BUCKETS",
    "METRICS_PATH",
    "PART_LATENESS",
    "WORKER_METRICS_PATH",
    "count_hls",
    "count_hls_request",
    "hls_counts",
    "hls_kind",
    "probe_loop_lag",
    "target_kind",
    "worker_report",
]
