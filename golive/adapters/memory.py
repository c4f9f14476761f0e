"""In-memory adapters: the default room registry of a single node, and the doubles that
the use-case tests run on. They keep the same contract as the database adapters
(tests/integration/test_contracts.py), including case-insensitive uniqueness and TTLs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..accounts.domain import EmailTaken, Room, RoomAlreadyLive, Session, User, UsernameTaken


class MemoryUsers:
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}

    async def add(self, user: User) -> None:
        for other in self._by_id.values():
            if other.name == user.name:
                raise UsernameTaken("that username is taken")
            if other.email.lower() == user.email.lower():
                raise EmailTaken("an account with that email exists")
        self._by_id[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    async def by_name(self, name: str) -> User | None:
        return next((u for u in self._by_id.values() if u.name == name), None)

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        return next((u for u in self._by_id.values() if u.stream_key_digest == key_digest), None)

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        if user_id in self._by_id:
            self._by_id[user_id] = replace(self._by_id[user_id], stream_key=stream_key)

    async def set_title(self, user_id: str, title: str) -> None:
        if user_id in self._by_id:
            self._by_id[user_id] = replace(self._by_id[user_id], title=title)

    async def close(self) -> None:
        pass


class MemorySessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    async def add(self, session: Session) -> None:
        self._sessions[session.token_digest] = session

    async def get(self, token_digest: str) -> Session | None:
        return self._sessions.get(token_digest)

    async def delete(self, token_digest: str) -> None:
        self._sessions.pop(token_digest, None)

    async def delete_expired(self, now: datetime) -> int:
        expired = [k for k, s in self._sessions.items() if s.expired(now)]
        for key in expired:
            del self._sessions[key]
        return len(expired)

    async def close(self) -> None:
        pass


class MemorySecrets:
    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}

    async def secret(self, name: str, candidate: str) -> str:
        return self._secrets.setdefault(name, candidate)


class MemoryRooms:
    """Rooms of one node. Expiry is checked on read against a monotonic clock."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._rooms: dict[str, tuple[Room, float]] = {}  # name -> (room, expires at)
        self._nodes: dict[str, tuple[str, float]] = {}  # node -> (its URL, expires at)

    def _live(self, name: str) -> Room | None:
        entry = self._rooms.get(name)
        if entry is None:
            return None
        if entry[1] <= self._now():
            del self._rooms[name]
            return None
        return entry[0]

    async def put(self, room: Room, ttl: float) -> None:
        current = self._live(room.name)
        if current is not None and current.node != room.node:
            raise RoomAlreadyLive(f"{room.name} is live on another node")
        self._rooms[room.name] = (room, self._now() + ttl)

    async def refresh(self, room: Room, ttl: float) -> bool:
        current = self._live(room.name)
        if current is None or current.publish_id != room.publish_id:
            return False
        self._rooms[room.name] = (room, self._now() + ttl)
        return True

    async def remove(self, name: str, publish_id: str) -> bool:
        current = self._live(name)
        if current is None or current.publish_id != publish_id:
            return False
        del self._rooms[name]
        return True

    async def get(self, name: str) -> Room | None:
        return self._live(name)

    async def all(self) -> list[Room]:
        return [room for name in list(self._rooms) if (room := self._live(name)) is not None]

    async def announce(self, node: str, url: str, ttl: float) -> None:
        self._nodes[node] = (url, self._now() + ttl)

    async def nodes(self) -> dict[str, str]:
        now = self._now()
        for node in [n for n, (_, until) in self._nodes.items() if until <= now]:
            del self._nodes[node]
        return {node: url for node, (url, _) in self._nodes.items()}

    async def close(self) -> None:
        pass


class PlainHasher:
    """A fast, insecure stand-in for argon2 in use-case tests only; never wired in serve."""

    async def hash(self, password: str) -> str:
        return "plain$" + password

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password
