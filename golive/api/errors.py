"""The error middlewares of the JSON API and of the nginx-rtmp callbacks, and the table from
the use cases' refusals (golive.accounts.domain) to HTTP statuses (RFC 9110, 15.5).

Both answer every failure in golive's one error shape (golive.http_errors, the ``Error``
schema of the OpenAPI document): a refusal by this table, aiohttp's own HTTP errors re-dressed,
and anything else as a logged JSON 500 that reveals nothing about it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp.typedefs import Middleware

from ..accounts.domain import (
    AccountsElsewhere,
    AccountsUnavailable,
    DomainError,
    EmailTaken,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    RoomAlreadyLive,
    UnknownStreamKey,
    UsernameTaken,
    WrongCredentials,
)
from ..http_errors import http_error_middleware

STATUS: Mapping[type[DomainError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    WrongCredentials: 401,
    UnknownStreamKey: 401,
    NotFound: 404,
    UsernameTaken: 409,
    EmailTaken: 409,
    RoomAlreadyLive: 409,
    RateLimited: 429,
    # RFC 9110, 15.5.20: this node cannot answer for accounts; their node can.
    AccountsElsewhere: 421,
    AccountsUnavailable: 503,
    # A refusal nobody mapped yet is still the caller's request being refused.
    DomainError: 400,
}


def error_middleware(miss: str) -> Middleware:
    """The middleware of a sub-application that answers the use cases' refusals; ``miss`` is
    its answer to a path it does not have."""
    return http_error_middleware(miss, logger="golive.api", refusals=STATUS)
