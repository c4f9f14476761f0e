"""Redis adapters on redis-py's asyncio client (``redis.asyncio``; aioredis was merged into
redis-py and is no longer maintained): the room registry that every node shares, and a
session store.

Rooms: one key per room, ``{prefix}room:{name}``, holding the Room as JSON, with a
millisecond TTL (PX). A node refreshes its rooms' TTLs while it lives, so the rooms of a node
that died without ending them expire on their own. Every decision that reads the holder and
then writes (put, refresh, remove) is one Lua script, which Redis runs atomically: two nodes
racing for a room cannot both win, and a publish that ended cannot remove or refresh the room
of the publish that took over.

Nodes: one key per node, ``{prefix}node:{name}``, holding the public base URL of its HTTP
server, with the same TTL as its rooms and refreshed with them.

Sessions: one key per session, ``{prefix}session:{token digest}``, holding JSON, with a TTL
equal to the session's remaining lifetime, so Redis forgets it at its expiry.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..accounts.domain import Room, RoomAlreadyLive, RoomDescription, Session
from ._common import SharedClose, redact_url, time_from_text, time_to_text

DEFAULT_PREFIX = "golive:"
# Chunk size of SCAN and MGET: big enough for few round trips, small enough that one
# command never holds Redis (single-threaded) for long.
BATCH = 200

# KEYS[1] room key; ARGV[1] node; ARGV[2] room JSON; ARGV[3] TTL in ms.
# An entry that is not valid JSON cannot be honoured, so it is overwritten rather than left
# to block the room until it expires.
_PUT = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, room = pcall(cjson.decode, current)
  if ok and type(room) == 'table' and room['node'] ~= ARGV[1] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS[1] room key; ARGV[1] publish id; ARGV[2] room JSON; ARGV[3] TTL in ms.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, room = pcall(cjson.decode, current)
if not ok or type(room) ~= 'table' or room['publish_id'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS[1] room key; ARGV[1] publish id.
_REMOVE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, room = pcall(cjson.decode, current)
if not ok or type(room) ~= 'table' or room['publish_id'] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] session key; ARGV[1] the value read. Deletes only what was judged expired, not a
# session stored under the same key in between.
_DELETE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisUnavailable(ConnectionError):
    """Redis did not answer at open."""


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _millis(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, not {ttl!r}")
    return max(1, round(ttl * 1000))


def _room_to_json(room: Room) -> str:
    doc = asdict(room)
    doc["started_at"] = time_to_text(room.started_at)
    # The description's fields sit beside the room's, as every node sharing the registry
    # reads them: one flat object per room.
    doc.update(doc.pop("description"))
    return json.dumps(doc, separators=(",", ":"))


def _room_from_json(raw: str | bytes) -> Room:
    doc: Mapping[str, Any] = json.loads(raw)
    width, height = doc.get("width"), doc.get("height")
    return Room(
        name=str(doc["name"]),
        user_id=str(doc["user_id"]),
        streamer=str(doc["streamer"]),
        title=str(doc["title"]),
        started_at=time_from_text(doc["started_at"]),
        node=str(doc["node"]),
        publish_id=str(doc["publish_id"]),
        # Absent from the rooms of a node older than the field: no URL known.
        node_url=str(doc.get("node_url", "")),
        description=RoomDescription(
            # JSON has no tuples: give back the tuples the dataclass declares.
            codecs=tuple(str(c) for c in doc.get("codecs", ())),
            renditions=tuple(str(r) for r in doc.get("renditions", ())),
            width=None if width is None else int(width),
            height=None if height is None else int(height),
        ),
    )


def _session_to_json(session: Session) -> str:
    return json.dumps(
        {
            "user_id": session.user_id,
            "created_at": time_to_text(session.created_at),
            "expires_at": time_to_text(session.expires_at),
        },
        separators=(",", ":"),
    )


def _session_from_json(token_digest: str, raw: str | bytes) -> Session:
    doc: Mapping[str, Any] = json.loads(raw)
    return Session(
        token_digest=token_digest,
        user_id=str(doc["user_id"]),
        created_at=time_from_text(doc["created_at"]),
        expires_at=time_from_text(doc["expires_at"]),
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Part:
    """The client is shared and owned by whoever created it (the store, or the caller);
    ``on_close`` tells the owner this part is done."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        on_close: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._on_close = on_close
        self._closed = False

    async def _scan(self, pattern: str) -> list[tuple[str, str | bytes]]:
        """(key, value) of every live key matching the literal-prefixed ``pattern``.

        SCAN does not list expired keys, and a key that expires or goes between SCAN and
        MGET reads as nil, so neither is returned.
        """
        found: list[tuple[str, str | bytes]] = []
        keys: list[str] = []

        async def fetch() -> None:
            values = await self._client.mget(keys)
            found.extend((k, v) for k, v in zip(keys, values, strict=True) if v is not None)
            keys.clear()

        async for key in self._client.scan_iter(match=pattern, count=BATCH):
            keys.append(_text(key))
            if len(keys) >= BATCH:
                await fetch()
        if keys:
            await fetch()
        return found

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                await self._on_close()


