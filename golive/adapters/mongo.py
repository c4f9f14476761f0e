"""MongoDB adapters for users and sessions, on PyMongo's own async client (Motor, the former
async driver, is deprecated). Documents are marshaled by hand to and from the domain
dataclasses: no ODM, so the stored shape is exactly what this file writes.

Guarantees:

- Usernames and emails are unique without regard to case: unique indexes on the lowercase
  forms (``name``, ``email_lower``), created at open, refuse duplicates even when two
  sign-ups race; DuplicateKeyError comes back as UsernameTaken or EmailTaken, by the index
  the server names (``keyPattern``, MongoDB 4.2+; the E11000 message before), or, from a
  compatible server that names none, by looking the two values up.
- ``stream_key_digest`` is uniquely indexed; key and digest change in one single-document
  update, so the old key stops matching at once.
- Sessions are keyed by their token digest (``_id``). A TTL index on ``expires_at`` lets the
  server drop expired sessions by itself (its monitor runs about once a minute), so
  ``delete_expired`` may find fewer than expired.
- BSON dates keep milliseconds only, so each datetime is stored as a date (which the TTL
  index and range queries use) plus the microseconds below the millisecond
  (``<field>_usec``): datetimes come back as aware UTC datetimes equal to what was stored.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, DuplicateKeyError, PyMongoError

from ..accounts.domain import EmailTaken, Session, User, UsernameTaken, digest
from ._common import Share, SharedClose, redact_url

Doc = dict[str, Any]

DEFAULT_DATABASE = "golive"
# Index names are part of the contract with databases already out there: changing one
# would create a second index beside the old.
NAME_INDEX = "name_unique"
EMAIL_INDEX = "email_lower_unique"
STREAM_KEY_INDEX = "stream_key_digest_unique"
EXPIRY_INDEX = "expires_at_ttl"


class MongoUnavailable(ConnectionError):
    """MongoDB could not be reached or prepared at open."""


def _split_time(when: datetime) -> tuple[datetime, int]:
    """The millisecond BSON keeps, and the microseconds below it."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("naive datetime; pass an aware one (UTC)")
    utc = when.astimezone(UTC)
    usec = utc.microsecond % 1000
    return utc - timedelta(microseconds=usec), usec


def _put_time(doc: Doc, field: str, when: datetime) -> None:
    doc[field], doc[field + "_usec"] = _split_time(when)


def _get_time(doc: Mapping[str, Any], field: str) -> datetime:
    stored: datetime = doc[field]
    if stored.tzinfo is None:  # a client without tz_aware: BSON dates are UTC
        stored = stored.replace(tzinfo=UTC)
    return stored.astimezone(UTC) + timedelta(microseconds=int(doc.get(field + "_usec", 0)))


def _user_to_doc(user: User) -> Doc:
    doc: Doc = {
        "_id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "email_lower": user.email.lower(),
        "password_hash": user.password_hash,
        "stream_key": user.stream_key,
        "stream_key_digest": user.stream_key_digest,
        "title": user.title,
    }
    _put_time(doc, "created_at", user.created_at)
    return doc


def _user_from_doc(doc: Mapping[str, Any]) -> User:
    return User(
        id=str(doc["_id"]),
        username=str(doc["username"]),
        email=str(doc["email"]),
        password_hash=str(doc["password_hash"]),
        stream_key=str(doc["stream_key"]),
        created_at=_get_time(doc, "created_at"),
        title=str(doc.get("title", "")),
    )


def _session_to_doc(session: Session) -> Doc:
    doc: Doc = {"_id": session.token_digest, "user_id": session.user_id}
    _put_time(doc, "created_at", session.created_at)
    _put_time(doc, "expires_at", session.expires_at)
    return doc


def _session_from_doc(doc: Mapping[str, Any]) -> Session:
    return Session(
        token_digest=str(doc["_id"]),
        user_id=str(doc["user_id"]),
        created_at=_get_time(doc, "created_at"),
        expires_at=_get_time(doc, "expires_at"),
    )


