"""Use cases: sign up, log in, authenticate a session, stream keys, authorize a publish, go
live, end live, the publishes of an ingest in front of this node (nginx-rtmp), and the upkeep
of rooms and sessions. They speak to the world only through the ports
(``golive.accounts.ports``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from .devices import DeviceCookies
from .domain import (
    USERNAME_RE,
    DomainError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    Room,
    RoomAlreadyLive,
    RoomDescription,
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
from .ports import (
    DescribeStream,
    LivePublishes,
    PasswordHasher,
    RoomRegistry,
    SecretStore,
    SessionStore,
    UserRepository,
)
from .throttle import LoginThrottle

log = logging.getLogger("golive.accounts")

# What a publisher stopped for a replaced stream key is told.
KEY_REPLACED = "the stream key was replaced"
# Seconds between two upkeeps of this node's rooms; the heartbeats within keep their own pace
# (LiveRooms.beat_interval).
UPKEEP_EVERY = 1.0
# Seconds between two purges of expired sessions.
PURGE_EVERY = 3600.0

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _every(seconds: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``step`` every ``seconds`` until cancelled, through any error it raises."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except DomainError as exc:
            # A refusal that says why (the remote users service is down): one line, no trace.
            log.warning("%s failed: %s; retrying", what, exc.message)
        except Exception:
            # A registry or store that is briefly unreachable must not stop the upkeep.
            log.exception("%s failed; retrying", what)


# What Accounts.counts counts: sign-ups; logins that opened a session, that gave a wrong
# username or password, that a throttle refused; sessions ended by logging out, and expired
# ones purged.
ACCOUNT_COUNTS = (
    "sign_ups",
    "logins",
    "logins_failed",
    "logins_throttled",
    "logouts",
    "sessions_expired",
)


class Accounts:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        hasher: PasswordHasher,
        *,
        session_ttl: timedelta,
        throttle: LoginThrottle | None = None,
        signup_throttle: LoginThrottle | None = None,
        secrets: SecretStore | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.hasher = hasher
        self.session_ttl = session_ttl
        self.throttle = throttle or LoginThrottle()
        # Every sign-up costs an argon2 hash (CPU and 64 MiB): at most 10 an hour per address.
        self.signup_throttle = signup_throttle or LoginThrottle(
            10, 3600.0, address_factor=1, address_window=3600.0,
            refusal="too many sign-ups; try again later", name="sign-up",
        )  # fmt: skip
        self.devices = DeviceCookies(secrets)
        self.clock = clock
        self._dummy_hash: str | None = None
        # What the use cases did, for the metrics (golive.metrics reads them at a scrape).
        self.counts: dict[str, int] = dict.fromkeys(ACCOUNT_COUNTS, 0)

    async def sign_up(
        self, username: object, email: object, password: object, address: str = ""
    ) -> User:
        user = User(
            id=new_id(),
            username=check_username(username),
            email=check_email(email),
            password_hash="",
            stream_key=new_stream_key(),
            created_at=self.clock(),
        )
        check_password(password)
        # Counted once the input is valid: typos in a form are not attempts.
        self.signup_throttle.begin(f"addr:{address}")
        user = replace(user, password_hash=await self.hasher.hash(check_password(password)))
        await self.users.add(user)
        self.counts["sign_ups"] += 1
        log.info("user %s signed up", user.name, extra={"event": "sign_up"})
        return user

    async def log_in(
        self, username: object, password: object, address: str = "", device: str | None = None
    ) -> tuple[User, str]:
        """Return the user and a new session token (given once; only its digest is kept).

        ``device`` is the device cookie the client presented for this username, if any
        (golive.accounts.devices): a valid one makes the attempt count against that device
        only, not against the account's or the address's limits.
        """
        if not isinstance(username, str) or not username:
            raise InvalidInput("username", "required")
        if not isinstance(password, str) or not password:
            raise InvalidInput("password", "required")
        # Bounded keys: a username longer than any valid one cannot grow the table.
        account = room_name(username[:64])
        nonce = await self.devices.verify(account, device) if device else None
        if nonce is None:
            keys: tuple[str, ...] = self.throttle.keys(account, address)
        else:
            keys = self.throttle.device_keys(account, nonce)
        try:
            stamp = self.throttle.begin(*keys)
        except RateLimited:
            self.counts["logins_throttled"] += 1
            raise
        user = await self.users.by_name(room_name(username))
        # The same work whether or not the user exists, and whatever the password's length,
        # so that response times do not reveal which usernames exist.
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hasher.hash("not a password of anyone")
            await self.hasher.verify(self._dummy_hash, password[:1024])
            ok = False
        else:
            ok = await self.hasher.verify(user.password_hash, password[:1024])
            ok = ok and len(password) <= 1024
        if user is None or not ok:
            self.counts["logins_failed"] += 1
            raise WrongCredentials("wrong username or password")
        self.throttle.succeeded(stamp, *keys)
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
        self.counts["logins"] += 1
        log.info("user %s logged in", user.name, extra={"event": "login"})
        return user, token

    async def new_device_cookie(self, user: User) -> str:
        """A device cookie's value for a browser ``user`` just logged in with (a new one
        after each login, as OWASP recommends)."""
        return await self.devices.issue(user.name)

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

    async def user_named(self, name: str) -> User:
        """The user whose username is ``name`` in any case, or NotFound."""
        user = await self.users.by_name(room_name(name)) if USERNAME_RE.fullmatch(name) else None
        if user is None:
            raise NotFound("no user by that name")
        return user

    async def user_by_id(self, user_id: str) -> User:
        """The user with the id ``user_id``, or NotFound."""
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("no user with that id")
        return user

    async def log_out(self, token: str) -> None:
        await self.sessions.delete(digest(token))
        self.counts["logouts"] += 1

    async def regenerate_stream_key(self, user: User) -> str:
        key = new_stream_key()
        await self.users.set_stream_key(user.id, key)
        log.info("user %s regenerated their stream key", user.name, extra={"event": "stream_key"})
        return key

    async def set_title(self, user: User, title: object) -> str:
        clean = check_title(title)
        await self.users.set_title(user.id, clean)
        return clean

    async def purge_sessions(self) -> int:
        purged = await self.sessions.delete_expired(self.clock())
        self.counts["sessions_expired"] += purged
        return purged

    async def keep_purging(self, *, every: float = PURGE_EVERY) -> None:
        """:meth:`purge_sessions` every ``every`` seconds until cancelled, through any error."""
        await _every(every, self.purge_sessions, "purging sessions")


class LiveRooms:
    """Going live and ending live, for the publishers that this node ingests.

    The registry may be shared by several nodes (Redis); ``node`` names this one. Rooms put
    by this node are refreshed by :meth:`upkeep` so that they outlive their TTL only while
    this node is alive. Publishes are stopped only here, through ``publishes``. An ingest in
    front of this node (nginx-rtmp) has live rooms of its own (:meth:`for_node`), kept by
    its callbacks (``outside_publish_*``).

    ``url`` is the public base URL of this node's HTTP server: its rooms carry it, and it is
    announced in the registry, so that the other nodes can send viewers of these rooms here
    (:meth:`served_elsewhere`, :meth:`url_of`) and let their pages load media from here
    (:meth:`node_urls`). Empty: nobody is sent here.
    """

    def __init__(
        self,
        users: UserRepository,
        registry: RoomRegistry,
        publishes: LivePublishes,
        *,
        node: str,
        ttl: float,
        url: str = "",
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.registry = registry
        self.publishes = publishes
        self.node = node
        self.ttl = ttl
        self.url = url
        # Every node's public URL as last read from the registry, by node name.
        self._node_urls: dict[str, str] = {}
        self._announced = False
        self.clock = clock
        self.local: dict[str, Room] = {}  # room name -> the room this node put
        # publish id -> digest of the stream key it was authorized with (never the key).
        self._key_digests: dict[str, str] = {}
        self._monotonic = monotonic
        self._last_beat = monotonic()

    def for_node(self, node: str, *, ttl: float) -> LiveRooms:
        """The live rooms of another ingest node in front of this one (nginx-rtmp), over the
        same accounts, registry and clocks: the rooms it puts name ``node``. They live on that
        ingest's updates (:meth:`outside_publish_update`), not on this node's upkeep. Their
        media is not served by golive, so they carry no URL."""
        return LiveRooms(
            self.users,
            self.registry,
            self.publishes,
            node=node,
            ttl=ttl,
            clock=self.clock,
            monotonic=self._monotonic,
        )

    @property
    def beat_interval(self) -> float:
        """Seconds between heartbeats: three to a TTL, so one lost beat expires no room."""
        return max(self.ttl / 3, 0.1)

    async def authorize_publish(self, stream_key: str, client: str = "") -> User:
        """The owner of a stream key, or UnknownStreamKey. The key is never logged.
        ``client`` is the publisher's address, for a store that throttles failed keys."""
        user = await self.users.by_stream_key_digest(digest(stream_key), client=client)
        # Found by digest; the constant-time comparison guards against a digest collision
        # in a store and against an adapter that matched loosely.
        if user is None or not hmac.compare_digest(user.stream_key.encode(), stream_key.encode()):
            raise UnknownStreamKey("unknown stream key")
        return user

    async def authorize_digest(self, key_digest: str) -> User:
        """The owner of the stream key whose SHA-256 is ``key_digest``, or UnknownStreamKey:
        what another node asks the users service when all it has is the digest (the
        UserRepository port of a node whose users are remote)."""
        user = await self.users.by_stream_key_digest(key_digest)
        if user is None or not hmac.compare_digest(user.stream_key_digest, key_digest):
            raise UnknownStreamKey("unknown stream key")
        return user

    async def publish(self, stream_key: str, client: str = "") -> Publish:
        """A publish into the room of the stream key's owner (UnknownStreamKey if none), not
        live yet: :meth:`Publish.start` puts the room, :meth:`Publish.end` removes it.
        ``client`` is the publisher's address."""
        return Publish(self, await self.authorize_publish(stream_key, client))

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
            node_url=self.url,
        )
        await self.registry.put(room, self.ttl)  # RoomAlreadyLive when another node holds it
        self.local[room.name] = room
        self._key_digests[room.publish_id] = user.stream_key_digest
        log.info(
            "room %s is live on node %s",
            room.name,
            self.node,
            extra={"room": room.name, "event": "room_live"},
        )
        return room

    async def describe(self, name: str, publish_id: str, description: RoomDescription) -> None:
        """Record what the stream carries once the packager knows it."""
        room = self.local.get(name)
        if room is None or room.publish_id != publish_id:
            return
        room = replace(room, description=description)
        self.local[name] = room
        await self.registry.refresh(room, self.ttl)

    async def retitle(self, name: str, title: str) -> None:
        """A new title for a room that is live on this node; others pick it up on go-live."""
        room = self.local.get(name)
        if room is not None:
            room = replace(room, title=title)
            self.local[name] = room
            await self.registry.refresh(room, self.ttl)

    async def revoked(self) -> list[Room]:
        """This node's live rooms whose stream key was replaced (on any node) since they
        went live: their publishers must stop."""
        out = []
        for room in list(self.local.values()):
            user = await self.users.get(room.user_id)
            if user is None or user.stream_key_digest != self._key_digests.get(room.publish_id):
                out.append(room)
        return out

    def key_replaced(self, user: User) -> bool:
        """The user's stream key was replaced, which is what a streamer does when the old one
        leaked: whoever publishes into their room on this node is stopped now, not at their
        next reconnect (other nodes stop theirs at their next beat, :meth:`upkeep`)."""
        return self.publishes.stop(user.name, KEY_REPLACED)

    async def end_live(self, name: str, publish_id: str) -> None:
        self._key_digests.pop(publish_id, None)
        room = self.local.get(name)
        if room is not None and room.publish_id == publish_id:
            del self.local[name]
        if await self.registry.remove(name, publish_id):
            log.info("room %s ended", name, extra={"room": name, "event": "room_ended"})

    async def upkeep(self, describe: DescribeStream) -> None:
        """Keep this node's rooms current; called about once a second.

        Records what each stream carries once ``describe`` knows it, and every
        :attr:`beat_interval` refreshes the rooms in the registry (:meth:`heartbeat`), this
        node's announcement (:meth:`announce`, also at the first call) and stops the publishes
        whose stream key was replaced since, through any node.
        """
        if not self._announced:
            await self.announce()
            self._announced = True
        for room in list(self.local.values()):
            description = describe(room.name)
            if description is not None and description != room.description:
                await self.describe(room.name, room.publish_id, description)
        now = self._monotonic()
        if now - self._last_beat >= self.beat_interval:
            self._last_beat = now
            await self.heartbeat()
            await self.announce()
            for room in await self.revoked():
                self.publishes.stop(room.name, KEY_REPLACED)

    async def keep_up(self, describe: DescribeStream, *, every: float = UPKEEP_EVERY) -> None:
        """:meth:`upkeep` every ``every`` seconds until cancelled, through any error: a
        registry that is briefly unreachable must not stop the heartbeats."""
        await _every(every, lambda: self.upkeep(describe), "room upkeep")

    async def heartbeat(self) -> None:
        """Refresh this node's rooms; put back any that expired while this node lived (a
        restarted Redis, a long pause), unless another publish holds the name now."""
        for room in list(self.local.values()):
            if await self.registry.refresh(room, self.ttl):
                continue
            current = await self.registry.get(room.name)
            # Each await may have let a takeover (a newer publish) or an end in: act only on
            # the room this beat started with, if it is still this node's current one.
            if not self._still_local(room):
                continue
            if current is None:
                try:
                    await self.registry.put(room, self.ttl)
                except RoomAlreadyLive:  # another node went live in between: it holds it
                    if self._still_local(room):
                        del self.local[room.name]
                    continue
                if not self._still_local(room):  # ended while being put back
                    await self.registry.remove(room.name, room.publish_id)
            elif current.publish_id != room.publish_id:
                del self.local[room.name]

    async def announce(self) -> None:
        """Announce this node's public URL for another TTL (when it has one), and read every
        node's."""
        if self.url:
            await self.registry.announce(self.node, self.url, self.ttl)
        self._node_urls = await self.registry.nodes()

    def node_urls(self) -> list[str]:
        """The public URLs of the other nodes, as last announced: where this node's pages may
        load media from."""
        return sorted({url for node, url in self._node_urls.items() if node != self.node})

    def url_of(self, room: Room) -> str:
        """Where viewers of ``room`` go: the base URL of the node that serves it when that is
        another node with a known URL; "" for this node (or an unknown one), whose paths are
        relative to whoever was asked."""
        return room.node_url if room.node != self.node else ""

    async def served_elsewhere(self, name: str) -> str | None:
        """The public base URL of the node that serves the room ``name`` (in its canonical,
        lowercase form), when that is another node with a known URL; None when the room is
        not live, live here, or its node's URL is unknown. Only URLs that nodes wrote into the
        registry come out of here, never anything a viewer sent."""
        # No room can have another name; the check keeps odd strings out of the registry.
        if not USERNAME_RE.fullmatch(name):
            return None
        room = await self.registry.get(name)
        if room is None:
            return None
        return self.url_of(room) or None

    async def _outside_publisher(self, stream_key: str, stream: str) -> User:
        user = await self.authorize_publish(stream_key)
        if room_name(stream) != user.name:
            # The same answer as a wrong key: a caller learns nothing about whose key it is.
            raise UnknownStreamKey("unknown stream key for this stream name")
        return user

    async def outside_publish_start(self, stream_key: str, stream: str) -> Room:
        """An ingest in front of this node starts publishing ``stream`` (its name, in any
        case) with ``stream_key``: the key's owner's room goes live, named for this node.

        UnknownStreamKey for a wrong key or a stream named for another user; RoomAlreadyLive
        when the room is live already, whoever holds it.
        """
        user = await self._outside_publisher(stream_key, stream)
        if await self.registry.get(user.name) is not None:
            raise RoomAlreadyLive(f"{user.name} is already live")
        return await self.go_live(user)

    async def outside_publish_update(self, stream_key: str, stream: str) -> None:
        """The ingest still publishes ``stream``: its heartbeat, which keeps the room live.

        A room that expired meanwhile (a long pause, a restarted registry) goes live again;
        RoomAlreadyLive when another node holds the room now, so that the ingest drops its
        publisher.
        """
        user = await self._outside_publisher(stream_key, stream)
        room = await self.registry.get(user.name)
        if room is None:
            await self.go_live(user)
        elif room.node != self.node:
            raise RoomAlreadyLive(f"{user.name} is live on another node")
        else:
            await self.registry.refresh(room, self.ttl)

    async def outside_publish_done(self, stream_key: str) -> None:
        """The ingest's publish with ``stream_key`` ended: its owner's room ends, only if this
        node put it (the user may be live through another ingest meanwhile)."""
        user = await self.authorize_publish(stream_key)
        room = await self.registry.get(user.name)
        if room is not None and room.node == self.node:
            await self.end_live(room.name, room.publish_id)

    def _still_local(self, room: Room) -> bool:
        mine = self.local.get(room.name)
        return mine is not None and mine.publish_id == room.publish_id

    async def get(self, name: str) -> Room:
        room = await self.registry.get(room_name(name))
        if room is None:
            raise NotFound(f"no live room named {name!r}")
        self._learn_urls([room])
        return room

    async def all(self) -> list[Room]:
        rooms = await self.registry.all()
        self._learn_urls(rooms)
        return sorted(rooms, key=lambda r: r.started_at)

    def _learn_urls(self, rooms: list[Room]) -> None:
        """The URLs of the nodes of rooms just read, before their next announcement is read:
        a page that shows a room may play it at once."""
        for room in rooms:
            if room.node_url:
                self._node_urls[room.node] = room.node_url


class Publish:
    """One publish authorized by a stream key: its owner's room goes live when it starts, and
    ends with it unless a newer publish (a takeover) holds the room by then."""

    def __init__(self, rooms: LiveRooms, user: User) -> None:
        self.rooms = rooms
        self.user = user
        self.room = user.name
        self._publish_id: str | None = None

    async def start(self) -> Room:
        """Put the room in the registry; RoomAlreadyLive when another node holds it."""
        room = await self.rooms.go_live(self.user)
        self._publish_id = room.publish_id
        return room

    async def end(self) -> None:
        if self._publish_id is not None:
            await self.rooms.end_live(self.room, self._publish_id)
