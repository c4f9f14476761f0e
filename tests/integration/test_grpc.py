"""The users service over gRPC (golive/rpc/server.py) and the remote users adapter
(golive/adapters/grpc_users.py), on real sockets: a generic client that knows nothing of
golive's .proto (reflection and health, as grpcurl or grpc_health_probe use them), the
shared secret, TLS, bad input, the throttle, and a users node that is down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from golive.accounts.domain import (
    AccountsElsewhere,
    AccountsUnavailable,
    RateLimited,
    UnknownStreamKey,
    User,
    digest,
    new_stream_key,
)
from golive.accounts.services import LiveRooms
from golive.adapters.grpc_users import GrpcUsers, UsersTargetError, parse_target
from golive.adapters.memory import MemoryRooms
from golive.bootstrap import create_app
from golive.config import ConfigError, Settings
from golive.rpc.server import MAX_FIELD, ServiceTls, check_throttle
from tests.harness.ports import free_port
from tests.harness.users_service import SECRET, UsersNode, self_signed, users_node

SERVICE = "golive.users.v1.Users"
AUTH = (("authorization", f"Bearer {SECRET}"),)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[UsersNode]:
    async with users_node(tmp_path / "accounts.db") as users:
        yield users


async def sign_up(node: UsersNode, name: str = "alice") -> tuple[User, str]:
    user = await node.accounts.sign_up(name, f"{name}@example.com", "a password!")
    _, token = await node.accounts.log_in(name, "a password!")
    return user, token


# -- a generic client: reflection, health, and calls built from the reflected schema ------


def generic_call(
    target: str,
    method: str,
    body: dict[str, Any],
    metadata: tuple[tuple[str, str], ...] = AUTH,
    credentials: grpc.ChannelCredentials | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """What grpcurl does, with only the clients that ship with grpcio: list the services,
    find ``method`` of the users service through reflection, build its request from JSON,
    call it. Blocking (grpcio's reflection client is synchronous): run it in a thread."""
    channel = (
        grpc.secure_channel(target, credentials)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    with channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        found = pool.FindServiceByName(SERVICE).FindMethodByName(method)
        request_class = message_factory.GetMessageClass(found.input_type)
        reply_class = message_factory.GetMessageClass(found.output_type)
        call = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=reply_class.FromString,
        )
        reply = call(json_format.ParseDict(body, request_class()), metadata=metadata, timeout=5)
        return services, json_format.MessageToDict(reply)


def health_check(target: str, service: str = "") -> str:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def test_a_generic_client_lists_the_service_and_calls_it(node: UsersNode) -> None:
    alice, token = await sign_up(node)
    services, reply = await asyncio.to_thread(
        generic_call, node.target, "AuthenticateStreamKey", {"streamKey": alice.stream_key}
    )
    assert services == ["golive.users.v1.Users", "grpc.health.v1.Health",
                        "grpc.reflection.v1alpha.ServerReflection"]  # fmt: skip
    assert reply["id"] == alice.id and reply["username"] == "alice"
    assert reply["streamKeySha256"] == alice.stream_key_digest
    assert "passwordHash" not in json.dumps(reply) and "argon" not in json.dumps(reply)
    _, reply = await asyncio.to_thread(generic_call, node.target, "LookupUser", {"name": "ALICE"})
    assert reply["id"] == alice.id
    _, reply = await asyncio.to_thread(generic_call, node.target, "GetUser", {"id": alice.id})
    assert reply["email"] == "alice@example.com"
    _, reply = await asyncio.to_thread(
        generic_call, node.target, "AuthenticateToken", {"token": token}
    )
    assert reply["id"] == alice.id
    for service in ("", SERVICE):
        assert await asyncio.to_thread(health_check, node.target, service) == "SERVING"


async def test_health_says_not_serving_once_the_server_stops(tmp_path: Path) -> None:
    async with users_node(tmp_path / "a.db") as node:
        await node.server.health.enter_graceful_shutdown()
        assert await asyncio.to_thread(health_check, node.target, SERVICE) == "NOT_SERVING"


# -- the caller's secret and TLS ----------------------------------------------------------


def call_status(
    target: str, method: str, body: dict[str, Any], **kwargs: Any
) -> tuple[grpc.StatusCode, str]:
    try:
        generic_call(target, method, body, **kwargs)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer not-the-secret"),), (("authorization", SECRET),)],
    ids=["none", "wrong", "not-bearer"],
)
async def test_a_call_without_the_secret_is_refused(
    node: UsersNode, metadata: tuple[tuple[str, str], ...]
) -> None:
    alice, _ = await sign_up(node)
    code, details = await asyncio.to_thread(
        call_status, node.target, "AuthenticateStreamKey", {"streamKey": alice.stream_key},
        metadata=metadata,
    )  # fmt: skip
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "shared secret" in details