class RedisRooms(_Part):
    """RoomRegistry shared by every node that uses the same Redis and prefix."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(client, prefix, on_close)
        self._put = client.register_script(_PUT)
        self._refresh = client.register_script(_REFRESH)
        self._remove = client.register_script(_REMOVE)

    def _key(self, name: str) -> str:
        return f"{self._prefix}room:{name}"

    async def put(self, room: Room, ttl: float) -> None:
        stored = await self._put(
            keys=[self._key(room.name)], args=[room.node, _room_to_json(room), _millis(ttl)]
        )
        if not stored:
            raise RoomAlreadyLive(f"{room.name} is live on another node")

    async def refresh(self, room: Room, ttl: float) -> bool:
        refreshed = await self._refresh(
            keys=[self._key(room.name)],
            args=[room.publish_id, _room_to_json(room), _millis(ttl)],
        )
        return bool(refreshed)

    async def remove(self, name: str, publish_id: str) -> bool:
        return bool(await self._remove(keys=[self._key(name)], args=[publish_id]))

    async def get(self, name: str) -> Room | None:
        raw = await self._client.get(self._key(name))
        return None if raw is None else _room_from_json(raw)

    async def all(self) -> list[Room]:
        """Every live room. SCAN walks the whole database in steps of BATCH keys, which
        suits a Redis that holds the registry of a few nodes, not a shared cache."""
        pattern = _glob_escape(self._prefix + "room:") + "*"
        return [_room_from_json(raw) for _, raw in await self._scan(pattern)]

    async def announce(self, node: str, url: str, ttl: float) -> None:
        await self._client.set(f"{self._prefix}node:{node}", url, px=_millis(ttl))

    async def nodes(self) -> dict[str, str]:
        head = f"{self._prefix}node:"
        found = await self._scan(_glob_escape(head) + "*")
        return {key[len(head) :]: _text(url) for key, url in found}


def utcnow() -> datetime:
    return datetime.now(UTC)


class RedisSessions(_Part):
    """SessionStore whose keys expire with their sessions.

    A session whose expiry has already passed (by ``clock``) when added is not stored:
    Redis cannot keep a key for a negative time, and such a session would be refused anyway.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(client, prefix, on_close)
        self._clock = clock
        self._delete_if_same = client.register_script(_DELETE_IF_SAME)

    def _key(self, token_digest: str) -> str:
        return f"{self._prefix}session:{token_digest}"

    async def add(self, session: Session) -> None:
        key = self._key(session.token_digest)
        remaining = (session.expires_at - self._clock()).total_seconds()
        if remaining <= 0:
            await self._client.delete(key)  # adding replaces, even with nothing
            return
        await self._client.set(key, _session_to_json(session), px=_millis(remaining))

    async def get(self, token_digest: str) -> Session | None:
        raw = await self._client.get(self._key(token_digest))
        return None if raw is None else _session_from_json(token_digest, raw)

    async def delete(self, token_digest: str) -> None:
        await self._client.delete(self._key(token_digest))

    async def delete_expired(self, now: datetime) -> int:
        """Redis forgets sessions at their expiry by itself, so this usually finds none; it
        scans for those that ``now`` (a clock ahead of this one) already calls expired."""
        head = self._key("")
        deleted = 0
        for key, raw in await self._scan(_glob_escape(head) + "*"):
            if _session_from_json(key[len(head) :], raw).expired(now):
                deleted += int(await self._delete_if_same(keys=[key], args=[raw]))
        return deleted


class RedisStore:
    """Rooms and sessions on one Redis client, which ``close()`` closes (as does closing both
    ``rooms`` and ``sessions``)."""

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._shared = SharedClose(client.aclose, parts=2)
        self.rooms = RedisRooms(client, prefix, on_close=self._shared.release)
        self.sessions = RedisSessions(client, prefix, on_close=self._shared.release)

    async def close(self) -> None:
        await self._shared.close()


async def open_redis(url: str, prefix: str = DEFAULT_PREFIX) -> RedisStore:
    """Connect to ``url`` and check it with PING; raise RedisUnavailable, naming the URL
    without its password, when Redis does not answer."""
    # A connect timeout, so that an unreachable host fails the start instead of hanging it;
    # options in the URL take precedence.
    try:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5.0)
    except ValueError as exc:
        raise RedisUnavailable(f"invalid Redis URL {redact_url(url)}: {exc}") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise RedisUnavailable(f"Redis at {redact_url(url)} did not answer PING: {exc}") from exc
    except BaseException:
        await client.aclose()
        raise
    return RedisStore(client, prefix)
