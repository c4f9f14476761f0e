"""One contract suite for every adapter of each port (golive.accounts.ports).

Users, sessions and secrets run on memory, SQLite and MongoDB; users also through another
node's gRPC users service (tests/harness/users_service.py); sessions also on Redis; rooms on
memory and Redis (127.0.0.1:6379, which scripts/test.sh starts: an unreachable Redis fails these
tests rather than skipping them). MongoDB is the server GOLIVE_TEST_MONGODB_URL names, or else
nx-27017, a MongoDB wire-protocol server that the ``mongo`` fixture starts on a free loopback
port for this module (tests/harness/mongo_server.py); where nx-27017 is not MongoDB, the test
says so. Every backend gets a fresh store per test (a new file, a unique database name or key
prefix) and is cleaned up after.
"""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
import sqlite3
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import bson
import pytest
import redis.asyncio as aioredis
from bson.codec_options import CodecOptions
from pymongo.errors import DuplicateKeyError, OperationFailure

from golive.accounts.domain import (
    EmailTaken,
    Room,
    RoomAlreadyLive,
    RoomDescription,
    Session,
    User,
    UsernameTaken,
    digest,
    new_id,
    new_stream_key,
)
from golive.accounts.ports import RoomRegistry, SecretStore, SessionStore, UserRepository
from golive.adapters import mongo as mongo_adapter
from golive.adapters import redis as redis_adapter
from golive.adapters import sqlite as sqlite_adapter
from golive.adapters.memory import MemoryRooms, MemorySecrets, MemorySessions, MemoryUsers
from golive.adapters.mongo import MongoStore, MongoUnavailable, open_mongo
from golive.adapters.redis import RedisRooms, RedisStore, RedisUnavailable, open_redis
from golive.adapters.sqlite import SchemaTooNew, open_sqlite
from tests.harness.mongo_server import MongoServer, mongo_server
from tests.harness.users_service import remote_users

REDIS_URL = "redis://127.0.0.1:6379/0"
# A datetime with microseconds, which BSON (milliseconds) would lose without care.
T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


# -- backends ---------------------------------------------------------------------------