async def test_tls_is_required_when_configured(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    tls = ServiceTls(cert.read_bytes(), key.read_bytes())
    async with users_node(tmp_path / "a.db", tls=tls) as node:
        alice, _ = await sign_up(node)
        body = {"streamKey": alice.stream_key}
        trusted = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        code, _ = await asyncio.to_thread(
            call_status, node.target, "AuthenticateStreamKey", body, credentials=trusted
        )
        assert code == grpc.StatusCode.OK
        # Plain TCP to a TLS port: no answer of the service, whatever the secret.
        code, _ = await asyncio.to_thread(call_status, node.target, "AuthenticateStreamKey", body)
        assert code == grpc.StatusCode.UNAVAILABLE
        # The remote adapter: grpcs:// with the certificate trusted works, grpc:// does not.
        remote = GrpcUsers(
            f"grpcs://{node.target}", secret=SECRET, root_certificates=cert.read_bytes()
        )
        plain = GrpcUsers(f"grpc://{node.target}", secret=SECRET, attempts=2)
        untrusted = GrpcUsers(f"grpcs://{node.target}", secret=SECRET, attempts=1)
        try:
            got = await remote.by_stream_key_digest(alice.stream_key_digest)
            assert got is not None and got.id == alice.id
            for other in (plain, untrusted):
                with pytest.raises(AccountsUnavailable, match="is unavailable"):
                    await other.by_stream_key_digest(alice.stream_key_digest)
        finally:
            for adapter in (remote, plain, untrusted):
                await adapter.close()


async def test_the_adapter_with_a_wrong_secret_says_so(node: UsersNode) -> None:
    alice, _ = await sign_up(node)
    remote = GrpcUsers(f"grpc://{node.target}", secret="not the secret")
    try:
        with pytest.raises(AccountsUnavailable, match="refused this node's secret"):
            await remote.by_stream_key_digest(alice.stream_key_digest)
    finally:
        await remote.close()


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "code", "message"),
    [
        ("AuthenticateStreamKey", {}, "INVALID_ARGUMENT", "stream_key: required"),
        ("AuthenticateStreamKey", {"streamKey": ""}, "INVALID_ARGUMENT", "stream_key: required"),
        ("AuthenticateStreamKey", {"streamKey": "k" * (MAX_FIELD + 1)}, "INVALID_ARGUMENT",
         f"stream_key: at most {MAX_FIELD} characters"),
        ("AuthenticateStreamKey", {"streamKey": "x" * 10_000}, "INVALID_ARGUMENT",
         f"stream_key: at most {MAX_FIELD} characters"),
        ("AuthenticateStreamKey", {"streamKeySha256": "ABC"}, "INVALID_ARGUMENT",
         "stream_key_sha256: 64 lowercase hexadecimal digits"),
        ("AuthenticateStreamKey", {"streamKey": "live_wrong\x00\u202e"}, "UNAUTHENTICATED",
         "unknown stream key"),
        ("AuthenticateStreamKey", {"streamKeySha256": "0" * 64}, "UNAUTHENTICATED",
         "unknown stream key"),
        ("AuthenticateToken", {"token": ""}, "INVALID_ARGUMENT", "token: required"),
        ("AuthenticateToken", {"token": "t" * 5000}, "INVALID_ARGUMENT",
         f"token: at most {MAX_FIELD} characters"),
        ("AuthenticateToken", {"token": "not a token"}, "UNAUTHENTICATED",
         "unknown or ended session"),
        ("LookupUser", {"name": ""}, "INVALID_ARGUMENT", "name: required"),
        ("LookupUser", {"name": "../../etc"}, "NOT_FOUND", "no user by that name"),
        ("GetUser", {"id": "nobody"}, "NOT_FOUND", "no user with that id"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_clear_refusal(
    node: UsersNode, method: str, body: dict[str, Any], code: str, message: str
) -> None:
    await sign_up(node)
    got, details = await asyncio.to_thread(call_status, node.target, method, body)
    assert (got.name, details) == (code, message)


# -- the throttle ------------------------------------------------------------------------


async def test_failed_key_checks_are_throttled_per_caller(tmp_path: Path) -> None:
    async with users_node(tmp_path / "a.db", key_throttle=check_throttle("stream key", 3)) as node:
        alice, _ = await sign_up(node)
        right = {"streamKey": alice.stream_key}
        for _ in range(5):  # successes are taken back: they never lock anyone out
            code, _ = await asyncio.to_thread(
                call_status, node.target, "AuthenticateStreamKey", right
            )
            assert code == grpc.StatusCode.OK
        for _ in range(3):
            wrong = {"streamKey": new_stream_key()}
            code, _ = await asyncio.to_thread(
                call_status, node.target, "AuthenticateStreamKey", wrong
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED
        # Past the limit, even the right key is refused before the store is asked.
        code, details = await asyncio.to_thread(
            call_status, node.target, "AuthenticateStreamKey", right
        )
        assert (code, details) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "too many failed stream key checks; try again later",
        )
        # The client address a caller names is part of the key: another client is not held.
        code, _ = await asyncio.to_thread(
            call_status, node.target, "AuthenticateStreamKey",
            {**right, "clientAddress": "192.0.2.7"},
        )  # fmt: skip
        assert code == grpc.StatusCode.OK
        # Tokens have a throttle of their own.
        _, token = await node.accounts.log_in("alice", "a password!")
        code, _ = await asyncio.to_thread(
            call_status, node.target, "AuthenticateToken", {"token": token}
        )
        assert code == grpc.StatusCode.OK


async def test_one_publisher_guessing_keys_holds_off_no_other_publisher(tmp_path: Path) -> None:
    """An ingest node names each publisher's address in its key checks: the users service
    throttles the one guessing keys on the node's RTMP port, not the node."""
    async with users_node(tmp_path / "a.db", key_throttle=check_throttle("stream key", 3)) as node:
        alice, _ = await sign_up(node)
        remote = node.remote()
        rooms = LiveRooms(remote, MemoryRooms(), Stopped(), node="ingest", ttl=30)
        try:
            for _ in range(3):
                with pytest.raises(UnknownStreamKey):
                    await rooms.publish(new_stream_key(), client="198.51.100.9")
            with pytest.raises(RateLimited):
                await rooms.publish(alice.stream_key, client="198.51.100.9")
            # Alice's encoder, from another address, through the same ingest node.
            publish = await rooms.publish(alice.stream_key, client="203.0.113.4")
            assert publish.room == "alice"
        finally:
            await remote.close()


# -- the remote adapter ------------------------------------------------------------------


async def test_the_remote_adapter_is_read_only(node: UsersNode) -> None:
    alice, _ = await sign_up(node)
    remote = node.remote()
    try:
        for write in (
            remote.add(alice),
            remote.set_stream_key(alice.id, new_stream_key()),
            remote.set_title(alice.id, "changed from afar"),
        ):
            with pytest.raises(AccountsElsewhere, match=f"users service at {node.target}"):
                await write
        assert await node.store.users.get(alice.id) == alice
        got = await remote.get(alice.id)
        assert got is not None and got.password_hash == ""  # never sent
        assert got.stream_key == alice.stream_key
    finally:
        await remote.close()


class Stopped:
    def __init__(self) -> None:
        self.stopped: list[tuple[str, str]] = []

    def stop(self, room: str, reason: str) -> bool:
        self.stopped.append((room, reason))
        return True


async def test_a_key_replaced_on_the_users_node_stops_the_publish_at_the_next_beat(
    node: UsersNode,
) -> None:
    alice, _ = await sign_up(node)
    remote = node.remote()
    publishes = Stopped()
    now = [0.0]
    rooms = LiveRooms(
        remote, MemoryRooms(), publishes, node="ingest", ttl=3, monotonic=lambda: now[0]
    )
    try:
        publish = await rooms.publish(alice.stream_key)  # authorized over gRPC
        await publish.start()
        now[0] += 1.5
        await rooms.upkeep(lambda name: None)
        assert publishes.stopped == []
        await node.accounts.regenerate_stream_key(alice)  # on the users node
        now[0] += 1.5
        await rooms.upkeep(lambda name: None)
        assert publishes.stopped == [("alice", "the stream key was replaced")]
    finally:
        await remote.close()


async def test_a_users_node_that_is_down_is_a_refusal_not_a_hang(tmp_path: Path) -> None:
    port = free_port()
    async with users_node(tmp_path / "a.db", port=port) as node:
        alice, _ = await sign_up(node)
        remote = node.remote(timeout=1.0, backoff=0.05)
        got = await remote.by_stream_key_digest(alice.stream_key_digest)
        assert got is not None
    try:
        with pytest.raises(AccountsUnavailable, match=f"users service at 127.0.0.1:{port}"):
            await asyncio.wait_for(remote.by_stream_key_digest(alice.stream_key_digest), 10)
        with pytest.raises(AccountsUnavailable):
            await asyncio.wait_for(remote.get(alice.id), 10)
        # Back on the same port: the channel reconnects within its capped back-off.
        async with users_node(tmp_path / "a.db", port=port):
            for _ in range(50):
                try:
                    if await remote.by_stream_key_digest(alice.stream_key_digest):
                        break
                except AccountsUnavailable:
                    await asyncio.sleep(0.2)
            else:
                pytest.fail("the adapter did not reconnect to the users node")
            assert await remote.by_stream_key_digest(digest("nobody's key")) is None
    finally:
        await remote.close()


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grpc_port": 1}, "'grpc_port' needs 'grpc_secret'"),
        ({"grpc_port": 1, "grpc_secret": "s", "grpc_host": "0.0.0.0"}, "not a loopback"),
        ({"grpc_port": 1, "grpc_secret": "s", "grpc_tls_cert": "c.pem"}, "go together"),
        ({"grpc_port": 1, "grpc_secret": "s", "grpc_tls_cert": "/nonexistent/c.pem",
          "grpc_tls_key": "/nonexistent/k.pem"}, "cannot read /nonexistent/c.pem"),
        ({"users": "grpc://127.0.0.1:1"}, "set 'grpc_secret'"),
        ({"users": "http://127.0.0.1:1", "grpc_secret": "s"}, "is not grpc://host:port"),
        ({"users": "grpc://127.0.0.1:1", "grpc_secret": "s", "grpc_port": 2},
         "serve the users service from that node"),
    ],
)  # fmt: skip
async def test_settings_that_cannot_be_used_stop_the_start(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    settings = Settings(data_dir=str(tmp_path), **changes)
    with pytest.raises(ConfigError, match=message):
        app = await create_app(settings)
        await app.cleanup()


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("grpc://users.internal:50051", ("users.internal:50051", False)),
        ("grpcs://[::1]:443", ("[::1]:443", True)),
        ("grpcs://10.0.0.2:9000/", ("10.0.0.2:9000", True)),
    ],
)
def test_users_urls(url: str, target: tuple[str, bool]) -> None:
    assert parse_target(url) == target


@pytest.mark.parametrize(
    "url", ["grpc://host", "grpc://u:p@host:1", "grpc://host:1/path", "host:1", "grpc://:1"]
)
def test_bad_users_urls(url: str) -> None:
    with pytest.raises(UsersTargetError):
        parse_target(url)