def _expired_filter(now: datetime) -> Doc:
    """Sessions with ``expires_at <= now`` to the microsecond (Session.expired)."""
    millis, usec = _split_time(now)
    return {
        "$or": [
            {"expires_at": {"$lt": millis}},
            {"expires_at": millis, "expires_at_usec": {"$lte": usec}},
        ]
    }


# "collection: <db>.<collection> index: <name> dup key" (today's servers), "index:
# <db>.<collection>.$<name> dup key" (older ones). The duplicate value follows "dup key", so it
# cannot be taken for an index name.
_INDEX_IN_MESSAGE = re.compile(r"index: (?:\S*\$)?(\S+) dup key")
_INDEX_FIELDS = {
    NAME_INDEX: frozenset({"name"}),
    EMAIL_INDEX: frozenset({"email_lower"}),
    STREAM_KEY_INDEX: frozenset({"stream_key_digest"}),
    "_id_": frozenset({"_id"}),
}


def _clashing_fields(exc: DuplicateKeyError) -> frozenset[str] | None:
    """The fields of the unique index that refused a write, as the server reports them: its
    ``keyPattern`` (MongoDB 4.2+), else the index named in its E11000 message (older
    servers; an index not of this file gives no field of this file). None when the server
    says neither: MongoDB-compatible servers may give only a message of their own."""
    details = exc.details or {}
    pattern = details.get("keyPattern")
    if isinstance(pattern, Mapping) and pattern:
        return frozenset(pattern)
    found = _INDEX_IN_MESSAGE.search(str(details.get("errmsg", "")))
    if found is None:
        return None
    return _INDEX_FIELDS.get(found.group(1), frozenset())


class _Part(Share):
    def __init__(self, collection: AsyncCollection[Doc], owner: SharedClose) -> None:
        super().__init__(owner)
        self._coll = collection


class MongoUsers(_Part):
    """UserRepository on the ``users`` collection."""

    async def add(self, user: User) -> None:
        try:
            await self._coll.insert_one(_user_to_doc(user))
        except DuplicateKeyError as exc:
            taken = await self._taken(user, _clashing_fields(exc))
            if taken is None:
                raise
            raise taken from None

    async def _taken(self, user: User, fields: frozenset[str] | None) -> Exception | None:
        """The domain error for a refused insert of ``user``, or None when the clash is on
        neither the username nor the email (a stream key digest, an id): that one is re-raised.

        The server reports one failed index, not always the name's when both clash: the
        username wins, as in the memory reference, so it is looked up unless the server named
        it. When the server names no index (``fields`` is None), both values are looked up:
        users are never deleted, so a value another user holds now is one that refused this
        insert, and a clash found on neither is left to the caller.
        """
        if fields is not None and not fields & {"name", "email_lower"}:
            return None
        name_taken = fields is not None and "name" in fields
        if name_taken or await self.by_name(user.name) is not None:
            return UsernameTaken("that username is taken")
        # Here ``fields`` is None or names the email's index.
        email_taken = fields is not None
        if email_taken or await self._one({"email_lower": user.email.lower()}) is not None:
            return EmailTaken("an account with that email exists")
        return None

    async def _one(self, query: Doc) -> User | None:
        doc = await self._coll.find_one(query)
        return None if doc is None else _user_from_doc(doc)

    async def get(self, user_id: str) -> User | None:
        return await self._one({"_id": user_id})

    async def by_name(self, name: str) -> User | None:
        return await self._one({"name": name})

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        return await self._one({"stream_key_digest": key_digest})

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        await self._coll.update_one(
            {"_id": user_id},
            {"$set": {"stream_key": stream_key, "stream_key_digest": digest(stream_key)}},
        )

    async def set_title(self, user_id: str, title: str) -> None:
        await self._coll.update_one({"_id": user_id}, {"$set": {"title": title}})