@asynccontextmanager
async def redis_store() -> AsyncIterator[RedisStore]:
    prefix = f"golive-test:{secrets.token_hex(6)}:"
    store = await open_redis(REDIS_URL, prefix=prefix)  # no skip: the test command starts it
    try:
        yield store
    finally:
        keys = [key async for key in store.client.scan_iter(match=prefix + "*")]
        if keys:
            await store.client.delete(*keys)
        await store.close()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="module")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """One server for the module, started only when a test asks for MongoDB."""
    with mongo_server(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@asynccontextmanager
async def mongo_store(server: MongoServer) -> AsyncIterator[MongoStore]:
    name = f"golive_test_{secrets.token_hex(6)}"
    store = await open_mongo(with_database(server.url, name))
    try:
        yield store
    finally:
        await store.client.drop_database(name)
        await store.close()


@asynccontextmanager
async def another_node(server: MongoServer, store: MongoStore) -> AsyncIterator[MongoStore]:
    """The database of ``store`` as another node opens it: its own client, and the indexes
    created again."""
    other = await open_mongo(with_database(server.url, store.database.name))
    try:
        yield other
    finally:
        await other.close()


@asynccontextmanager
async def account_stores(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[UserRepository, SessionStore]]:
    if backend == "memory":
        users, sessions = MemoryUsers(), MemorySessions()
        yield users, sessions
        await users.close()
        await sessions.close()
    elif backend == "sqlite":
        store = await open_sqlite(tmp_path / "golive.db")
        try:
            yield store.users, store.sessions
        finally:
            await store.close()
    elif backend == "mongo":
        async with mongo_store(request.getfixturevalue("mongo")) as store:
            yield store.users, store.sessions
    elif backend == "grpc":  # another node's users service (SQLite), read over gRPC
        async with remote_users(tmp_path) as remote:
            yield remote, MemorySessions()
    else:
        raise AssertionError(backend)


@pytest.fixture(params=["memory", "sqlite", "mongo", "grpc"])
async def users(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UserRepository]:
    async with account_stores(request.param, tmp_path, request) as (repo, _):
        yield repo


@pytest.fixture(params=["memory", "sqlite", "mongo", "redis"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    if request.param == "redis":
        async with redis_store() as store:
            yield store.sessions
    else:
        async with account_stores(request.param, tmp_path, request) as (_, store):
            yield store


@pytest.fixture(params=["memory", "sqlite", "mongo"])
async def secret_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SecretStore, SecretStore]]:
    """A SecretStore and the same store as another node opens it."""
    if request.param == "memory":
        memory = MemorySecrets()
        yield memory, memory
    elif request.param == "sqlite":
        one = await open_sqlite(tmp_path / "golive.db")
        two = await open_sqlite(tmp_path / "golive.db")
        try:
            yield one.secrets, two.secrets
        finally:
            await one.close()
            await two.close()
    else:
        server = request.getfixturevalue("mongo")
        async with mongo_store(server) as store, another_node(server, store) as other:
            yield store.secrets, other.secrets


@dataclass
class Rooms:
    """A registry and a way to let time pass for it."""

    registry: RoomRegistry
    elapse: Callable[[float], Awaitable[None]]
    other_node: RoomRegistry  # the same registry as seen by another node


@pytest.fixture(params=["memory", "redis"])
async def rooms(request: pytest.FixtureRequest) -> AsyncIterator[Rooms]:
    if request.param == "memory":
        now = [1000.0]

        async def advance(seconds: float) -> None:
            now[0] += seconds

        registry = MemoryRooms(monotonic=lambda: now[0])
        yield Rooms(registry, advance, registry)
        await registry.close()
    else:
        async with redis_store() as store:
            # Another node: its own connection, the same keys.
            other = aioredis.Redis.from_url(REDIS_URL)
            try:
                yield Rooms(store.rooms, asyncio.sleep, RedisRooms(other, store.prefix))
            finally:
                await other.aclose()


def make_user(username: str = "Alice", email: str | None = None) -> User:
    return User(
        id=new_id(),
        username=username,
        email=email or f"{username}@Example.com",
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        stream_key=new_stream_key(),
        created_at=T0,
    )


def make_session(expires_in: timedelta, now: datetime | None = None) -> Session:
    created = now or datetime.now(UTC)
    return Session(
        token_digest=digest(secrets.token_urlsafe(32)),
        user_id=new_id(),
        created_at=created,
        expires_at=created + expires_in,
    )


def make_room(name: str = "alice", node: str = "node-a", **changes: Any) -> Room:
    room = Room(
        name=name,
        user_id=new_id(),
        streamer=name.capitalize(),
        title=f"{name} live",
        started_at=T0,
        node=node,
        publish_id=new_id(),
    )
    return replace(room, **changes)


# -- users ------------------------------------------------------------------------------


async def test_add_then_get_by_id_and_by_lowercase_name(users: UserRepository) -> None:
    alice = make_user("Alice")
    await users.add(alice)
    assert await users.get(alice.id) == alice
    assert await users.by_name("alice") == alice
    assert await users.get(new_id()) is None
    assert await users.by_name("bob") is None


async def test_username_differing_only_by_case_is_taken(users: UserRepository) -> None:
    alice = make_user("Alice", "alice@example.com")
    await users.add(alice)
    impostor = make_user("ALICE", "other@example.com")
    with pytest.raises(UsernameTaken):
        await users.add(impostor)
    assert await users.by_name("alice") == alice
    assert await users.get(impostor.id) is None


async def test_email_differing_only_by_case_is_taken(users: UserRepository) -> None:
    await users.add(make_user("Alice", "Alice@Example.com"))
    bob = make_user("Bob", "alice@EXAMPLE.COM")
    with pytest.raises(EmailTaken):
        await users.add(bob)
    assert await users.get(bob.id) is None
    assert await users.by_name("bob") is None
    await users.add(replace(bob, email="bob@example.com"))  # the refusal left nothing behind
    assert await users.by_name("bob") is not None


async def test_username_is_reported_when_both_are_taken(users: UserRepository) -> None:
    await users.add(make_user("Alice", "alice@example.com"))
    with pytest.raises(UsernameTaken):
        await users.add(make_user("aLiCe", "ALICE@example.com"))


@pytest.mark.parametrize("clash", ["username", "email"])
async def test_racing_sign_ups_let_one_in(users: UserRepository, clash: str) -> None:
    # Sign-ups racing on one name or one email, each on its own connection where the store has
    # several: the store refuses the losers, not a look before the write.
    spellings = ["Carol", "carol", "CAROL", "cArOl"] * 2
    if clash == "username":
        racers = [make_user(name, f"racer{i}@example.com") for i, name in enumerate(spellings)]
    else:
        racers = [make_user(f"Racer{i}", f"{name}@Example.com") for i, name in enumerate(spellings)]
    results = await asyncio.gather(*(users.add(user) for user in racers), return_exceptions=True)
    winners = [user for user, result in zip(racers, results, strict=True) if result is None]
    assert len(winners) == 1
    refusal = UsernameTaken if clash == "username" else EmailTaken
    assert all(isinstance(result, refusal) for result in results if result is not None)
    assert await users.get(winners[0].id) == winners[0]
    assert [await users.get(user.id) for user in racers if user is not winners[0]] == [None] * 7


async def test_by_stream_key_digest(users: UserRepository) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    await users.add(alice)
    await users.add(bob)
    assert await users.by_stream_key_digest(alice.stream_key_digest) == alice
    assert await users.by_stream_key_digest(bob.stream_key_digest) == bob
    assert await users.by_stream_key_digest(digest(new_stream_key())) is None


async def test_set_stream_key_stops_the_old_key_at_once(users: UserRepository) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    await users.add(alice)
    await users.add(bob)
    key = new_stream_key()
    await users.set_stream_key(alice.id, key)
    assert await users.by_stream_key_digest(alice.stream_key_digest) is None
    assert await users.by_stream_key_digest(digest(key)) == replace(alice, stream_key=key)
    assert await users.get(alice.id) == replace(alice, stream_key=key)
    assert await users.get(bob.id) == bob


async def test_set_title(users: UserRepository) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    await users.add(alice)
    await users.add(bob)
    await users.set_title(alice.id, "Sunday stream ☕ «live»")
    assert await users.get(alice.id) == replace(alice, title="Sunday stream ☕ «live»")
    assert await users.by_name("alice") == replace(alice, title="Sunday stream ☕ «live»")
    assert await users.get(bob.id) == bob


async def test_setters_on_an_unknown_user_change_nothing(users: UserRepository) -> None:
    key = new_stream_key()
    await users.set_stream_key(new_id(), key)
    await users.set_title(new_id(), "nobody")
    assert await users.by_stream_key_digest(digest(key)) is None


@pytest.mark.parametrize(
    "created_at",
    [T0, datetime(2031, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))],
    ids=["utc", "plus-two-hours"],
)
async def test_user_datetimes_round_trip_equal_and_aware(
    users: UserRepository, created_at: datetime
) -> None:
    alice = replace(make_user("Alice"), created_at=created_at)
    await users.add(alice)
    got = await users.get(alice.id)
    assert got is not None
    assert got.created_at == created_at
    assert got.created_at.utcoffset() is not None
    if created_at.utcoffset() == timedelta(0):
        assert got.created_at.utcoffset() == timedelta(0)


