"""Use cases: sign up, log in, authenticate a session, stream keys, authorize a publish, go
live, end live. They speak to the world only through the ports (``golive.ports``).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from .domain import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    Room,
    RoomAlreadyLive,
    Session,
    UnknownStreamKey,
    User,
    WrongCredentials,
    check_email,
    check_password,
    check_title,
    check_username,
    digest,
    new_id,
    new_stream_key,
    new_token,
    room_name,
)
from .ports import PasswordHasher, RoomRegistry, SessionStore, UserRepository

log = logging.getLogger("golive.services")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class LoginThrottle:
    """Failed logins per account and per address, in a sliding window.

    After ``limit`` failures within ``window`` seconds, further attempts for that account (or
    from that address) are refused until the oldest failure leaves the window; a success
    clears the account's count. Per account stops guessing one password from many
    addresses; per address stops one client from trying many accounts.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._now = monotonic
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def check(self, *keys: str) -> None:
        now = self._now()
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.limit:
                retry = self.window - (now - times[0])
                raise RateLimited("too many failed logins; try again later", retry)

    def failed(self, *keys: str) -> None:
        now = self._now()
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, []).append(now)
        # Bounded memory: an address spraying usernames must not grow the table forever.
        if len(self._failures) > 100_000:
            for key in list(self._failures):
                self._recent(key, now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class Accounts:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        hasher: PasswordHasher,
        *,
        session_ttl: timedelta = timedelta(days=30),
        throttle: LoginThrottle | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.hasher = hasher
        self.session_ttl = session_ttl
        self.throttle = throttle or LoginThrottle()
        self.clock = clock
        self._dummy_hash: str | None = None

    async def sign_up(self, username: object, email: object, password: object) -> User:
        user = User(
            id=new_id(),
            username=check_username(username),
            email=check_email(email),
            password_hash="",
            stream_key=new_stream_key(),
            created_at=self.clock(),
        )
        user = replace(user, password_hash=await self.hasher.hash(check_password(password)))
        await self.users.add(user)
        log.info("user %s signed up", user.name)
        return user

    async def log_in(
        self, username: object, password: object, address: str = ""
    ) -> tuple[User, str]:
        """Return the user and a new session token (given once; only its digest is kept)."""
        if not isinstance(username, str) or not username:
            raise InvalidInput("username", "required")
        if not isinstance(password, str) or not password:
            raise InvalidInput("password", "required")
        # Bounded keys: a username longer than any valid one cannot grow the table.
        account_key = f"user:{room_name(username[:64])}"
        address_key = f"addr:{address}"
        self.throttle.check(account_key, address_key)
        user = await self.users.by_name(room_name(username))
        if user is None:
            # Spend the same time as a real check so response times do not reveal which
            # usernames exist.
            if self._dummy_hash is None:
                self._dummy_hash = await self.hasher.hash("not a password of anyone")
            await self.hasher.verify(self._dummy_hash, password[:1024])
            ok = False
        else:
            ok = len(password) <= 1024 and await self.hasher.verify(user.password_hash, password)
        if user is None or not ok:
            self.throttle.failed(account_key, address_key)
            raise WrongCredentials("wrong username or password")
        self.throttle.succeeded(account_key)
        token = new_token()
        now = self.clock()
        await self.sessions.add(
            Session(
                token_digest=digest(token),
                user_id=user.id,
                created_at=now,
                expires_at=now + self.session_ttl,
            )
        )
        log.info("user %s logged in", user.name)
        return user, token

    async def authenticate(self, token: str | None) -> User:
        if not token:
            raise NotAuthenticated("log in first")
        token_digest = digest(token)
        session = await self.sessions.get(token_digest)
        if session is None or session.expired(self.clock()):
            raise NotAuthenticated("the session has ended; log in again")
        user = await self.users.get(session.user_id)
        if user is None:
            await self.sessions.delete(token_digest)
            raise NotAuthenticated("the session has ended; log in again")
        return user

    async def log_out(self, token: str) -> None:
        await self.sessions.delete(digest(token))

    async def regenerate_stream_key(self, user: User) -> str:
        key = new_stream_key()
        await self.users.set_stream_key(user.id, key)
        log.info("user %s regenerated their stream key", user.name)
        return key

    async def set_title(self, user: User, title: object) -> str:
        clean = check_title(title)
        await self.users.set_title(user.id, clean)
        return clean

    async def purge_sessions(self) -> int:
        return await self.sessions.delete_expired(self.clock())


class LiveRooms:
    """Going live and ending live, for the publishers that this node ingests.

    The registry may be shared by several nodes (Redis); ``node`` names this one. Rooms put
    by this node are refreshed by :meth:`heartbeat` so that they outlive their TTL only
    while this node is alive.
    """

    def __init__(
        self,
        users: UserRepository,
        registry: RoomRegistry,
        *,
        node: str,
        ttl: float = 30.0,
        clock: Clock = utcnow,
    ) -> None:
        self.users = users
        self.registry = registry
        self.node = node
        self.ttl = ttl
        self.clock = clock
        self.local: dict[str, Room] = {}  # room name -> the room this node put

    async def authorize_publish(self, stream_key: str) -> User:
        """The owner of a stream key, or UnknownStreamKey. The key is never logged."""
        user = await self.users.by_stream_key_digest(digest(stream_key))
        # Found by digest; the constant-time comparison guards against a digest collision
        # in a store and against an adapter that matched loosely.
        if user is None or not hmac.compare_digest(user.stream_key.encode(), stream_key.encode()):
            raise UnknownStreamKey("unknown stream key")
        return user

    async def live_elsewhere(self, name: str) -> bool:
        """Whether another node holds the room now (go_live still decides, atomically)."""
        room = await self.registry.get(name)
        return room is not None and room.node != self.node

    async def go_live(self, user: User) -> Room:
        room = Room(
            name=user.name,
            user_id=user.id,
            streamer=user.username,
            title=user.title,
            started_at=self.clock(),
            node=self.node,
            publish_id=new_id(),
        )
        await self.registry.put(room, self.ttl)  # RoomAlreadyLive when another node holds it
        self.local[room.name] = room
        log.info("room %s is live on node %s", room.name, self.node)
        return room

    async def describe(
        self,
        name: str,
        publish_id: str,
        *,
        codecs: tuple[str, ...],
        renditions: tuple[str, ...],
        width: int | None,
        height: int | None,
    ) -> None:
        """Record what the stream carries once the packager knows it."""
        room = self.local.get(name)
        if room is None or room.publish_id != publish_id:
            return
        room = replace(room, codecs=codecs, renditions=renditions, width=width, height=height)
        self.local[name] = room
        await self.registry.refresh(room, self.ttl)

    async def retitle(self, name: str, title: str) -> None:
        """A new title for a room that is live on this node; others pick it up on go-live."""
        room = self.local.get(name)
        if room is not None:
            room = replace(room, title=title)
            self.local[name] = room
            await self.registry.refresh(room, self.ttl)

    async def end_live(self, name: str, publish_id: str) -> None:
        room = self.local.get(name)
        if room is not None and room.publish_id == publish_id:
            del self.local[name]
        if await self.registry.remove(name, publish_id):
            log.info("room %s ended", name)

    async def heartbeat(self) -> None:
        """Refresh this node's rooms; put back any that expired while this node lived (a
        restarted Redis, a long pause), unless another publish holds the name now."""
        for room in list(self.local.values()):
            if await self.registry.refresh(room, self.ttl):
                continue
            current = await self.registry.get(room.name)
            if current is None:
                try:
                    await self.registry.put(room, self.ttl)
                except RoomAlreadyLive:  # another node went live in between: it holds it
                    self.local.pop(room.name, None)
            elif current.publish_id != room.publish_id:
                self.local.pop(room.name, None)

    async def get(self, name: str) -> Room:
        room = await self.registry.get(room_name(name))
        if room is None:
            raise NotFound(f"no live room named {name!r}")
        return room

    async def all(self) -> list[Room]:
        rooms = await self.registry.all()
        return sorted(rooms, key=lambda r: r.started_at)
