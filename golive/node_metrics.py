"""/metrics: the node's figures in the Prometheus text format (docs/metrics.md lists them).

Most figures are read when Prometheus scrapes, from what golive keeps anyway (the RTMP
connections, the hub's streams and their byte and frame counts, the packager's windows and
the requests they hold, the audience, the ladders' status, the accounts' counts): a scrape
costs a walk over the live rooms, and nothing is paid between scrapes. What happens and is
gone (an HLS request, a part cut, a late loop turn) is counted as it happens, by golive.metrics.

A room is a label only while it is live in the stream hub: its series are gone from the next
scrape after it ends, so room labels are bounded by the RTMP connection limit. No other label
is a peer's string: the kinds of HLS requests, the statuses golive answers, the refusal
reasons, the RTMP session states, the limits and the throttles' keys are fixed sets.

/metrics names rooms and tells the node's load: it is served to the networks of
``metrics_allow`` only (loopback by default), with a bearer token if ``metrics_token`` is
set, and never through a proxy golive does not trust (``MetricsAccess``).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from .accounts.services import ACCOUNT_COUNTS, Accounts
from .hls.packager import Packager
from .http_errors import error_response
from .hub import StreamHub
from .metrics import (
    HLS_KINDS,
    LADDER_DROPS,
    LOOP_LAG,
    LOOP_LAG_BUCKETS,
    PART_LATENESS,
    hls_counts,
)
from .proxies import Network
from .rtmp.connection import State
from .rtmp.server import REFUSAL_KINDS, RtmpServer
from .viewers import Audience

log = logging.getLogger("golive.metrics")

# --- HTTP workers' totals ------------------------------------------------------------------


@dataclass
class _WorkerTotals:
    pid: int
    hls: dict[str, dict[int, int]]
    loop_buckets: list[float]
    loop_sum: float


@dataclass
class WorkerFigures:
    """The latest totals of each HTTP worker, as the primary has them. A worker that was
    restarted starts from zero: what its predecessor had counted is kept in ``retired``, so
    the node's request counters never go back."""

    workers: dict[int, _WorkerTotals] = field(default_factory=dict)
    retired: dict[str, dict[int, int]] = field(default_factory=dict)

    def take(self, report: Any) -> None:
        """A worker's report; ValueError when it is malformed."""
        try:
            index, pid = int(report["index"]), int(report["pid"])
            hls = {
                str(kind): {int(s): int(n) for s, n in statuses.items()}
                for kind, statuses in report["hls"].items()
                if kind in HLS_KINDS
            }
            lag = report["loop_lag"]
            buckets = [float(n) for n in lag["buckets"]][: len(LOOP_LAG_BUCKETS) + 1]
            total = float(lag["sum"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed worker report: {exc!r}") from None
        if not 1 <= index <= 256 or any(not 100 <= s <= 599 for st in hls.values() for s in st):
            raise ValueError("malformed worker report: index or status out of range")
        old = self.workers.get(index)
        if old is not None and old.pid != pid:
            _add(self.retired, old.hls)
        self.workers[index] = _WorkerTotals(pid, hls, buckets, total)

    def forget(self, index: int) -> None:
        """Worker ``index`` is gone for good (the node is stopping)."""
        old = self.workers.pop(index, None)
        if old is not None:
            _add(self.retired, old.hls)


def _add(into: dict[str, dict[int, int]], counts: dict[str, dict[int, int]]) -> None:
    for kind, statuses in counts.items():
        target = into.setdefault(kind, {})
        for status, n in statuses.items():
            target[status] = target.get(status, 0) + n


def worker_metrics_report(
    figures: WorkerFigures, is_internal: Callable[[web.Request], bool]
) -> Handler:
    """``POST`` of a worker's totals (``worker_report``), over the unix socket only."""

    async def take_report(request: web.Request) -> web.StreamResponse:
        if not is_internal(request):
            raise web.HTTPNotFound()
        try:
            figures.take(json.loads(await request.read()))
        except ValueError:
            log.warning("a worker's metrics report was malformed")
            raise web.HTTPBadRequest() from None
        return web.Response(status=204)

    return take_report


# --- the node, read at a scrape ------------------------------------------------------------


class NodeCollector(Collector):
    """Every figure of the node that is read at a scrape; ``sources`` are functions that
    each yield metric families (golive.bootstrap wires them to the running parts), so this
    module needs none of them."""

    def __init__(
        self,
        sources: Iterable[Callable[[], Iterable[Metric]]],
        workers: WorkerFigures | None = None,
    ) -> None:
        self.sources = list(sources)
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            try:
                yield from source()
            except Exception:  # a broken figure must not take the others down
                log.exception("a metric could not be read")
        yield from self._hls_requests()
        yield from self._workers()

    def _hls_requests(self) -> Iterator[Metric]:
        totals = hls_counts()
        if self.workers is not None:
            _add(totals, self.workers.retired)
            for worker in self.workers.workers.values():
                _add(totals, worker.hls)
        family = CounterMetricFamily(
            "golive_hls_requests",
            "HLS requests answered to clients by every process of the node, by what they asked "
            "for and the status of the answer.",
            labels=["kind", "status"],
        )
        for kind in HLS_KINDS:
            # Every kind has its 200 series from the start, so that rate() sees the first ones.
            for status, n in sorted({200: 0, **totals.get(kind, {})}.items()):
                family.add_metric([kind, str(status)], n)
        yield family

    def _workers(self) -> Iterator[Metric]:
        if self.workers is None:
            return
        lag = HistogramMetricFamily(
            "golive_worker_event_loop_lag_seconds",
            "golive_event_loop_lag_seconds of each HTTP worker.",
            labels=["worker"],
        )
        cpu = CounterMetricFamily(
            "golive_worker_cpu_seconds",
            "User and system CPU time of each HTTP worker.",
            labels=["worker"],
        )
        rss = GaugeMetricFamily(
            "golive_worker_resident_memory_bytes",
            "Resident memory of each HTTP worker.",
            labels=["worker"],
        )
        fds = GaugeMetricFamily(
            "golive_worker_open_fds",
            "Open file descriptors of each HTTP worker.",
            labels=["worker"],
        )
        for index, worker in sorted(self.workers.workers.items()):
            name = str(index)
            cumulative, buckets = 0.0, []
            bounds = [*(str(b) for b in LOOP_LAG_BUCKETS), "+Inf"]
            for bound, n in zip(bounds, worker.loop_buckets, strict=False):
                cumulative += n
                buckets.append((bound, cumulative))
            if len(buckets) == len(bounds):
                lag.add_metric([name], buckets, worker.loop_sum)
            process = ProcessCollector(pid=functools.partial(int, worker.pid), registry=None)
            for metric in process.collect():
                for sample in metric.samples:
                    if sample.name == "process_cpu_seconds_total":
                        cpu.add_metric([name], sample.value)
                    elif sample.name == "process_resident_memory_bytes":
                        rss.add_metric([name], sample.value)
                    elif sample.name == "process_open_fds":
                        fds.add_metric([name], sample.value)
        yield from (lag, cpu, rss, fds)


def node_registry(collector: NodeCollector) -> CollectorRegistry:
    """The registry a scrape reads: this process (CPU, memory, file descriptors), the
    histograms, and the node's figures."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    registry.register(PART_LATENESS)
    registry.register(LOOP_LAG)
    registry.register(LADDER_DROPS)
    registry.register(collector)
    return registry


# --- who may scrape ------------------------------------------------------------------------

# Headers a reverse proxy adds: a request carrying one came through a proxy, and its peer
# address is the proxy's, not the client's.
FORWARDING_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
    "Via",
)


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read /metrics: clients in ``allow`` (loopback by default), with the bearer
    ``token`` when one is set. Rooms are named in the metrics, and so are the node's load
    and limits: not for everyone."""

    allow: list[Network]
    token: str = ""
    # Whether a proxy in front of golive is trusted to name the client (trusted_proxies):
    # without one, a request that came through a proxy is refused, since its peer (the
    # proxy, often on loopback) says nothing of who asks.
    proxies_trusted: bool = False

    def refusal(self, request: web.BaseRequest, internal: bool) -> web.Response | None:
        """The answer that refuses ``request``, or None if it may read the metrics."""
        if not self.proxies_trusted:
            headers = request.headers
            for name in FORWARDING_HEADERS:
                value = headers.get(name)
                # A worker names the client in X-Forwarded-For; more than one address there
                # means a proxy before the worker did too.
                if value is not None and not (
                    internal and name == "X-Forwarded-For" and "," not in value
                ):
                    return error_response(
                        403,
                        "forbidden",
                        "metrics are not served through a proxy that is not in trusted_proxies",
                    )
        try:
            address = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is None or not any(address in net for net in self.allow):
            return error_response(
                403, "forbidden", "this client may not read the metrics (metrics_allow)"
            )
        if self.token:
            scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return error_response(
                    401,
                    "unauthorized",
                    "a bearer token is needed to read the metrics (metrics_token)",
                    headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="golive metrics"'},
                )
        return None


def metrics_handler(
    registry: CollectorRegistry,
    access: MetricsAccess,
    is_internal: Callable[[web.BaseRequest], bool] = lambda request: False,
) -> Handler:
    """``GET /metrics``: the registry in the Prometheus text format, to whom ``access`` lets."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        refused = access.refusal(request, is_internal(request))
        if refused is not None:
            refused.headers[hdrs.CACHE_CONTROL] = "no-store"
            return refused
        body = generate_latest(registry)
        return web.Response(
            body=body,
            headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST, hdrs.CACHE_CONTROL: "no-store"},
        )

    return metrics


# --- the figures of the running parts ----------------------------------------------------

Source = Callable[[], Iterable[Metric]]


def rtmp_source(server: RtmpServer) -> Source:
    def collect() -> Iterator[Metric]:
        states = dict.fromkeys((s.value for s in State), 0)
        for conn in server.connections:
            states[conn.core.state.value] += 1
        connections = GaugeMetricFamily(
            "golive_rtmp_connections",
            "RTMP connections open, by the state of their session.",
            labels=["state"],
        )
        for state, n in states.items():
            connections.add_metric([state], n)
        yield connections
        limited = CounterMetricFamily(
            "golive_rtmp_connections_limited",
            "RTMP connections refused, or closed to make room for a newcomer, by the limit "
            "that was reached (its setting).",
            labels=["limit"],
        )
        for setting in ("max_unpublished_per_address", "max_unpublished", "max_connections"):
            limited.add_metric([setting], server.limited.get(setting, 0))
        yield limited
        yield CounterMetricFamily(
            "golive_publishes_started", "Publishes accepted.", value=server.publishes
        )
        refused = CounterMetricFamily(
            "golive_publishes_refused", "Publishes refused, by reason.", labels=["reason"]
        )
        for reason in REFUSAL_KINDS:
            refused.add_metric([reason], server.refusals[reason])
        yield refused

    return collect


def rooms_source(hub: StreamHub, packager: Packager, audience: Audience) -> Source:
    def collect() -> Iterator[Metric]:
        streams = list(hub.streams.values())
        yield GaugeMetricFamily("golive_live_rooms", "Rooms live on this node.", value=len(streams))
        ingest_bytes = CounterMetricFamily(
            "golive_ingest_bytes",
            "Media bytes received from the room's publisher in its current publish.",
            labels=["room"],
        )
        frames = CounterMetricFamily(
            "golive_ingest_frames",
            "Audio and video frames received from the room's publisher in its current publish.",
            labels=["room"],
        )
        viewers = GaugeMetricFamily(
            "golive_viewers",
            "Distinct players that fetched the room's playlists in the last 30 s.",
            labels=["room"],
        )
        active = GaugeMetricFamily(
            "golive_ladder_renditions",
            "Transcoded renditions of the room, by whether they are still made or were dropped.",
            labels=["room", "state"],
        )
        lag = GaugeMetricFamily(
            "golive_ladder_lag_seconds",
            "How far behind real time the room's transcoding ladder is, as of its last sample.",
            labels=["room"],
        )
        for stream in streams:
            room = stream.room
            ingest_bytes.add_metric([room], stream.bytes)
            frames.add_metric([room], stream.samples)
            viewers.add_metric([room], audience.count(room))
            hls = packager.rooms.get(room)
            ladder = hls.ladder if hls is not None else None
            if ladder is not None:
                active.add_metric([room, "active"], len(ladder.active))
                active.add_metric([room, "dropped"], len(ladder.dropped))
                lag.add_metric([room], ladder.lag)
        yield from (ingest_bytes, frames, viewers, active, lag)
        waiting = sum(
            window.waiting for hls in packager.rooms.values() for window in hls.windows.values()
        )
        yield GaugeMetricFamily(
            "golive_hls_waiting_requests",
            "HLS requests held until a part exists (blocking playlist reloads, preload-hinted "
            "parts), in this process.",
            value=waiting,
        )

    return collect


def accounts_source(accounts: Accounts) -> Source:
    def collect() -> Iterator[Metric]:
        for name in ACCOUNT_COUNTS:
            yield CounterMetricFamily(
                f"golive_accounts_{name}", _ACCOUNT_HELP[name], value=accounts.counts[name]
            )
        refused = CounterMetricFamily(
            "golive_throttle_refusals",
            "Attempts a throttle refused, by throttle (login, sign-up) and the kind of key "
            "over its limit (pair: account and address, user, addr, dev: a trusted device).",
            labels=["throttle", "key"],
        )
        locked = GaugeMetricFamily(
            "golive_throttle_locked_keys",
            "Keys a throttle has found over their limit and that have not lifted yet.",
            labels=["throttle"],
        )
        for throttle in (accounts.throttle, accounts.signup_throttle):
            for key, n in throttle.refused.items():
                refused.add_metric([throttle.name, key], n)
            locked.add_metric([throttle.name], throttle.locked)
        yield from (refused, locked)

    return collect


_ACCOUNT_HELP = {
    "sign_ups": "Accounts created.",
    "logins": "Logins that opened a session.",
    "logins_failed": "Logins refused for a wrong username or password.",
    "logins_throttled": "Logins refused by the login throttle before the password was checked.",
    "logouts": "Sessions ended by logging out.",
    "sessions_expired": "Expired sessions purged.",
}


class RecordingFigures(Protocol):
    """What the recorder (golive.recordings) tells: read at scrape time."""

    @property
    def pauses(self) -> int: ...

    @property
    def paused_recordings(self) -> int: ...


def recordings_source(recorder: RecordingFigures) -> Source:
    def collect() -> Iterator[Metric]:
        yield CounterMetricFamily(
            "golive_recording_pauses",
            "Times a recording paused: a full disk, the free-space floor, the size limit, or "
            "the writer behind. Live streaming goes on; the recording resumes at a keyframe.",
            value=recorder.pauses,
        )
        yield GaugeMetricFamily(
            "golive_recordings_paused",
            "Recordings paused now, waiting for room on the disk.",
            value=recorder.paused_recordings,
        )

    return collect