class MongoSessions(_Part):
    """SessionStore on the ``sessions`` collection."""

    async def add(self, session: Session) -> None:
        # Replace, like the memory reference: a token digest names one session.
        await self._coll.replace_one(
            {"_id": session.token_digest}, _session_to_doc(session), upsert=True
        )

    async def get(self, token_digest: str) -> Session | None:
        doc = await self._coll.find_one({"_id": token_digest})
        return None if doc is None else _session_from_doc(doc)

    async def delete(self, token_digest: str) -> None:
        await self._coll.delete_one({"_id": token_digest})

    async def delete_expired(self, now: datetime) -> int:
        result = await self._coll.delete_many(_expired_filter(now))
        return result.deleted_count


class MongoSecrets:
    """SecretStore on the ``secrets`` collection, one document per secret keyed by name. Not a
    closing part of the store: the store's close (or its users' and sessions') closes it."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self._coll = collection

    async def secret(self, name: str, candidate: str) -> str:
        # Two upserts racing on _id: one inserts, the other fails with a duplicate key.
        with contextlib.suppress(DuplicateKeyError):
            # $setOnInsert: the first node's value stays; later upserts change nothing.
            await self._coll.update_one(
                {"_id": name}, {"$setOnInsert": {"value": candidate}}, upsert=True
            )
        doc = await self._coll.find_one({"_id": name})
        assert doc is not None  # upserted above, and never deleted
        return str(doc["value"])


class MongoStore:
    """Users, sessions and server secrets in one MongoDB database, on one client.

    ``close()`` closes the client; so does closing both ``users`` and ``sessions``.
    """

    def __init__(self, client: AsyncMongoClient[Doc], database: AsyncDatabase[Doc]) -> None:
        self.client = client
        self.database = database
        self._owner = SharedClose(client.close, parts=2)
        self.users = MongoUsers(database["users"], self._owner)
        self.sessions = MongoSessions(database["sessions"], self._owner)
        self.secrets = MongoSecrets(database["secrets"])

    async def close(self) -> None:
        await self._owner.close()


async def _create_indexes(database: AsyncDatabase[Doc]) -> None:
    users, sessions = database["users"], database["sessions"]
    await users.create_index([("name", ASCENDING)], name=NAME_INDEX, unique=True)
    await users.create_index([("email_lower", ASCENDING)], name=EMAIL_INDEX, unique=True)
    await users.create_index([("stream_key_digest", ASCENDING)], name=STREAM_KEY_INDEX, unique=True)
    # expireAfterSeconds=0: each document goes at its own expires_at.
    await sessions.create_index(
        [("expires_at", ASCENDING)], name=EXPIRY_INDEX, expireAfterSeconds=0
    )


async def open_mongo(url: str) -> MongoStore:
    """Connect to ``url`` (database from its path, ``golive`` when it names none) and create
    the indexes; raise MongoUnavailable, naming the URL without its password, on failure."""
    where = redact_url(url)
    try:
        # tz_aware: BSON dates come back as aware UTC datetimes, never naive ones.
        client: AsyncMongoClient[Doc] = AsyncMongoClient(url, tz_aware=True)
    except ConfigurationError as exc:
        # The parser's message may quote the URL, password included: keep only its kind.
        raise MongoUnavailable(f"invalid MongoDB URL {where}: {type(exc).__name__}") from None
    try:
        database = client.get_default_database(DEFAULT_DATABASE)
        await _create_indexes(database)
    except ConfigurationError as exc:
        await client.close()
        raise MongoUnavailable(f"invalid MongoDB URL {where}: {type(exc).__name__}") from None
    except PyMongoError as exc:
        await client.close()
        raise MongoUnavailable(f"cannot use MongoDB at {where}: {exc}") from exc
    except BaseException:
        await client.close()
        raise
    return MongoStore(client, database)
