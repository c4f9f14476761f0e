"""The UserRepository port over another node's users service (``users = "grpc://host:port"``
or ``"grpcs://host:port"``; docs/grpc.md, "A node with remote users").

A node configured so ingests, packages and serves HLS, and asks the users node for the owner
of each stream key that publishes to it, and at every heartbeat for each user it has live (a
key replaced there stops the publish here). The port is read-only from here: adding a user,
replacing a key or a title raise AccountsElsewhere, since those happen on the users node.

Each call has a deadline (``timeout``) and is tried again on UNAVAILABLE or
DEADLINE_EXCEEDED, ``attempts`` times in all with a doubling back-off; after that, and for a
users node that refuses this node's secret, the call raises AccountsUnavailable, which the
publisher is told at once. The channel reconnects within seconds of the users node coming
back (its reconnect back-off is capped), not the two minutes of gRPC's default.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TypeVar
from urllib.parse import urlsplit

import grpc

from ..accounts.domain import AccountsElsewhere, AccountsUnavailable, RateLimited, User
from ..users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger("golive.accounts")

SCHEMES = ("grpc://", "grpcs://")
_RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# "No such user": for a lookup, an answer, not a failure.
_NOBODY = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.INVALID_ARGUMENT,
)
_M = TypeVar("_M")
_Q = TypeVar("_Q")


class UsersTargetError(ValueError):
    """A users URL that is not grpc://host:port or grpcs://host:port."""


def parse_target(url: str) -> tuple[str, bool]:
    """``grpc[s]://host:port`` as gRPC's target ("host:port") and whether it is TLS."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port = None
        parts = urlsplit("")
    if (
        parts.scheme not in ("grpc", "grpcs")
        or not parts.hostname
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise UsersTargetError(f"{url!r} is not grpc://host:port or grpcs://host:port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme == "grpcs"


def user_from_message(message: users_pb2.User) -> User:
    return User(
        id=message.id,
        username=message.username,
        email=message.email,
        # Never sent: a node with remote users checks no password.
        password_hash="",
        stream_key=message.stream_key,
        created_at=message.created_at.ToDatetime(tzinfo=UTC),
        title=message.title,
    )


class GrpcUsers:
    """UserRepository over ``golive.users.v1.Users``."""

    def __init__(
        self,
        url: str,
        *,
        secret: str,
        root_certificates: bytes | None = None,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff: float = 0.1,
    ) -> None:
        self.target, tls = parse_target(url)
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._metadata = (("authorization", f"Bearer {secret}"),)
        options = [
            # gRPC's default waits up to 120 s between reconnects: a users node back after a
            # restart would stay unreachable from here for that long.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.aio.secure_channel(self.target, credentials, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(self.target, options=options)
        self._stub = users_pb2_grpc.UsersStub(self._channel)

    async def _call(
        self,
        method: Callable[..., Awaitable[_M]],
        request: _Q,
        what: str,
    ) -> _M | None:
        """The reply, None when the user does not exist, or AccountsUnavailable."""
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await method(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                reason = dict(exc.trailing_metadata() or ()).get("golive-refusal")
                if code in _NOBODY and reason != "caller":
                    return None
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise RateLimited(exc.details() or "too many failed checks", 60.0) from None
                if code in _RETRIED and attempt < self.attempts:
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay *= 2
                    continue
                message = f"the users service at {self.target} is unavailable"
                if reason == "caller":
                    message = f"the users service at {self.target} refused this node's secret"
                log.warning(
                    "%s: %s (%s after %d attempt(s): %s)",
                    what, message, code.name, attempt, exc.details(),
                )  # fmt: skip
                raise AccountsUnavailable(message) from None
        raise AssertionError("unreachable")

    async def get(self, user_id: str) -> User | None:
        reply = await self._call(
            self._stub.GetUser, users_pb2.GetUserRequest(id=user_id), "looking up a user"
        )
        return None if reply is None else user_from_message(reply)

    async def by_name(self, name: str) -> User | None:
        reply = await self._call(
            self._stub.LookupUser, users_pb2.LookupUserRequest(name=name), "looking up a user"
        )
        return None if reply is None else user_from_message(reply)

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        # The publisher's address: the users service throttles failed keys per publisher, so
        # one guessing keys on this node's RTMP port does not hold off the others.
        request = users_pb2.AuthenticateStreamKeyRequest(
            stream_key_sha256=key_digest, client_address=client
        )
        reply = await self._call(self._stub.AuthenticateStreamKey, request, "authorizing a publish")
        return None if reply is None else user_from_message(reply)

    def _elsewhere(self) -> AccountsElsewhere:
        return AccountsElsewhere(
            f"accounts are kept by the users service at {self.target}: "
            "sign up and change them on that node"
        )

    async def add(self, user: User) -> None:
        raise self._elsewhere()

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        raise self._elsewhere()

    async def set_title(self, user_id: str, title: str) -> None:
        raise self._elsewhere()

    async def close(self) -> None:
        await self._channel.close()