# -- sessions ---------------------------------------------------------------------------


async def test_session_add_get_delete(sessions: SessionStore) -> None:
    session = make_session(timedelta(hours=1))
    await sessions.add(session)
    got = await sessions.get(session.token_digest)
    assert got == session
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.expires_at.utcoffset() == timedelta(0)
    assert await sessions.get(digest("unknown")) is None
    await sessions.delete(session.token_digest)
    assert await sessions.get(session.token_digest) is None
    await sessions.delete(session.token_digest)  # deleting twice is not an error


async def test_adding_a_session_with_the_same_digest_replaces_it(sessions: SessionStore) -> None:
    first = make_session(timedelta(hours=1))
    second = replace(first, user_id=new_id(), expires_at=first.expires_at + timedelta(hours=1))
    await sessions.add(first)
    await sessions.add(second)
    assert await sessions.get(first.token_digest) == second


async def test_delete_expired_counts_and_keeps_the_rest(sessions: SessionStore) -> None:
    now = datetime.now(UTC)
    one, two, three = (make_session(timedelta(hours=h), now) for h in (1, 2, 3))
    for session in (one, two, three):
        await sessions.add(session)
    assert await sessions.delete_expired(now) == 0
    # Expired at its expiry instant, not after it (Session.expired).
    assert await sessions.delete_expired(one.expires_at) == 1
    assert await sessions.get(one.token_digest) is None
    assert await sessions.get(two.token_digest) == two
    assert await sessions.delete_expired(now + timedelta(hours=2, minutes=30)) == 1
    assert await sessions.get(two.token_digest) is None
    assert await sessions.get(three.token_digest) == three
    assert await sessions.delete_expired(now + timedelta(hours=2, minutes=30)) == 0


