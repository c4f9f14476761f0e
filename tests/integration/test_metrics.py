"""/metrics as bootstrap serves it: to loopback only by default, to the networks of
metrics_allow, with metrics_token's bearer token, never through a proxy golive does not
trust, on the HTTP port or a port of its own; and what it reports of a room and of HLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers
from golive.bootstrap import ACCOUNTS, HUB, RTMP, Stores, build_app
from golive.config import Settings
from golive.rtmp.limits import RtmpLimits
from golive.transcode.ladder import ladder_from_table
from tests.harness.ports import free_port
from tests.harness.rtmp_client import AVC_KEYFRAME, TestPublisher, publishing

Client = TestClient[Any, Any]


@asynccontextmanager
async def golive_app(tmp_path: Path, **settings: Any) -> AsyncIterator[Client]:
    values = {"host": "127.0.0.1", "rtmp_port": 0, "data_dir": str(tmp_path), **settings}
    app = build_app(Settings(**values), Stores(MemoryUsers(), MemorySessions(), MemoryRooms()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


async def refusal(resp: aiohttp.ClientResponse, status: int, code: str) -> str:
    assert resp.status == status
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == code
    assert resp.headers["Cache-Control"] == "no-store"
    message: str = error["message"]
    return message


async def test_metrics_are_served_to_loopback_by_default(tmp_path: Path) -> None:
    async with golive_app(tmp_path) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        found = samples(await resp.text())
        for name in (
            "golive_live_rooms",
            "golive_rtmp_connections",
            "golive_publishes_refused_total",
            "golive_accounts_logins_total",
            "golive_throttle_refusals_total",
            "golive_hls_waiting_requests",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        ):
            assert name in found, name
        assert found["golive_publishes_refused_total"][(("reason", "unknown_key"),)] == 0


async def test_a_client_outside_metrics_allow_is_refused_with_a_json_403(tmp_path: Path) -> None:
    async with golive_app(tmp_path, metrics_allow="10.0.0.0/8, 2001:db8::/32") as client:
        message = await refusal(await client.get("/metrics"), 403, "forbidden")
        assert "metrics_allow" in message
    async with golive_app(tmp_path, metrics_allow="") as client:
        await refusal(await client.get("/metrics"), 403, "forbidden")


async def test_with_metrics_token_a_missing_or_wrong_token_is_a_401(tmp_path: Path) -> None:
    async with golive_app(tmp_path, metrics_token="s3cret-token") as client:
        resp = await client.get("/metrics")
        assert "metrics_token" in await refusal(resp, 401, "unauthorized")
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        for wrong in ("Bearer nope", "Basic czNjcmV0LXRva2Vu", "s3cret-token", "Bearer"):
            resp = await client.get("/metrics", headers={"Authorization": wrong})
            await refusal(resp, 401, "unauthorized")
        resp = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert resp.status == 200
    # The allow-list still applies to a client with the token.
    async with golive_app(tmp_path, metrics_token="t", metrics_allow="10.0.0.0/8") as client:
        resp = await client.get("/metrics", headers={"Authorization": "Bearer t"})
        await refusal(resp, 403, "forbidden")


async def test_through_a_proxy_only_a_trusted_one_and_its_client_count(tmp_path: Path) -> None:
    # A proxy on loopback that golive was not told about: its clients could be anyone.
    async with golive_app(tmp_path) as client:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Via", "X-Forwarded-Proto"):
            resp = await client.get("/metrics", headers={header: "127.0.0.1"})
            assert "proxy" in await refusal(resp, 403, "forbidden"), header
    # A trusted proxy: the client it names is the one the allow-list judges.
    async with golive_app(tmp_path, trusted_proxies="127.0.0.1") as client:
        resp = await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
        await refusal(resp, 403, "forbidden")
        resp = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert resp.status == 200


async def test_on_a_port_of_its_own_metrics_leave_the_http_port(tmp_path: Path) -> None:
    port = free_port()
    async with golive_app(tmp_path, metrics_port=port) as client:
        # There /metrics is a page's name: whatever the pages answer, not the metrics.
        resp = await client.get("/metrics")
        assert not resp.headers.get("Content-Type", "").startswith("text/plain; version=")
        assert "golive_live_rooms" not in await resp.text()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as own:
                assert own.status == 200
                assert "golive_live_rooms" in samples(await own.text())
            async with session.get(f"http://127.0.0.1:{port}/api/health") as other:
                assert other.status == 404


async def test_a_rooms_series_come_and_go_with_it_and_hls_requests_are_counted(
    tmp_path: Path,
) -> None:
    async with golive_app(tmp_path) as client:

        async def scrape() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
            resp = await client.get("/metrics")
            assert resp.status == 200
            return samples(await resp.text())

        missing = (("kind", "multivariant"), ("status", "404"))
        before = (await scrape())["golive_hls_requests_total"].get(missing, 0)
        for _ in range(3):
            assert (await client.get("/hls/nobody/index.m3u8")).status == 404
        found = await scrape()
        assert found["golive_hls_requests_total"][missing] == before + 3

        hub = client.app[HUB]  # type: ignore[union-attr]
        stream = hub.open("bob")

        def room(name: str) -> dict[tuple[tuple[str, str], ...], float]:
            return {
                labels: v for labels, v in found.get(name, {}).items() if ("room", "bob") in labels
            }

        found = await scrape()
        assert found["golive_live_rooms"] == {(): 1}
        assert room("golive_ingest_bytes_total") == {(("room", "bob"),): 0}
        hub.close(stream)
        found = await scrape()
        assert found["golive_live_rooms"] == {(): 0}
        assert room("golive_ingest_bytes_total") == {}
        assert room("golive_viewers") == {}


async def test_publishes_are_counted_by_outcome_and_connections_by_state(tmp_path: Path) -> None:
    limits = RtmpLimits(max_unpublished_per_address=1)
    no_ladder = ladder_from_table({"enabled": False})  # the frame sent is no picture
    async with golive_app(tmp_path, rtmp=limits, transcode=no_ladder) as client:
        app = client.app
        assert app is not None
        user = await app[ACCOUNTS].sign_up("alice", "alice@example.org", "a long password")

        async def scrape() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
            resp = await client.get("/metrics")
            return samples(await resp.text())

        port = app[RTMP].port
        try:
            unknown = await TestPublisher.connect(port)
            await unknown.publish("not-a-stream-key")
            await unknown.expect_status("NetStream.Publish.Denied")
            unknown.close()
            live = await publishing(port, user.stream_key)
            busy = await TestPublisher.connect(port)
            await busy.publish(user.stream_key)
            await busy.expect_status("NetStream.Publish.BadName")
            # One connection not publishing yet from this address at most: the next one
            # closes the quietest.
            quiet = await TestPublisher.connect(port)
            idle = await TestPublisher.connect(port)
            assert await quiet.closed_by_server()
            found = await scrape()
            refused = found["golive_publishes_refused_total"]
            assert refused[(("reason", "unknown_key"),)] == 1
            assert refused[(("reason", "busy"),)] == 1
            assert refused[(("reason", "error"),)] == 0
            assert found["golive_publishes_started_total"] == {(): 1}
            states = found["golive_rtmp_connections"]
            assert states[(("state", "publishing"),)] == 1
            assert states[(("state", "connected"),)] == 1  # idle
            limited = found["golive_rtmp_connections_limited_total"]
            assert limited[(("limit", "max_unpublished_per_address"),)] >= 1
            # A frame: its bytes are the NAL units (the FLV video tag's 5-byte header off).
            await live.send(9, AVC_KEYFRAME, 0, stream_id=1, csid=6)
            room = (("room", "alice"),)
            for _ in range(100):
                found = await scrape()
                if found["golive_ingest_frames_total"][room] == 1:
                    break
                await asyncio.sleep(0.02)
            assert found["golive_ingest_frames_total"][room] == 1
            assert found["golive_ingest_bytes_total"][room] == len(AVC_KEYFRAME) - 5
            live.close()
            idle.close()
        finally:
            for publisher in TestPublisher.opened:
                publisher.close()
            TestPublisher.opened.clear()


async def test_sign_ups_logins_and_throttles_are_counted(tmp_path: Path) -> None:
    async with golive_app(tmp_path) as client:
        user = {"username": "dave", "email": "dave@example.org", "password": "a long password"}
        assert (await client.post("/api/users", json=user)).status == 201
        right = {"username": "dave", "password": "a long password"}
        wrong = {"username": "dave", "password": "not the password"}
        resp = await client.post("/api/sessions", json=right)
        assert resp.status == 201
        token = (await resp.json())["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.delete("/api/sessions/current", headers=bearer)).status == 204
        statuses = [(await client.post("/api/sessions", json=wrong)).status for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        found = samples(await (await client.get("/metrics")).text())
        assert found["golive_accounts_sign_ups_total"] == {(): 1}
        assert found["golive_accounts_logins_total"] == {(): 1}
        assert found["golive_accounts_logouts_total"] == {(): 1}
        assert found["golive_accounts_logins_failed_total"] == {(): 10}
        assert found["golive_accounts_logins_throttled_total"] == {(): 1}
        refused = found["golive_throttle_refusals_total"]
        # The client kept the device cookie of its login: its attempts count against that
        # device (golive.accounts.devices), and that key is the one over its limit.
        assert refused[(("key", "dev"), ("throttle", "login"))] == 1
        assert sum(refused.values()) == 1
        assert found["golive_throttle_locked_keys"][(("throttle", "login"),)] == 1
