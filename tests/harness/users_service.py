"""A users node in the test's process: an SQLite accounts file behind golive's gRPC users
service on a loopback port, and the remote users adapter of another node talking to it."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from golive.accounts.domain import User
from golive.accounts.ports import UserRepository
from golive.accounts.services import Accounts, LiveRooms
from golive.accounts.throttle import LoginThrottle
from golive.adapters.grpc_users import GrpcUsers
from golive.adapters.memory import MemoryRooms, PlainHasher
from golive.adapters.sqlite import SqliteStore, open_sqlite
from golive.rpc.server import ServiceTls, UsersServer, UsersService

SECRET = "a-shared-secret-for-tests"


class _NoPublishes:
    def stop(self, room: str, reason: str) -> bool:
        return False


@dataclass
class UsersNode:
    store: SqliteStore
    accounts: Accounts
    rooms: LiveRooms
    server: UsersServer

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def remote(self, **options: float) -> GrpcUsers:
        """The users adapter of a node with ``users = "grpc://..."`` pointed here."""
        return GrpcUsers(f"grpc://{self.target}", secret=SECRET, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def users_node(
    path: Path,
    *,
    tls: ServiceTls | None = None,
    key_throttle: LoginThrottle | None = None,
    token_throttle: LoginThrottle | None = None,
    port: int = 0,
) -> AsyncIterator[UsersNode]:
    store = await open_sqlite(path)
    accounts = Accounts(store.users, store.sessions, PlainHasher(), session_ttl=timedelta(hours=1))
    rooms = LiveRooms(store.users, MemoryRooms(), _NoPublishes(), node="users", ttl=30)
    service = UsersService(
        accounts, rooms, key_throttle=key_throttle, token_throttle=token_throttle
    )
    server = UsersServer(service, secret=SECRET, tls=tls)
    await server.start("127.0.0.1", port)
    try:
        yield UsersNode(store, accounts, rooms, server)
    finally:
        await server.stop(0)
        await store.close()


class ThroughUsersService:
    """The UserRepository as a node with remote users sees it: every read goes over gRPC to
    the users node; writes (sign-up, a new key, a title) happen on the users node itself, in
    its SQLite, since the remote adapter refuses them (AccountsElsewhere). The service never
    sends password hashes: reads get the stored one back from the users node's file, so that
    the contract holds every other field to equality."""

    def __init__(self, node: UsersNode, remote: GrpcUsers) -> None:
        self.node = node
        self.remote = remote
        self.local = node.store.users

    async def _with_hash(self, user: User | None) -> User | None:
        if user is None:
            return None
        assert user.password_hash == "", "the users service sent a password hash"
        stored = await self.local.get(user.id)
        return replace(user, password_hash=stored.password_hash if stored else "")

    async def add(self, user: User) -> None:
        await self.local.add(user)

    async def get(self, user_id: str) -> User | None:
        return await self._with_hash(await self.remote.get(user_id))

    async def by_name(self, name: str) -> User | None:
        return await self._with_hash(await self.remote.by_name(name))

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        return await self._with_hash(await self.remote.by_stream_key_digest(key_digest, client))

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        await self.local.set_stream_key(user_id, stream_key)

    async def set_title(self, user_id: str, title: str) -> None:
        await self.local.set_title(user_id, title)

    async def close(self) -> None:
        await self.remote.close()


@asynccontextmanager
async def remote_users(tmp_path: Path) -> AsyncIterator[UserRepository]:
    """The contract suite's "grpc" backend: a users node on SQLite, read over gRPC."""
    async with users_node(tmp_path / "users-node.db") as node:
        repo = ThroughUsersService(node, node.remote())
        try:
            yield repo
        finally:
            await repo.close()


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP address) and its key, made by the
    openssl CLI: (cert.pem, key.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=golive users node",
            "-addext", f"subjectAltName=IP:{host},DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