async def test_redis_holds_each_room_as_one_flat_json_object() -> None:
    # Every node sharing the registry reads this form (and the Lua scripts read node and
    # publish_id in it): the description's fields sit beside the room's.
    async with redis_store() as store:
        room = make_room("alice", description=RoomDescription(("avc1.64001f",), ("source",), 2, 4))
        await store.rooms.put(room, 30)
        raw = await store.client.get(f"{store.prefix}room:alice")
        assert json.loads(raw) == {
            "name": "alice", "user_id": room.user_id, "streamer": "Alice",
            "title": "alice live", "started_at": "2024-05-06T07:08:09.123456+00:00",
            "node": "node-a", "publish_id": room.publish_id, "node_url": "",
            "codecs": ["avc1.64001f"], "renditions": ["source"], "width": 2, "height": 4,
        }  # fmt: skip
        assert list(json.loads(raw)) == [
            "name", "user_id", "streamer", "title", "started_at", "node", "publish_id",
            "node_url", "codecs", "renditions", "width", "height",
        ]  # fmt: skip


async def test_redis_reads_a_room_written_without_a_node_url() -> None:
    # A node of an older golive writes rooms without the field: no URL is known for them.
    async with redis_store() as store:
        room = make_room("alice", node_url="http://a.example:8080")
        await store.rooms.put(room, 30)
        key = f"{store.prefix}room:alice"
        raw = await store.client.get(key)
        assert raw is not None
        doc = json.loads(raw)
        del doc["node_url"]
        await store.client.set(key, json.dumps(doc))
        assert await store.rooms.get("alice") == replace(room, node_url="")


async def test_redis_session_key_lives_as_long_as_the_session() -> None:
    async with redis_store() as store:
        session = make_session(timedelta(seconds=0.3))
        await store.sessions.add(session)
        key = f"{store.prefix}session:{session.token_digest}"
        assert 0 < await store.client.pttl(key) <= 300
        assert await store.sessions.get(session.token_digest) == session
        await asyncio.sleep(0.45)
        assert await store.sessions.get(session.token_digest) is None
        # Already over: nothing to keep.
        late = make_session(timedelta(seconds=-1))
        await store.sessions.add(late)
        assert await store.sessions.get(late.token_digest) is None


# -- rooms ------------------------------------------------------------------------------


async def test_put_get_all(rooms: Rooms) -> None:
    alice, bob = make_room("alice"), make_room("bob", node="node-b")
    await rooms.registry.put(alice, 30)
    await rooms.registry.put(bob, 30)
    assert await rooms.registry.get("alice") == alice
    assert await rooms.other_node.get("bob") == bob
    assert await rooms.registry.get("carol") is None
    listed = await rooms.registry.all()
    assert sorted(listed, key=lambda r: r.name) == [alice, bob]


async def test_put_by_another_node_is_refused(rooms: Rooms) -> None:
    alice = make_room("alice", node="node-a")
    await rooms.registry.put(alice, 30)
    with pytest.raises(RoomAlreadyLive):
        await rooms.other_node.put(replace(alice, node="node-b", publish_id=new_id()), 30)
    assert await rooms.registry.get("alice") == alice


async def test_put_by_the_same_node_replaces(rooms: Rooms) -> None:
    old = make_room("alice")
    await rooms.registry.put(old, 30)
    new = replace(old, publish_id=new_id(), title="take two")
    await rooms.registry.put(new, 30)
    assert await rooms.registry.get("alice") == new
    # The replaced publish can neither refresh nor end the new one.
    assert not await rooms.registry.refresh(old, 30)
    assert not await rooms.registry.remove("alice", old.publish_id)
    assert await rooms.registry.get("alice") == new


async def test_only_one_node_wins_a_race(rooms: Rooms) -> None:
    contenders = [make_room("alice", node=f"node-{i}") for i in range(16)]
    registries = [rooms.registry, rooms.other_node]
    results = await asyncio.gather(
        *(registries[i % 2].put(room, 30) for i, room in enumerate(contenders)),
        return_exceptions=True,
    )
    winners = [room for room, result in zip(contenders, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, RoomAlreadyLive) for r in results if r is not None)
    assert await rooms.registry.get("alice") == winners[0]


async def test_refresh_stores_details_only_for_the_same_publish(rooms: Rooms) -> None:
    alice = make_room("alice")
    await rooms.registry.put(alice, 30)
    described = replace(
        alice, description=RoomDescription(("avc1.64001f", "mp4a.40.2"), width=1280, height=720)
    )
    assert await rooms.registry.refresh(described, 30)
    assert await rooms.registry.get("alice") == described
    assert not await rooms.registry.refresh(replace(described, publish_id=new_id(), title="x"), 30)
    assert await rooms.registry.get("alice") == described
    assert not await rooms.registry.refresh(make_room("bob"), 30)
    assert await rooms.registry.get("bob") is None


