"""RTMP publish authorization by stream key, over the accounts use cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from golive.accounts.domain import (
    AccountsUnavailable,
    RateLimited,
    User,
    new_id,
    new_stream_key,
)
from golive.accounts.services import LiveRooms
from golive.adapters.hub import HubPublishes
from golive.adapters.memory import MemoryRooms, MemoryUsers
from golive.hub import StreamHub
from golive.ingest import accounts_authorizer
from golive.rtmp.server import PublishRefusedError


async def test_a_stream_key_grants_its_owners_room_until_released() -> None:
    users, registry = MemoryUsers(), MemoryRooms()
    alice = User(new_id(), "Alice", "alice@example.org", "-", new_stream_key(), datetime.now(UTC))
    await users.add(alice)
    here = LiveRooms(
        users, registry, HubPublishes(StreamHub(takeover_after=5.0)), node="node-a", ttl=30.0
    )
    there = LiveRooms(
        users, registry, HubPublishes(StreamHub(takeover_after=5.0)), node="node-b", ttl=30.0
    )
    authorize = accounts_authorizer(here)

    with pytest.raises(PublishRefusedError, match="unknown stream key") as refused:
        await authorize("live", alice.stream_key + "x", "", "192.0.2.1")
    assert refused.value.code == "NetStream.Publish.Denied"

    grant = await authorize("live", alice.stream_key, "", "192.0.2.1")
    assert grant.room == "alice" and await registry.get("alice") is None  # not live yet
    await grant.start()
    assert (await registry.get("alice")).node == "node-a"  # type: ignore[union-attr]
    await grant.release()
    assert await registry.get("alice") is None

    await there.go_live(alice)
    grant = await authorize("live", alice.stream_key, "", "192.0.2.1")
    with pytest.raises(PublishRefusedError, match="live on another node") as refused:
        await grant.start()
    assert refused.value.code == "NetStream.Publish.BadName"
    await grant.release()  # never started: the other node's room stays
    assert (await registry.get("alice")).node == "node-b"  # type: ignore[union-attr]


class RefusingUsers(MemoryUsers):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.clients: list[str] = []

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        self.clients.append(client)
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        AccountsUnavailable("the users service at users:50051 is unavailable"),
        RateLimited("too many failed stream key checks; try again later", 60),
    ],
)
async def test_a_remote_users_service_that_cannot_answer_is_a_refusal_naming_it(
    error: AccountsUnavailable | RateLimited,
) -> None:
    users = RefusingUsers(error)
    rooms = LiveRooms(
        users,
        MemoryRooms(),
        HubPublishes(StreamHub(takeover_after=5.0)),
        node="node-a",
        ttl=30.0,
    )
    with pytest.raises(PublishRefusedError) as refused:
        await accounts_authorizer(rooms)("live", new_stream_key(), "", "192.0.2.1")
    assert users.clients == ["192.0.2.1"]  # the publisher's address reaches the store
    assert refused.value.reason == error.message
    assert refused.value.code == "NetStream.Publish.Denied"
