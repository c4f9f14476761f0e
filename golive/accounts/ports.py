"""Ports: what the use cases need from the world, defined by the use cases.

Each is a narrow ``Protocol``; adapters in ``golive.adapters`` implement them. The stores'
(memory, SQLite, MongoDB, Redis) are async, and one contract suite holds them all to the same
behaviour (tests/integration/test_contracts.py). The live publishes of this node are the
stream hub's (``golive.adapters.hub``), and what their streams carry is the HLS packager's
(``golive.adapters.packager``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from .domain import Room, RoomDescription, Session, User


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user; raise UsernameTaken or EmailTaken (case-insensitive)."""

    async def get(self, user_id: str) -> User | None: ...

    async def by_name(self, name: str) -> User | None:
        """The user whose username, lowercased, is ``name``."""

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        """The owner of the stream key with this SHA-256. ``client``, the address of whoever
        presented the key, is for a store that throttles failed keys (a users service
        elsewhere); a database ignores it."""

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        """Replace the key; the old one must stop matching at once."""

    async def set_title(self, user_id: str, title: str) -> None: ...

    async def close(self) -> None: ...


class SessionStore(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, token_digest: str) -> Session | None: ...

    async def delete(self, token_digest: str) -> None: ...

    async def delete_expired(self, now: datetime) -> int:
        """Forget sessions past their expiry; return how many."""

    async def close(self) -> None: ...


class SecretStore(Protocol):
    """Server secrets that every node must share (the key that signs device cookies), kept
    with the accounts so that all nodes of one database agree on them."""

    async def secret(self, name: str, candidate: str) -> str:
        """The secret stored under ``name``; ``candidate`` is stored first when there is
        none. Atomic: nodes that race with different candidates all get the same one."""


class RoomRegistry(Protocol):
    """Which rooms are live, on which node; shared by every node when it lives in Redis.

    Entries expire ``ttl`` seconds after they were put or last refreshed, so the rooms of a
    node that died without ending them disappear on their own. Beside the rooms, each node
    announces the public URL of its HTTP server, so that the pages of one node may load
    media from the others (golive.pages' Content-Security-Policy).
    """

    async def put(self, room: Room, ttl: float) -> None:
        """Store the room; raise RoomAlreadyLive if a room of that name is held by
        another node. A room held by the same node is replaced (a takeover)."""

    async def refresh(self, room: Room, ttl: float) -> bool:
        """Extend the room's expiry (and store its current details) while it is still this
        publish's; return False when the room is gone or belongs to another publish."""

    async def remove(self, name: str, publish_id: str) -> bool:
        """Remove the room only if it is still this publish's; return whether it was."""

    async def get(self, name: str) -> Room | None: ...

    async def all(self) -> list[Room]: ...

    async def announce(self, node: str, url: str, ttl: float) -> None:
        """Record that ``node`` serves HTTP at the public base URL ``url``, for ``ttl``
        seconds (a node announces itself again with its heartbeats)."""

    async def nodes(self) -> dict[str, str]:
        """The public base URL of every node announced and not expired, by node name."""

    async def close(self) -> None: ...


class PasswordHasher(Protocol):
    """Slow by design; implementations keep the work off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...


class LivePublishes(Protocol):
    """The publishes this node ingests. Only the use cases stop one, for a reason of theirs
    (a stream key replaced), so that every such stop is decided in one place."""

    def stop(self, room: str, reason: str) -> bool:
        """End the room's publish on this node, if any, and tell its publisher ``reason``;
        return whether there was one."""


# What the stream of a room live on this node carries, or None until the packager knows.
DescribeStream = Callable[[str], RoomDescription | None]