async def test_refresh_extends_the_expiry(rooms: Rooms) -> None:
    alice = make_room("alice")
    await rooms.registry.put(alice, 0.4)
    await rooms.elapse(0.25)
    assert await rooms.registry.refresh(alice, 0.4)
    await rooms.elapse(0.25)  # past the first expiry, before the refreshed one
    assert await rooms.registry.get("alice") == alice
    await rooms.elapse(0.35)
    assert await rooms.registry.get("alice") is None


async def test_remove_only_with_the_matching_publish_id(rooms: Rooms) -> None:
    alice = make_room("alice")
    await rooms.registry.put(alice, 30)
    assert not await rooms.registry.remove("alice", new_id())
    assert await rooms.registry.get("alice") == alice
    assert await rooms.registry.remove("alice", alice.publish_id)
    assert await rooms.registry.get("alice") is None
    assert await rooms.registry.all() == []
    assert not await rooms.registry.remove("alice", alice.publish_id)


async def test_rooms_expire_after_their_ttl(rooms: Rooms) -> None:
    alice, bob = make_room("alice"), make_room("bob")
    await rooms.registry.put(alice, 0.2)
    await rooms.registry.put(bob, 30)
    await rooms.elapse(0.35)
    assert await rooms.registry.get("alice") is None
    assert await rooms.registry.all() == [bob]
    assert not await rooms.registry.refresh(alice, 0.2)
    assert not await rooms.registry.remove("alice", alice.publish_id)
    # The dead node's room no longer blocks another node.
    taker = replace(alice, node="node-b", publish_id=new_id())
    await rooms.other_node.put(taker, 30)
    assert await rooms.registry.get("alice") == taker


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {
            "description": RoomDescription(
                codecs=("hvc1.1.6.L93.B0", "mp4a.40.2"),
                renditions=("source", "720p", "360p"),
                width=1920,
                height=1080,
            ),
            "title": 'Ünïcode ☕ "quoted" title',
            "started_at": datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "node_url": "https://node-a.example.org:8443/live",
        },
    ],
    ids=["defaults", "described"],
)
async def test_room_fields_round_trip(rooms: Rooms, changes: dict[str, Any]) -> None:
    room = make_room("alice", **changes)
    await rooms.registry.put(room, 30)
    got = await rooms.registry.get("alice")
    assert got == room
    assert isinstance(got.description.codecs, tuple)
    assert isinstance(got.description.renditions, tuple)
    assert got.started_at.utcoffset() == timedelta(0)
    assert await rooms.registry.all() == [room]


async def test_nodes_announce_their_urls_to_every_node(rooms: Rooms) -> None:
    assert await rooms.registry.nodes() == {}
    await rooms.registry.announce("node-a", "http://a.example:8080", 30)
    await rooms.other_node.announce("node-b", "https://b.example", 30)
    expected = {"node-a": "http://a.example:8080", "node-b": "https://b.example"}
    assert await rooms.registry.nodes() == expected
    assert await rooms.other_node.nodes() == expected
    # Announcing again replaces the URL; nodes are not rooms.
    await rooms.other_node.announce("node-b", "https://b2.example", 30)
    assert (await rooms.registry.nodes())["node-b"] == "https://b2.example"
    assert await rooms.registry.all() == []


async def test_node_announcements_expire_unless_renewed(rooms: Rooms) -> None:
    await rooms.registry.announce("node-a", "http://a.example", 0.4)
    await rooms.registry.announce("node-b", "http://b.example", 0.2)
    await rooms.elapse(0.25)
    await rooms.registry.announce("node-a", "http://a.example", 0.4)
    assert await rooms.registry.nodes() == {"node-a": "http://a.example"}
    await rooms.elapse(0.25)  # past node-a's first expiry, before the renewed one
    assert await rooms.other_node.nodes() == {"node-a": "http://a.example"}
    await rooms.elapse(0.35)
    assert await rooms.registry.nodes() == {}


# -- SecretStore ---------------------------------------------------------------------------


async def test_the_first_secret_stored_is_every_nodes(
    secret_stores: tuple[SecretStore, SecretStore],
) -> None:
    one, two = secret_stores
    assert await one.secret("key", "first") == "first"
    assert await two.secret("key", "second") == "first"
    assert await one.secret("key", "third") == "first"
    # Nodes racing on a new name all get the same one.
    racers = [one, two] * 5
    got = await asyncio.gather(*(store.secret("race", str(i)) for i, store in enumerate(racers)))
    assert len(set(got)) == 1 and got[0] in {str(i) for i in range(10)}
    assert await two.secret("other", "x") == "x"


async def test_sqlite_keeps_the_secret_across_restarts(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "golive.db")
    await store.secrets.secret("key", "kept")
    await store.close()
    store = await open_sqlite(tmp_path / "golive.db")
    try:
        assert await store.secrets.secret("key", "new") == "kept"
    finally:
        await store.close()


