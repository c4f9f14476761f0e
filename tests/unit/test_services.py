"""Use cases on the memory adapters: the rules of accounts, sessions, stream keys and rooms."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from golive.accounts.domain import (
    AccountsUnavailable,
    EmailTaken,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    RoomAlreadyLive,
    RoomDescription,
    UnknownStreamKey,
    User,
    UsernameTaken,
    WrongCredentials,
    digest,
    new_id,
    new_stream_key,
)
from golive.accounts.services import Accounts, LiveRooms
from golive.accounts.throttle import LoginThrottle
from golive.adapters.memory import MemoryRooms, MemorySessions, MemoryUsers, PlainHasher


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users() -> MemoryUsers:
    return MemoryUsers()


@pytest.fixture
def accounts(users: MemoryUsers, clock: Clock) -> Accounts:
    return Accounts(
        users,
        MemorySessions(),
        PlainHasher(),
        session_ttl=timedelta(hours=1),
        throttle=LoginThrottle(limit=3, window=60, monotonic=clock.monotonic),
        clock=clock,
    )


class Publishes:
    """The live publishes of a node, as the stops the use cases asked for."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.stopped: list[tuple[str, str]] = []

    def stop(self, room: str, reason: str) -> bool:
        self.stopped.append((room, reason))
        if room not in self.live:
            return False
        self.live.remove(room)
        return True


def rooms_for(
    users: MemoryUsers,
    registry: MemoryRooms,
    clock: Clock,
    node: str,
    publishes: Publishes | None = None,
    url: str = "",
) -> LiveRooms:
    return LiveRooms(
        users,
        registry,
        publishes or Publishes(),
        node=node,
        ttl=30,
        url=url,
        clock=clock,
        monotonic=clock.monotonic,
    )


