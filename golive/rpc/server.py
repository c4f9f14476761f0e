"""The users service over gRPC (docs/grpc.md, "The service"): ``golive.users.v1.Users`` on
``grpc.aio``, beside the standard health (``grpc.health.v1``) and reflection services.

It is an inbound adapter like the JSON API: every call goes to a use case (``Accounts``,
``LiveRooms``), and the use cases' refusals become gRPC status codes here. Callers present
the shared secret (``grpc_secret``) as ``authorization: Bearer <secret>`` metadata; health
and reflection need none, so that generic tools (grpc_health_probe, grpcurl) work. Failed
token and stream-key checks are throttled per caller with the login throttle
(``golive.accounts.throttle``), so that the service is no faster an oracle for guessing keys
than the login form is for passwords.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..accounts.domain import (
    AccountsUnavailable,
    DomainError,
    NotAuthenticated,
    NotFound,
    RateLimited,
    UnknownStreamKey,
    User,
)
from ..accounts.services import Accounts, LiveRooms
from ..accounts.throttle import LoginThrottle
from ..logs import escape_for_log
from ..users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger("golive.rpc")

SERVICE = users_pb2.DESCRIPTOR.services_by_name["Users"].full_name  # golive.users.v1.Users
# Metadata of every call of Users: the shared secret. Trailing metadata REASON tells a caller
# whether its own secret was refused ("caller") or the credential it asked about ("credential").
AUTHORIZATION = "authorization"
REASON = "golive-refusal"
# Bounds on what a caller may send: far above every valid value (a stream key has 48
# characters, a token 43, a username at most 32), low enough to keep the throttle's keys small.
MAX_FIELD = 256
MAX_ADDRESS = 64
MAX_MESSAGE = 16 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Failed checks that one caller (its address, and the client address it names) may make per
# minute, for tokens and for stream keys each; successes are taken back (LoginThrottle).
FAILURES_PER_MINUTE = 100


def check_throttle(name: str, per_minute: int = FAILURES_PER_MINUTE) -> LoginThrottle:
    """A throttle of failed checks per caller and client address, as the login's per
    address: ``per_minute`` failures in any 60 s."""
    return LoginThrottle(
        per_minute, 60.0, address_factor=1, address_window=60.0,
        refusal=f"too many failed {name} checks; try again later", name=f"gRPC {name}",
    )  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def user_message(user: User) -> users_pb2.User:
    # Integer arithmetic: Timestamp.FromDatetime goes through a time tuple, a tenth of a call.
    since = user.created_at - _EPOCH
    created = Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)
    return users_pb2.User(
        id=user.id,
        username=user.username,
        email=user.email,
        title=user.title,
        created_at=created,
        stream_key=user.stream_key,
        stream_key_sha256=user.stream_key_digest,
    )


def _peer_address(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The caller's address without its port ("ipv4:127.0.0.1:5000" -> "127.0.0.1")."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]").removeprefix("%5B").removesuffix("%5D")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer[:MAX_ADDRESS]


async def _refuse(
    context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, message: str
) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("abort returned")  # grpc.aio's abort always raises


async def _field(context: grpc.aio.ServicerContext[Any, Any], name: str, value: str) -> str:
    if not value:
        await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: required")
    if len(value) > MAX_FIELD:
        await _refuse(
            context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: at most {MAX_FIELD} characters"
        )
    return value


_R = TypeVar("_R")


@dataclass
class _Check:
    """One throttled check of a credential: its throttle and the keys of this attempt."""

    throttle: LoginThrottle
    keys: tuple[str, ...]


class UsersService(users_pb2_grpc.UsersServicer):
    """``golive.users.v1.Users`` over the use cases."""

    def __init__(
        self,
        accounts: Accounts,
        rooms: LiveRooms,
        *,
        token_throttle: LoginThrottle | None = None,
        key_throttle: LoginThrottle | None = None,
    ) -> None:
        self.accounts = accounts
        self.rooms = rooms
        self.token_throttle = token_throttle or check_throttle("token")
        self.key_throttle = key_throttle or check_throttle("stream key")

    async def _checked(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        check: _Check,
        run: Callable[[], Awaitable[User]],
        refusal: str,
    ) -> users_pb2.User:
        """Run a credential check counted by its throttle: a success is taken back, a
        failure counts, and a caller past the limit is refused before the store is asked."""
        try:
            stamp = check.throttle.begin(*check.keys)
        except RateLimited as exc:
            await context.send_initial_metadata((("retry-after", str(int(exc.retry_after) + 1)),))
            await _refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message)
        try:
            user = await self._run(context, run)
        except (NotAuthenticated, UnknownStreamKey):
            context.set_trailing_metadata(((REASON, "credential"),))
            await _refuse(context, grpc.StatusCode.UNAUTHENTICATED, refusal)
        check.throttle.succeeded(stamp, *check.keys)
        return user_message(user)

    async def _run(
        self, context: grpc.aio.ServicerContext[Any, Any], run: Callable[[], Awaitable[_R]]
    ) -> _R:
        """A use case, its failures as status codes; credential refusals pass through."""
        try:
            return await run()
        except (NotAuthenticated, UnknownStreamKey):
            raise
        except NotFound as exc:
            await _refuse(context, grpc.StatusCode.NOT_FOUND, exc.message)
        except AccountsUnavailable as exc:
            await _refuse(context, grpc.StatusCode.UNAVAILABLE, exc.message)
        except DomainError as exc:
            await _refuse(context, grpc.StatusCode.FAILED_PRECONDITION, exc.message)
        except Exception:
            # The store failed (a locked or unreachable database): the caller may retry.
            log.exception("users service: a call failed")
            await _refuse(context, grpc.StatusCode.UNAVAILABLE, "the accounts store failed")

    def _keys(self, context: grpc.aio.ServicerContext[Any, Any], client: str) -> tuple[str]:
        return (f"addr:{_peer_address(context)}|{client[:MAX_ADDRESS]}",)

    async def AuthenticateToken(
        self,
        request: users_pb2.AuthenticateTokenRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> users_pb2.User:
        token = await _field(context, "token", request.token)
        check = _Check(self.token_throttle, self._keys(context, request.client_address))
        return await self._checked(
            context,
            check,
            lambda: self.accounts.authenticate(token),
            "unknown or ended session",
        )

    async def AuthenticateStreamKey(
        self,
        request: users_pb2.AuthenticateStreamKeyRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> users_pb2.User:
        which = request.WhichOneof("key")
        if which == "stream_key_sha256":
            key_digest = await _field(context, "stream_key_sha256", request.stream_key_sha256)
            if not _SHA256.fullmatch(key_digest):
                await _refuse(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "stream_key_sha256: 64 lowercase hexadecimal digits",
                )
            run = functools.partial(self.rooms.authorize_digest, key_digest)
        else:
            key = await _field(context, "stream_key", request.stream_key)
            run = functools.partial(self.rooms.authorize_publish, key)
        check = _Check(self.key_throttle, self._keys(context, request.client_address))
        return await self._checked(context, check, run, "unknown stream key")

    async def LookupUser(
        self, request: users_pb2.LookupUserRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> users_pb2.User:
        name = await _field(context, "name", request.name)
        return user_message(await self._run(context, lambda: self.accounts.user_named(name)))

    async def GetUser(
        self, request: users_pb2.GetUserRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> users_pb2.User:
        user_id = await _field(context, "id", request.id)
        return user_message(await self._run(context, lambda: self.accounts.user_by_id(user_id)))


class SecretInterceptor(grpc.aio.ServerInterceptor):
    """Every call of Users must carry the shared secret; health and reflection need none."""

    def __init__(self, secret: str) -> None:
        self._expected = f"Bearer {secret}".encode()

        async def deny(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            context.set_trailing_metadata(((REASON, "caller"),))
            await _refuse(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "present the users service's shared secret as 'authorization: Bearer <secret>'",
            )

        self._deny: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        if method.startswith(f"/{SERVICE}/"):
            presented = b""
            for key, value in handler_call_details.invocation_metadata or ():
                if key == AUTHORIZATION:
                    presented = value.encode() if isinstance(value, str) else value
            if not hmac.compare_digest(presented, self._expected):
                log.info(
                    "users service: %s refused: no valid shared secret",
                    escape_for_log(method.rpartition("/")[2]),
                )
                return self._deny
        return await continuation(handler_call_details)


@dataclass(frozen=True)
class ServiceTls:
    """The server's certificate chain and private key, PEM."""

    cert_chain: bytes
    private_key: bytes


class UsersServer:
    """The gRPC server of this node: Users, health and reflection, on ``host:port``."""

    def __init__(
        self,
        service: UsersService,
        *,
        secret: str,
        tls: ServiceTls | None = None,
    ) -> None:
        self.service = service
        self.secret = secret
        self.tls = tls
        self.port = 0
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        server = grpc.aio.server(
            interceptors=[SecretInterceptor(self.secret)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ],
        )
        users_pb2_grpc.add_UsersServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self.tls is not None:
            credentials = grpc.ssl_server_credentials([(self.tls.private_key, self.tls.cert_chain)])
            self.port = server.add_secure_port(address, credentials)
        else:
            self.port = server.add_insecure_port(address)
        await server.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        for name in ("", SERVICE):
            await self.health.set(name, serving)
        self._server = server

    async def wait(self) -> None:
        """Until the server has stopped: the task that runs it."""
        if self._server is not None:
            await self._server.wait_for_termination()

    async def stop(self, grace: float = 2.0) -> None:
        """Tell health checkers first, then let calls in flight finish for ``grace`` s."""
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