# -- SQLite: the file, the schema -------------------------------------------------------


async def test_sqlite_restart_loses_no_account(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "golive.db"  # the directory does not exist yet
    store = await open_sqlite(path)
    alice = make_user("Alice")
    session = make_session(timedelta(days=30))
    await store.users.add(alice)
    await store.users.set_title(alice.id, "back soon")
    await store.sessions.add(session)
    await store.close()

    store = await open_sqlite(path)
    try:
        assert await store.users.by_name("alice") == replace(alice, title="back soon")
        assert await store.sessions.get(session.token_digest) == session
        with pytest.raises(UsernameTaken):  # the indexes came back too
            await store.users.add(make_user("aLiCe"))
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


async def test_sqlite_migrates_an_older_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "golive.db"
    store = await open_sqlite(path)  # the schema of this version
    alice = make_user("Alice")
    await store.users.add(alice)
    await store.close()
    released = len(sqlite_adapter.MIGRATIONS)

    # A later golive adds a step; opening the older file applies it and keeps the data.
    later = (
        "CREATE TABLE follows (user_id TEXT NOT NULL, follower_id TEXT NOT NULL) STRICT",
        "INSERT INTO follows SELECT id, id FROM users",
    )
    monkeypatch.setattr(sqlite_adapter, "MIGRATIONS", (*sqlite_adapter.MIGRATIONS, later))
    store = await open_sqlite(path)
    try:
        assert await store.users.get(alice.id) == alice
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (released + 1,)
        assert db.execute("SELECT user_id FROM follows").fetchall() == [(alice.id,)]
    db.close()


async def test_sqlite_migrates_a_file_of_version_zero(tmp_path: Path) -> None:
    path = tmp_path / "golive.db"
    sqlite3.connect(path).close()  # an empty file, as an old or foreign tool left it
    store = await open_sqlite(path)
    await store.users.add(make_user("Alice"))
    await store.close()
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()
    db.close()
    assert version == (len(sqlite_adapter.MIGRATIONS),)


async def test_sqlite_failed_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "golive.db"
    store = await open_sqlite(path)
    await store.close()
    released = len(sqlite_adapter.MIGRATIONS)
    broken = ("CREATE TABLE half_done (x INTEGER) STRICT", "THIS IS NOT SQL")
    monkeypatch.setattr(sqlite_adapter, "MIGRATIONS", (*sqlite_adapter.MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError):
        await open_sqlite(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (released,)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "half_done" not in tables


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "golive.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(sqlite_adapter.MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(SchemaTooNew):
        await open_sqlite(path)


async def test_sqlite_closing_both_ports_closes_the_connection(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "golive.db")
    await store.users.close()
    assert await store.sessions.get(digest("x")) is None  # still open for the other port
    await store.sessions.close()
    with pytest.raises(ValueError, match="no active connection"):
        await store.users.get("x")
    await store.close()  # idempotent


async def test_sqlite_refuses_naive_datetimes(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "golive.db")
    try:
        with pytest.raises(ValueError, match="naive"):
            await store.users.add(replace(make_user(), created_at=datetime(2024, 1, 1)))
    finally:
        await store.close()


# -- MongoDB without a server: marshaling, error mapping, open failures -----------------

BSON_OPTIONS: CodecOptions[dict[str, object]] = CodecOptions(tz_aware=True)


def through_bson(doc: dict[str, object]) -> dict[str, object]:
    """What the server would store and give back."""
    return bson.decode(bson.encode(doc), codec_options=BSON_OPTIONS)


def test_mongo_marshaling_round_trips_through_bson() -> None:
    alice = replace(make_user("Alice"), title="t ☕")
    doc = mongo_adapter._user_to_doc(alice)
    assert doc["name"] == "alice"
    assert doc["email_lower"] == "alice@example.com"
    assert doc["stream_key_digest"] == alice.stream_key_digest
    assert mongo_adapter._user_from_doc(through_bson(doc)) == alice

    session = make_session(timedelta(hours=1), T0)
    doc = mongo_adapter._session_to_doc(session)
    assert doc["_id"] == session.token_digest
    back = mongo_adapter._session_from_doc(through_bson(doc))
    assert back == session
    assert back.expires_at.utcoffset() == timedelta(0)


def duplicate(key_pattern: dict[str, int] | None, errmsg: str) -> DuplicateKeyError:
    details: dict[str, object] = {"code": 11000, "errmsg": errmsg}
    if key_pattern is not None:
        details["keyPattern"] = key_pattern
    return DuplicateKeyError(errmsg, 11000, details)


def test_mongo_duplicate_keys_name_the_fields_of_their_index() -> None:
    fields = mongo_adapter._clashing_fields
    # MongoDB 4.2+: keyPattern, whatever the message says.
    msg = (
        "E11000 duplicate key error collection: golive.users index: name_unique"
        ' dup key: { name: "alice" }'
    )
    assert fields(duplicate({"name": 1}, msg)) == {"name"}
    assert fields(duplicate({"email_lower": 1}, msg)) == {"email_lower"}
    assert fields(duplicate({"_id": 1}, "E11000")) == {"_id"}
    # Older servers: the index named in the message, in either form, whatever the value.
    old_server = (
        "E11000 duplicate key error index: golive.users.$email_lower_unique"
        ' dup key: { : "index: name_unique dup key" }'
    )
    assert fields(duplicate(None, msg)) == {"name"}
    assert fields(duplicate(None, old_server)) == {"email_lower"}
    assert fields(duplicate(None, msg.replace("name_unique", "stream_key_digest_unique"))) == {
        "stream_key_digest"
    }
    # An index of someone else's: no field of the adapter's, so no domain error.
    assert fields(duplicate(None, msg.replace("name_unique", "other"))) == frozenset()
    # A server that names no index (nx-27017 passes SQLite's message on): unknown, so the
    # adapter looks the username and the email up.
    assert fields(duplicate(None, "UNIQUE constraint failed: index 'idx_users_name'")) is None
    assert fields(DuplicateKeyError("E11000", 11000, None)) is None


def test_mongo_unreachable_fails_at_open_without_the_password() -> None:
    url = "mongodb://golive:s3cret-pw@127.0.0.1:1/golive?serverSelectionTimeoutMS=300"
    # PyMongo 4.20 leaks the socket of a connect that close() cancels (its monitor keeps
    # retrying the refused port; PYTHON-5867 upstream). The socket is freed only once the
    # loop that ran the monitor is gone: so this test runs on a loop of its own, closes it, and
    # collects the socket here, quietly, rather than let it fail whichever later test the
    # garbage collector happens to run in.
    # (Only the message is kept: the exception's traceback holds the client, and so the socket.)
    message = ""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
        try:
            asyncio.run(open_mongo(url))
        except MongoUnavailable as exc:
            message = str(exc)
        gc.collect()
    assert "127.0.0.1:1" in message
    assert "s3cret-pw" not in message


# -- MongoDB over the wire: the server GOLIVE_TEST_MONGODB_URL names, or nx-27017 ----------


async def indexes(collection: Any) -> dict[tuple[tuple[str, Any], ...], dict[str, Any]]:
    """A collection's indexes by their key, as the server lists them."""
    listed = await collection.list_indexes()
    return {tuple(index["key"].items()): dict(index) async for index in listed}


async def test_mongo_indexes_are_created_at_open_and_kept_by_another_node(
    mongo: MongoServer,
) -> None:
    async with mongo_store(mongo) as store:
        users = await indexes(store.database["users"])
        sessions = await indexes(store.database["sessions"])
        fields = ("_id", "name", "email_lower", "stream_key_digest")
        assert set(users) == {((field, 1),) for field in fields}
        assert set(sessions) == {(("_id", 1),), (("expires_at", 1),)}
        for field in ("name", "email_lower", "stream_key_digest"):
            assert users[((field, 1),)].get("unique") is True, field
        ttl = sessions[(("expires_at", 1),)]
        assert ttl.get("expireAfterSeconds") == 0
        assert not ttl.get("unique")
        names = {key[0][0]: index["name"] for key, index in {**users, **sessions}.items()}
        if mongo.emulated:
            # nx-27017 keeps no name a client gives an index: it names each one
            # idx_<collection>_<field> (MongoDB keeps ours, and refuses the same key under another
            # name: the names are part of the adapter's contract with existing databases).
            assert names["name"] == "idx_users_name"
            assert names["expires_at"] == "idx_sessions_expires_at"
        else:
            assert names == {
                "_id": "_id_", "name": mongo_adapter.NAME_INDEX,
                "email_lower": mongo_adapter.EMAIL_INDEX,
                "stream_key_digest": mongo_adapter.STREAM_KEY_INDEX,
                "expires_at": mongo_adapter.EXPIRY_INDEX,
            }  # fmt: skip
        # Every node creates them at open: the second open changes nothing and fails nothing.
        async with another_node(mongo, store) as other:
            assert await indexes(other.database["users"]) == users
            assert await indexes(other.database["sessions"]) == sessions


async def test_mongo_unique_indexes_refuse_clashes_from_any_node(mongo: MongoServer) -> None:
    async with mongo_store(mongo) as store, another_node(mongo, store) as other:
        alice = make_user("Alice")
        await store.users.add(alice)
        alice_doc = mongo_adapter._user_to_doc(alice)
        bob = make_user("Bob")
        raw = other.database["users"]
        for field in ("name", "email_lower", "stream_key_digest"):
            clash = {**mongo_adapter._user_to_doc(bob), field: alice_doc[field]}
            with pytest.raises(DuplicateKeyError):
                await raw.insert_one(clash)
        await other.users.add(bob)  # the refusals left nothing behind
        # A stream key digest clash is neither a username nor an email taken: the adapter
        # passes the server's error on (stream keys are random: it is a bug, not a user's
        # choice), and changing a key to another user's is refused too.
        with pytest.raises(DuplicateKeyError):
            await other.users.add(replace(make_user("Carol"), stream_key=alice.stream_key))
        with pytest.raises(DuplicateKeyError):
            await other.users.set_stream_key(bob.id, alice.stream_key)
        assert await store.users.get(bob.id) == bob
        assert await store.users.by_name("carol") is None
        assert await store.database["users"].count_documents({}) == 2


async def test_mongo_duplicate_key_error_names_the_index(mongo: MongoServer) -> None:
    async with mongo_store(mongo) as store:
        await store.users.add(make_user("Alice"))
        impostor = mongo_adapter._user_to_doc(make_user("ALICE", "other@example.com"))
        with pytest.raises(DuplicateKeyError) as caught:
            await store.database["users"].insert_one(impostor)
        details = caught.value.details or {}
        assert details.get("code") == 11000
        if mongo.emulated:
            # nx-27017 passes SQLite's message on ("UNIQUE constraint failed: index
            # 'idx_users_name'"): no keyPattern, no keyValue, no index name in MongoDB's form.
            # The adapter then looks the username and the email up (MongoUsers._taken): the
            # contract tests above go through that fallback on nx-27017, and through keyPattern
            # on MongoDB.
            assert "keyPattern" not in details and "keyValue" not in details
            assert mongo_adapter._clashing_fields(caught.value) is None
        else:
            assert details["keyPattern"] == {"name": 1}
            assert details["keyValue"] == {"name": "alice"}
            assert mongo_adapter._clashing_fields(caught.value) == {"name"}


async def test_mongo_ttl_index_drops_expired_sessions(mongo: MongoServer) -> None:
    async with mongo_store(mongo) as store:
        expired, live = make_session(timedelta(seconds=-2)), make_session(timedelta(hours=1))
        await store.sessions.add(expired)
        await store.sessions.add(live)
        admin = store.client.admin
        restore: int | None = None
        if not mongo.emulated:
            # MongoDB's TTL monitor wakes every ttlMonitorSleepSecs (60 s): a second here.
            try:
                restore = (await admin.command("getParameter", 1, ttlMonitorSleepSecs=1))[
                    "ttlMonitorSleepSecs"
                ]
                await admin.command("setParameter", 1, ttlMonitorSleepSecs=1)
            except OperationFailure as exc:
                pytest.skip(f"this MongoDB does not let the TTL monitor run sooner: {exc}")
        # nx-27017 has no monitor: it deletes what a TTL index expired before each read.
        try:
            deadline = asyncio.get_running_loop().time() + 10.0
            raw = store.database["sessions"]
            while await raw.find_one({"_id": expired.token_digest}) is not None:
                assert asyncio.get_running_loop().time() < deadline, "the server kept it"
                await asyncio.sleep(0.2)
        finally:
            if restore is not None:
                await admin.command("setParameter", 1, ttlMonitorSleepSecs=restore)
        assert await store.sessions.get(live.token_digest) == live
        assert await store.sessions.delete_expired(datetime.now(UTC)) == 0


# -- Redis open --------------------------------------------------------------------------


async def test_redis_unreachable_fails_at_open_without_the_password() -> None:
    with pytest.raises(RedisUnavailable) as caught:
        await open_redis("redis://:s3cret-pw@127.0.0.1:1/0")
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize("redact", [mongo_adapter.redact_url, redis_adapter.redact_url])
def test_urls_are_redacted(redact: Callable[[str], str]) -> None:
    assert redact("redis://:pw1@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("mongodb://u:pw2@h1,h2/db?authSource=admin&password=pw3") == (
        "mongodb://u:***@h1,h2/db?authSource=admin&password=***"
    )
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