async def test_sign_up_then_log_in_and_authenticate(accounts: Accounts) -> None:
    user = await accounts.sign_up("Alice_1", "alice@example.org", "correct horse")
    assert user.name == "alice_1" and user.username == "Alice_1"
    assert user.password_hash != "correct horse"
    assert user.stream_key.startswith("live_") and len(user.stream_key) > 40
    same, token = await accounts.log_in("ALICE_1", "correct horse", "127.0.0.1")
    assert same.id == user.id
    assert (await accounts.authenticate(token)).id == user.id
    await accounts.log_out(token)
    with pytest.raises(NotAuthenticated):
        await accounts.authenticate(token)


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("ab", "a@b.org", "password1", "username"),
        ("has space", "a@b.org", "password1", "username"),
        ("-dash", "a@b.org", "password1", "username"),
        ("x" * 33, "a@b.org", "password1", "username"),
        ("API", "a@b.org", "password1", "username"),  # reserved, whatever the case
        (None, "a@b.org", "password1", "username"),
        ("alice", "not-an-email", "password1", "email"),
        ("alice", "a@b", "password1", "email"),
        ("alice", 7, "password1", "email"),
        ("alice", "a@b.org", "short", "password"),
        ("alice", "a@b.org", ["password1"], "password"),
    ],
)
async def test_sign_up_names_the_bad_field(
    accounts: Accounts, username: object, email: object, password: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await accounts.sign_up(username, email, password)
    assert info.value.field == field


async def test_usernames_and_emails_are_unique_without_regard_to_case(accounts: Accounts) -> None:
    await accounts.sign_up("alice", "alice@example.org", "password1")
    with pytest.raises(UsernameTaken):
        await accounts.sign_up("ALICE", "other@example.org", "password1")
    with pytest.raises(EmailTaken):
        await accounts.sign_up("bob", "Alice@Example.org", "password1")


async def test_wrong_password_and_unknown_user_are_the_same_error(accounts: Accounts) -> None:
    await accounts.sign_up("alice", "alice@example.org", "password1")
    with pytest.raises(WrongCredentials) as wrong:
        await accounts.log_in("alice", "password2", "10.0.0.1")
    with pytest.raises(WrongCredentials) as unknown:
        await accounts.log_in("nobody", "password2", "10.0.0.2")
    assert str(wrong.value) == str(unknown.value)


async def test_login_is_throttled_per_account_and_address(accounts: Accounts, clock: Clock) -> None:
    # limit 3: 3 per account and address, 30 per account, 9 per address (the fixture).
    await accounts.sign_up("alice", "alice@example.org", "password1")
    await accounts.sign_up("bob", "bob@example.org", "password1")
    # A guesser at one address is stopped, even with the right password now...
    for _ in range(3):
        with pytest.raises(WrongCredentials):
            await accounts.log_in("alice", "nope-nope", "10.0.0.1")
    with pytest.raises(RateLimited) as info:
        await accounts.log_in("alice", "password1", "10.0.0.1")
    assert 0 < info.value.retry_after <= 60
    # ...while alice, from her own address, is not locked out by the guesser.
    await accounts.log_in("alice", "password1", "10.0.0.2")
    # Guessing alice from many addresses locks the account everywhere.
    for i in range(30 - 3):
        with pytest.raises(WrongCredentials):
            await accounts.log_in("alice", "nope-nope", f"10.1.{i}.1")
    with pytest.raises(RateLimited):
        await accounts.log_in("alice", "password1", "10.0.0.3")
    # One address trying many accounts is stopped.
    for i in range(9):
        with pytest.raises(WrongCredentials):
            await accounts.log_in(f"user{i}", "whatever1", "10.9.9.9")
    with pytest.raises(RateLimited):
        await accounts.log_in("bob", "password1", "10.9.9.9")
    await accounts.log_in("bob", "password1", "10.0.1.1")
    # The window slides: after it, alice may log in again.
    clock.advance(61)
    await accounts.log_in("alice", "password1", "10.0.0.1")


async def test_guesses_sent_at_once_cannot_slip_past_the_throttle(
    users: MemoryUsers, clock: Clock
) -> None:
    class SlowHasher(PlainHasher):
        async def verify(self, password_hash: str, password: str) -> bool:
            await asyncio.sleep(0.01)  # the check is in flight while the others arrive
            return await super().verify(password_hash, password)

    accounts = Accounts(
        users, MemorySessions(), SlowHasher(), session_ttl=timedelta(hours=1),
        throttle=LoginThrottle(limit=5, window=60, monotonic=clock.monotonic), clock=clock,
    )  # fmt: skip
    await accounts.sign_up("alice", "alice@example.org", "password1")
    results = await asyncio.gather(
        *(accounts.log_in("alice", f"guess-{i}", "10.0.0.1") for i in range(50)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WrongCredentials) for r in results) == 5
    assert sum(isinstance(r, RateLimited) for r in results) == 45


async def wrong_logins(accounts: Accounts, attempts: Iterable[tuple[str, str]]) -> None:
    """A wrong password for each (username, address), each refused as wrong (not throttled)."""
    for username, address in attempts:
        with pytest.raises(WrongCredentials):
            await accounts.log_in(username, "nope-nope", address)


async def test_the_owners_device_logs_in_while_others_are_locked_out(
    accounts: Accounts, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # limit 3 (the fixture): 3 per device, 30 per account for untrusted clients.
    alice = await accounts.sign_up("alice", "alice@example.org", "password1")
    await accounts.sign_up("bob", "bob@example.org", "password1")
    await accounts.log_in("alice", "password1", "10.0.0.1")
    device = await accounts.new_device_cookie(alice)
    # Guessing from 10 addresses locks alice's account for every untrusted client...
    await wrong_logins(accounts, (("alice", f"10.1.{i % 10}.1") for i in range(30)))
    with caplog.at_level("INFO", logger="golive.accounts"), pytest.raises(RateLimited):
        await accounts.log_in("alice", "password1", "10.0.0.1")
    assert "limit 'user' reached" in caplog.text and "'alice'" in caplog.text
    # ...but not her own browser, whatever address it comes from (or the guesser's).
    await accounts.log_in("alice", "password1", "10.0.0.1", device=device)
    await accounts.log_in("ALICE", "password1", "10.1.0.1", device=device)
    # A device cookie is worth nothing altered, or for another account.
    nonce, _, signature = device.partition(".")
    for forged in (
        f"{nonce}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{'A' if nonce[0] != 'A' else 'B'}{nonce[1:]}.{signature}",
        device + "x",
        "",
    ):
        with pytest.raises(RateLimited):
            await accounts.log_in("alice", "password1", "10.0.0.1", device=forged)
    with pytest.raises(WrongCredentials):  # bob is not locked: the cookie just does not count
        await accounts.log_in("bob", "nope-nope", "10.0.0.9", device=device)
    # A trusted device gets its own 3 guesses, then only it is locked.
    for _ in range(3):
        with pytest.raises(WrongCredentials):
            await accounts.log_in("alice", "nope-nope", "10.0.0.1", device=device)
    with pytest.raises(RateLimited):
        await accounts.log_in("alice", "password1", "10.0.0.1", device=device)
    other = await accounts.new_device_cookie(alice)
    await accounts.log_in("alice", "password1", "10.0.0.1", device=other)
    clock.advance(61)
    await accounts.log_in("alice", "password1", "10.0.0.1", device=device)


async def test_a_noisy_address_holds_its_neighbours_off_only_briefly(
    users: MemoryUsers, clock: Clock
) -> None:
    throttle = LoginThrottle(monotonic=clock.monotonic)  # the defaults
    accounts = Accounts(
        users, MemorySessions(), PlainHasher(), session_ttl=timedelta(hours=1),
        throttle=throttle, clock=clock,
    )  # fmt: skip
    carol = await accounts.sign_up("carol", "carol@example.org", "password1")
    await accounts.sign_up("dave", "dave@example.org", "password1")
    await accounts.log_in("carol", "password1", "192.0.2.1")
    device = await accounts.new_device_cookie(carol)
    # One client behind the NAT tries 30 accounts in a burst: the address is locked...
    await wrong_logins(accounts, ((f"user{i}", "192.0.2.1") for i in range(30)))
    with pytest.raises(RateLimited) as info:
        await accounts.log_in("dave", "password1", "192.0.2.1")
    assert 0 < info.value.retry_after <= 60
    # ...except for a neighbour's browser that logged in before,
    await accounts.log_in("carol", "password1", "192.0.2.1", device=device)
    # and for a minute only (not the 5 minutes of the other limits).
    clock.advance(60)
    await accounts.log_in("dave", "password1", "192.0.2.1")
    # Guessing is still stopped: 30 accounts a minute from one address, and one account
    # from it 10 times in 5 minutes.
    await wrong_logins(accounts, ((f"user{i}", "192.0.2.1") for i in range(30)))
    with pytest.raises(RateLimited):
        await accounts.log_in("user99", "whatever1", "192.0.2.1")
    clock.advance(60)
    # user0 was tried twice from there in the last 5 minutes: 8 more, then no more.
    await wrong_logins(accounts, [("user0", "192.0.2.1")] * 8)
    with pytest.raises(RateLimited) as info:
        await accounts.log_in("user0", "whatever1", "192.0.2.1")
    assert info.value.retry_after > 60  # the pair's 5-minute window


async def test_sign_ups_are_throttled_per_address(accounts: Accounts) -> None:
    for i in range(10):
        await accounts.sign_up(f"user{i}", f"u{i}@example.org", "password1", "10.0.0.1")
    with pytest.raises(RateLimited):
        await accounts.sign_up("one_more", "more@example.org", "password1", "10.0.0.1")
    await accounts.sign_up("one_more", "more@example.org", "password1", "10.0.0.2")
    # Invalid input is not an attempt.
    with pytest.raises(InvalidInput):
        await accounts.sign_up("x", "x@example.org", "password1", "10.0.0.2")


@pytest.mark.parametrize(
    "title",
    ["a\x00b", "tab\there", "\u202eevil", "a\u202ab", "\u2066x\u2069", "zero\u200bwidth",
     "a\u2060b", "\ufeffbom", "x" * 141,
     # DEL and C1 controls, line separators, the bidi marks.
     "del\x7f", "nel\x85", "csi\x9b[2J", "a\u200eb", "a\u200fb", "a\u061cb", "a\u2028b",
     "a\u2029b",
     # Joiners that join nothing: at an end, beside a space, doubled.
     "\u200dlead", "trail\u200c", "a \u200d b", "a\u200c\u200cb", "  \u200dx"],
)  # fmt: skip
async def test_titles_refuse_controls_bidi_overrides_and_zero_width(
    accounts: Accounts, title: str
) -> None:
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    with pytest.raises(InvalidInput) as info:
        await accounts.set_title(user, title)
    assert info.value.field == "title"


async def test_titles_keep_any_other_text(accounts: Accounts) -> None:
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    # Joiners between visible characters are writing: an emoji ZWJ sequence, Persian.
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want"
    for title in ("Speedrun ☕ día 3", "שלום עולם", "👩\u200d💻 " * 20, persian, "x" * 140):
        assert await accounts.set_title(user, title) == title.strip()


async def test_sessions_expire(accounts: Accounts, clock: Clock) -> None:
    await accounts.sign_up("alice", "alice@example.org", "password1")
    _, token = await accounts.log_in("alice", "password1")
    clock.advance(3599)
    await accounts.authenticate(token)
    clock.advance(2)
    with pytest.raises(NotAuthenticated):
        await accounts.authenticate(token)
    assert await accounts.purge_sessions() == 1
    for bad in (None, "", "not-a-token"):
        with pytest.raises(NotAuthenticated):
            await accounts.authenticate(bad)


async def test_regenerated_stream_key_replaces_the_old_one_at_once(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    rooms = rooms_for(users, MemoryRooms(clock.monotonic), clock, "node-a")
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    assert (await rooms.authorize_publish(user.stream_key)).id == user.id
    live = await rooms.go_live(await rooms.authorize_publish(user.stream_key))
    assert await rooms.revoked() == []
    new_key = await accounts.regenerate_stream_key(user)
    assert new_key != user.stream_key
    # The room that went live with the old key is to be stopped, wherever the key changed.
    assert [r.publish_id for r in await rooms.revoked()] == [live.publish_id]
    await rooms.end_live(live.name, live.publish_id)
    assert await rooms.revoked() == []
    with pytest.raises(UnknownStreamKey):
        await rooms.authorize_publish(user.stream_key)
    assert (await rooms.authorize_publish(new_key)).id == user.id
    for bad in ("", "live_", new_key + "x", new_key[:-1]):
        with pytest.raises(UnknownStreamKey):
            await rooms.authorize_publish(bad)


async def test_go_live_and_end_live(accounts: Accounts, users: MemoryUsers, clock: Clock) -> None:
    registry = MemoryRooms(clock.monotonic)
    rooms = rooms_for(users, registry, clock, "node-a")
    user = await accounts.sign_up("Alice", "alice@example.org", "password1")
    await accounts.set_title(user, "  Speedrun  ")
    user = await rooms.authorize_publish(user.stream_key)
    room = await rooms.go_live(user)
    assert (room.name, room.streamer, room.title, room.node) == (
        "alice",
        "Alice",
        "Speedrun",
        "node-a",
    )
    assert [r.name for r in await rooms.all()] == ["alice"]
    assert (await rooms.get("ALICE")).publish_id == room.publish_id
    await rooms.describe(
        "alice",
        room.publish_id,
        RoomDescription(("avc1.64001f", "mp4a.40.2"), ("source",), 1280, 720),
    )
    assert (await rooms.get("alice")).description.codecs == ("avc1.64001f", "mp4a.40.2")
    await rooms.retitle("alice", await accounts.set_title(user, "Any% glitchless"))
    assert (await rooms.get("alice")).title == "Any% glitchless"
    await rooms.end_live("alice", room.publish_id)
    assert await rooms.all() == []
    with pytest.raises(NotFound):
        await rooms.get("alice")


async def test_one_publisher_per_room_across_nodes(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    node_a = rooms_for(users, registry, clock, "node-a")
    node_b = rooms_for(users, registry, clock, "node-b")
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    first = await node_a.go_live(user)
    assert await node_b.live_elsewhere("alice") and not await node_a.live_elsewhere("alice")
    with pytest.raises(RoomAlreadyLive):
        await node_b.go_live(user)
    # A takeover on the same node replaces the room; the old publish ending later must not
    # remove the new one.
    second = await node_a.go_live(user)
    await node_a.end_live("alice", first.publish_id)
    assert (await node_a.get("alice")).publish_id == second.publish_id


async def test_viewers_are_sent_to_the_node_that_serves_the_room(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    node_a = rooms_for(users, registry, clock, "node-a", url="http://a.example:8080")
    node_b = rooms_for(users, registry, clock, "node-b", url="https://b.example")
    alice = await accounts.sign_up("Alice", "alice@example.org", "password1")
    room = await node_a.go_live(alice)
    assert room.node_url == "http://a.example:8080"
    # Node B sends viewers to A; A serves its own room (relative paths, no redirect).
    assert await node_b.served_elsewhere("alice") == "http://a.example:8080"
    assert node_b.url_of(room) == "http://a.example:8080"
    assert await node_a.served_elsewhere("alice") is None
    assert node_a.url_of(room) == ""
    # Only the canonical name of a live room finds anything.
    assert await node_b.served_elsewhere("Alice") is None
    assert await node_b.served_elsewhere("bob") is None
    # A room whose node has no known URL (an ingest in front) sends nobody anywhere.
    bob = await accounts.sign_up("bob", "bob@example.org", "password1")
    outside = node_a.for_node("nginx-rtmp", ttl=90)
    await outside.outside_publish_start(bob.stream_key, "bob")
    assert (await registry.get("bob")).node_url == ""  # type: ignore[union-attr]
    assert await node_b.served_elsewhere("bob") is None


async def test_nodes_announce_their_urls_at_once_and_with_every_beat(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    node_a = rooms_for(users, registry, clock, "node-a", url="http://a.example:8080")
    node_b = rooms_for(users, registry, clock, "node-b", url="https://b.example")
    await node_a.upkeep(lambda name: None)
    assert node_a.node_urls() == []  # B has not announced itself yet
    await node_b.upkeep(lambda name: None)
    assert node_b.node_urls() == ["http://a.example:8080"]
    # A node that lists a room of another learns its URL then, without waiting for a beat.
    other = rooms_for(users, registry, clock, "node-c", url="http://c.example")
    carol = await other.go_live(await accounts.sign_up("carol", "c@example.org", "password1"))
    await node_a.all()
    assert node_a.node_urls() == ["http://c.example"]
    await registry.remove("carol", carol.publish_id)
    # A learns of B at its next beat; the announcements outlive a TTL only while renewed.
    clock.advance(10)
    await node_a.upkeep(lambda name: None)
    assert node_a.node_urls() == ["https://b.example"]
    for _ in range(3):
        clock.advance(10)
        await node_a.upkeep(lambda name: None)  # B stopped beating
    assert await registry.nodes() == {"node-a": "http://a.example:8080"}
    assert node_a.node_urls() == []


async def test_rooms_of_a_dead_node_expire_and_heartbeats_keep_them(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    alive = rooms_for(users, registry, clock, "node-a")
    dead = rooms_for(users, registry, clock, "node-b")
    alice = await accounts.sign_up("alice", "alice@example.org", "password1")
    bob = await accounts.sign_up("bob", "bob@example.org", "password1")
    await alive.go_live(alice)
    await dead.go_live(bob)
    for _ in range(4):
        clock.advance(20)
        await alive.heartbeat()  # node-b never beats: it crashed
    assert [r.name for r in await alive.all()] == ["alice"]
    # Once expired, another node may take the room.
    await alive.go_live(bob)


async def test_heartbeat_puts_back_a_room_lost_from_the_registry(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    rooms = rooms_for(users, registry, clock, "node-a")
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    room = await rooms.go_live(user)
    clock.advance(31)  # e.g. a registry restarted, or this node paused past the TTL
    assert await registry.get("alice") is None
    await rooms.heartbeat()
    assert (await registry.get("alice")) == room
    # But not when another node has taken the name meanwhile.
    other = rooms_for(users, registry, clock, "node-b")
    clock.advance(31)
    await other.go_live(user)
    await rooms.heartbeat()
    assert (await registry.get("alice")).node == "node-b"  # type: ignore[union-attr]
    assert "alice" not in rooms.local


async def test_a_replaced_key_stops_the_publish_on_this_node_at_once(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    publishes = Publishes()
    rooms = rooms_for(users, MemoryRooms(clock.monotonic), clock, "node-a", publishes)
    user = await accounts.sign_up("Alice", "alice@example.org", "password1")
    publishes.live.add("alice")
    await accounts.regenerate_stream_key(user)
    assert rooms.key_replaced(user) is True
    assert publishes.stopped == [("alice", "the stream key was replaced")]
    assert rooms.key_replaced(user) is False  # nobody was publishing any more


async def test_upkeep_describes_rooms_then_beats_and_stops_revoked_publishes(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    publishes = Publishes()
    rooms = rooms_for(users, registry, clock, "node-a", publishes)
    assert rooms.beat_interval == 10.0  # three beats to a TTL of 30 s
    alice = await accounts.sign_up("Alice", "alice@example.org", "password1")
    bob = await accounts.sign_up("bob", "bob@example.org", "password1")
    publish = await rooms.publish(alice.stream_key)
    assert publish.room == "alice"
    room = await publish.start()
    await (await rooms.publish(bob.stream_key)).start()
    publishes.live |= {"alice", "bob"}
    described = RoomDescription(("avc1.64001f",), ("source", "360p"), 1280, 720)
    known = {"alice": described}

    await rooms.upkeep(known.get)
    assert (await registry.get("alice")).description == described  # type: ignore[union-attr]
    assert (await registry.get("bob")).description == RoomDescription()  # type: ignore[union-attr]
    # The key replaced through another node: stopped here at the next beat, not before.
    await accounts.regenerate_stream_key(alice)
    clock.advance(9)
    await rooms.upkeep(known.get)
    assert publishes.stopped == []
    clock.advance(1)
    await rooms.upkeep(known.get)
    assert publishes.stopped == [("alice", "the stream key was replaced")]
    # The beat also refreshed the rooms: both outlive the TTL counted from their going live.
    clock.advance(25)
    assert {r.name for r in await registry.all()} == {"alice", "bob"}
    await publish.end()
    assert await registry.get("alice") is None and room.name not in rooms.local
    await publish.end()  # a second end changes nothing
    assert await registry.get("bob") is not None


# -- an ingest in front of this node (nginx-rtmp) -------------------------------------------


@dataclass
class InFront:
    """A node's rooms, those of an ingest in front of it, their registry, and a streamer."""

    registry: MemoryRooms
    here: LiveRooms
    front: LiveRooms
    user: User


@pytest.fixture
async def in_front(accounts: Accounts, users: MemoryUsers, clock: Clock) -> InFront:
    registry = MemoryRooms(clock.monotonic)
    here = rooms_for(users, registry, clock, "node-a")
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    return InFront(registry, here, here.for_node("front", ttl=90), user)


async def test_another_ingest_node_shares_the_registry_under_its_own_name_and_ttl(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    registry = MemoryRooms(clock.monotonic)
    here = rooms_for(users, registry, clock, "node-a")
    front = here.for_node("front", ttl=90)
    assert (front.node, front.ttl, front.registry, front.users) == ("front", 90, registry, users)
    user = await accounts.sign_up("Alice", "alice@example.org", "password1")
    room = await front.outside_publish_start(user.stream_key, "ALICE")  # the name in any case
    assert (room.node, room.streamer, room.started_at) == ("front", "Alice", clock.now)
    assert await here.get("alice") == room
    assert here.local == {}, "this node's upkeep does not beat for the other ingest's rooms"
    clock.advance(60)  # its own TTL, not this node's
    assert await registry.get("alice") == room
    clock.advance(31)
    assert await registry.get("alice") is None


async def test_an_outside_publish_needs_the_key_of_the_streams_owner(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    front = rooms_for(users, MemoryRooms(clock.monotonic), clock, "node-a").for_node("f", ttl=90)
    alice = await accounts.sign_up("alice", "alice@example.org", "password1")
    await accounts.sign_up("bob", "bob@example.org", "password1")
    refusals = [
        front.outside_publish_start("live_wrong", "alice"),
        front.outside_publish_start(alice.stream_key, "bob"),  # a valid key for another name
        front.outside_publish_update("live_wrong", "alice"),
        front.outside_publish_update(alice.stream_key, "bob"),
        front.outside_publish_done("live_wrong"),
    ]
    for refused in refusals:
        with pytest.raises(UnknownStreamKey) as info:
            await refused
        assert info.value.code == "unknown_stream_key"  # the same answer as a wrong key
    assert await front.all() == []


async def test_an_outside_publish_does_not_start_in_a_live_room(in_front: InFront) -> None:
    registry, here, front, user = in_front.registry, in_front.here, in_front.front, in_front.user
    own = await here.go_live(user)  # live through this node's own ingest
    with pytest.raises(RoomAlreadyLive, match="already live"):
        await front.outside_publish_start(user.stream_key, "alice")
    await here.end_live("alice", own.publish_id)
    first = await front.outside_publish_start(user.stream_key, "alice")
    with pytest.raises(RoomAlreadyLive, match="already live"):  # even its own room
        await front.outside_publish_start(user.stream_key, "alice")
    assert await registry.get("alice") == first


async def test_outside_updates_keep_the_room_reopen_it_and_refuse_another_nodes(
    in_front: InFront, clock: Clock
) -> None:
    registry, here, front, user = in_front.registry, in_front.here, in_front.front, in_front.user
    room = await front.outside_publish_start(user.stream_key, "alice")
    for _ in range(4):  # the updates are the heartbeat: the room outlives its TTL
        clock.advance(60)
        await front.outside_publish_update(user.stream_key, "alice")
    assert await registry.get("alice") == room
    clock.advance(91)  # the ingest went quiet: the room expired...
    assert await registry.get("alice") is None
    await front.outside_publish_update(user.stream_key, "alice")  # ...and it still streams
    again = await registry.get("alice")
    assert again is not None and again.node == "front" and again.publish_id != room.publish_id
    # Live on another node now: refused, so that the ingest drops its publisher.
    await registry.remove("alice", again.publish_id)
    mine = await here.go_live(user)
    with pytest.raises(RoomAlreadyLive, match="live on another node"):
        await front.outside_publish_update(user.stream_key, "alice")
    assert await registry.get("alice") == mine


async def test_an_outside_publish_done_ends_only_the_room_its_node_put(in_front: InFront) -> None:
    registry, here, front, user = in_front.registry, in_front.here, in_front.front, in_front.user
    await front.outside_publish_done(user.stream_key)  # not live: nothing to end
    await front.outside_publish_start(user.stream_key, "alice")
    await front.outside_publish_done(user.stream_key)
    assert await registry.get("alice") is None and front.local == {}
    mine = await here.go_live(user)
    await front.outside_publish_done(user.stream_key)
    assert await registry.get("alice") == mine


# -- upkeep loops ---------------------------------------------------------------------------


async def run_until(loop: Coroutine[Any, Any, None], done: Callable[[], Awaitable[bool]]) -> None:
    """Run an upkeep loop until ``done``, then cancel it as the application's cleanup does."""
    task = asyncio.create_task(loop)
    try:
        async with asyncio.timeout(5):
            while not await done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_keep_up_runs_the_upkeep_through_its_errors(
    accounts: Accounts, users: MemoryUsers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    registry = MemoryRooms(clock.monotonic)
    rooms = rooms_for(users, registry, clock, "node-a")
    user = await accounts.sign_up("alice", "alice@example.org", "password1")
    await rooms.go_live(user)
    described = RoomDescription(("avc1.64001f",), ("source",), 640, 360)
    calls = 0

    def describe(name: str) -> RoomDescription | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the packager hiccuped")
        return described

    async def described_now() -> bool:
        return (await rooms.get("alice")).description == described

    await run_until(rooms.keep_up(describe, every=0.01), described_now)
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        "room upkeep failed; retrying"
    ]
    assert {r.name for r in caplog.records} == {"golive.accounts"}


async def test_keep_purging_forgets_expired_sessions_through_errors(
    users: MemoryUsers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class FlakySessions(MemorySessions):
        failed = False

        async def delete_expired(self, now: datetime) -> int:
            if not self.failed:
                self.failed = True
                raise ConnectionError("the store is away")
            return await super().delete_expired(now)

    sessions = FlakySessions()
    accounts = Accounts(users, sessions, PlainHasher(), session_ttl=timedelta(hours=1), clock=clock)
    await accounts.sign_up("alice", "alice@example.org", "password1")
    _, token = await accounts.log_in("alice", "password1")
    clock.advance(3601)

    async def purged() -> bool:
        return await sessions.get(digest(token)) is None

    await run_until(accounts.keep_purging(every=0.01), purged)
    assert sessions.failed
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        "purging sessions failed; retrying"
    ]


async def test_users_by_name_and_id_for_the_users_service(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    alice = await accounts.sign_up("Alice", "alice@example.org", "password1")
    assert await accounts.user_named("ALICE") == alice
    assert await accounts.user_by_id(alice.id) == alice
    for name in ("bob", "../alice", "a" * 300, ""):
        with pytest.raises(NotFound):
            await accounts.user_named(name)
    with pytest.raises(NotFound):
        await accounts.user_by_id("nobody")


async def test_a_stream_key_is_authorized_by_its_digest_too(
    accounts: Accounts, users: MemoryUsers, clock: Clock
) -> None:
    rooms = rooms_for(users, MemoryRooms(clock.monotonic), clock, "node-a")
    alice = await accounts.sign_up("alice", "alice@example.org", "password1")
    assert await rooms.authorize_digest(alice.stream_key_digest) == alice
    for wrong in (digest(alice.stream_key + "x"), alice.stream_key, ""):
        with pytest.raises(UnknownStreamKey):
            await rooms.authorize_digest(wrong)


class UnreachableUsers(MemoryUsers):
    async def get(self, user_id: str) -> User | None:
        raise AccountsUnavailable("the users service at users:50051 is unavailable")


async def test_upkeep_says_why_the_users_cannot_be_read_and_stops_nothing(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    users = UnreachableUsers()
    publishes = Publishes()
    rooms = rooms_for(users, MemoryRooms(clock.monotonic), clock, "node-a", publishes)
    alice = User(new_id(), "alice", "a@example.org", "-", new_stream_key(), clock())
    await rooms.go_live(alice)
    beats = 0

    async def beaten() -> bool:
        nonlocal beats
        clock.advance(rooms.beat_interval)
        beats += 1
        return beats > 3

    await run_until(rooms.keep_up(lambda name: None, every=0.01), beaten)
    assert publishes.stopped == []
    failures = [r for r in caplog.records if "room upkeep failed" in r.getMessage()]
    assert failures and all(r.exc_info is None for r in failures)
    assert failures[0].getMessage() == (
        "room upkeep failed: the users service at users:50051 is unavailable; retrying"
    )
