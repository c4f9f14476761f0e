"""The OpenAPI 3.1 document against the application: the same operations, and answers, for
any input schemathesis can make of the document, that keep to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from golive.accounts.services import Accounts, LiveRooms
from golive.accounts.throttle import LoginThrottle
from golive.adapters.hub import HubPublishes
from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers, PlainHasher
from golive.api.openapi import OPENAPI
from golive.api.routes import setup_api
from golive.hub import StreamHub
from tests.harness.api import PASSWORD, open_api

# Routes outside these belong to others (HLS, the web pages) and to their own documents.
DOCUMENTED_PREFIXES = ("/api/", "/rooms/")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        # aiohttp adds HEAD to every GET; it is not a separate operation of the API.
        if path.startswith(DOCUMENTED_PREFIXES) and route.method != "HEAD":
            operations.add((route.method, path))
    return operations


def document_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in METHODS
    }


def test_the_document_lists_exactly_the_routes_of_the_router() -> None:
    app = web.Application()
    users = MemoryUsers()
    accounts = Accounts(users, MemorySessions(), PlainHasher(), session_ttl=timedelta(days=1))
    hub = StreamHub(takeover_after=5.0)
    rooms = LiveRooms(users, MemoryRooms(), HubPublishes(hub), node="n", ttl=30.0)
    setup_api(app, hub, accounts, rooms, rtmp_port=1935, nginx_callbacks=True)
    assert router_operations(app) == document_operations()
    assert ("POST", "/rooms/create") in document_operations()


def _refs(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_the_document_is_well_formed() -> None:
    assert OPENAPI["openapi"] == "3.1.0"
    components = OPENAPI["components"]
    for ref in set(_refs(OPENAPI)):
        kind, name = ref.removeprefix("#/components/").split("/")
        assert name in components[kind], ref
    # Each schema is a valid JSON Schema 2020-12 (OpenAPI 3.1, 4.8.24).
    for schema in components["schemas"].values():
        jsonschema_rs.meta.validate(schema)
    for item in OPENAPI["paths"].values():
        for method, operation in item.items():
            assert method in METHODS
            assert operation["responses"], operation
            for status in operation["responses"]:
                assert status.isdigit()
    # Every error response is the one Error shape.
    for response in components["responses"].values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


# -- property-based: schemathesis against a real loopback port --------------------------------


@dataclass
class Served:
    url: str
    session: requests.Session

    def fresh_token(self) -> str:
        resp = self.session.post(
            f"{self.url}/api/sessions", json={"username": "fuzzer", "password": PASSWORD}
        )
        assert resp.status_code == 201, resp.text
        token: str = resp.json()["token"]
        return token


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The application on 127.0.0.1:<free port>, on its own event loop in a thread.

    schemathesis sends its requests with ``requests``, which blocks: on the test's own loop
    it would wait for a server that can never answer, so the server gets a loop of its own.
    """
    path: Path = tmp_path_factory.mktemp("openapi")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        # No login throttle to speak of: thousands of generated logins share one address.
        app, accounts, _rooms, _hub, close = await open_api(path, LoginThrottle(limit=10**9))
        runner = web.AppRunner(app, access_log=None)
        try:
            await accounts.sign_up("fuzzer", "fuzzer@example.com", PASSWORD)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            state["port"] = runner.addresses[0][1]
            state["stop"] = stop = asyncio.Event()
            started.set()
            await stop.wait()
        finally:
            await runner.cleanup()
            await close()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            state["error"] = exc
        finally:
            started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=run, name="golive-openapi-server")
    thread.start()
    started.wait(30)
    if "error" in state or "port" not in state:
        thread.join(5)
        raise RuntimeError("the server did not start") from state.get("error")
    session = requests.Session()
    try:
        yield Served(f"http://127.0.0.1:{state['port']}", session)
    finally:
        session.close()
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        assert not thread.is_alive()
        if "error" in state:
            raise state["error"]


SCHEMA = schemathesis.openapi.from_dict(OPENAPI)


def _operations() -> Iterator[schemathesis.APIOperation[Any, Any, Any, Any]]:
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):  # schemathesis could not read an operation: a bad document
            raise result.err()
        yield result.ok()


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Negative cases only where there is a body to get wrong: an operation without one, or with
# only a free-form string in its path, has no input that the document calls invalid.
CASES = [
    pytest.param(op.label, mode, id=f"{op.label}-{mode.value}")
    for op in _operations()
    for mode in (POSITIVE, NEGATIVE)
    if mode is POSITIVE or "requestBody" in OPENAPI["paths"][op.path][op.method.lower()]
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize(("label", "mode"), CASES)
@settings(
    max_examples=50,
    deadline=None,
    database=None,  # a failure prints its seed; the run writes nothing into the tree
    # The module's server is shared on purpose; conftest's autouse caplog is harmless here.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much, HealthCheck.data_too_large],
)  # fmt: skip
@given(data=st.data())
def test_every_answer_keeps_to_the_document(
    served: Served, label: str, mode: schemathesis.GenerationMode, data: st.DataObject
) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    case = data.draw(operation.as_strategy(generation_mode=mode))
    headers: dict[str, str] = {}
    # Half the cases with a session, half without: both paths must keep to the document.
    secured = OPENAPI["paths"][operation.path][operation.method.lower()].get("security")
    if secured and data.draw(st.booleans(), label="authenticated"):
        headers["Authorization"] = f"Bearer {served.fresh_token()}"
    case.call_and_validate(
        base_url=served.url, session=served.session, headers=headers, checks=CHECKS
    )
