"""SQLite adapters: the embedded default store of users and sessions, one file under the data
directory, through aiosqlite (one connection, its own thread, so no query blocks the loop).

Guarantees:

- Usernames and emails are unique without regard to case: the lowercase forms (``name``,
  ``email_lower``) carry UNIQUE indexes, so the database refuses a duplicate even when two
  sign-ups race, and the refusal comes back as UsernameTaken or EmailTaken.
- Every write is one statement on an autocommit connection, hence atomic: after
  ``set_stream_key`` returns, the old key's digest matches nobody.
- Datetimes are stored as ISO 8601 UTC text with microseconds (fixed width, so the text
  orders like the instant) and come back as aware UTC datetimes equal to what was stored.
- The file is in WAL mode (readers never wait for the writer) with the default
  ``synchronous=FULL``: a committed account survives a crash of the process or the machine.
- The application owns the schema: ``PRAGMA user_version`` is the number of steps of
  :data:`MIGRATIONS` applied; opening a file applies the missing steps in order, each in one
  transaction with its version bump, and refuses a file from a newer golive.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import aiosqlite

from ..accounts.domain import EmailTaken, Session, User, UsernameTaken, digest
from ._common import Share, SharedClose, time_from_text, time_to_text

# One entry per schema version: the statements that bring version i to version i + 1.
# Append only: a released step never changes, since databases out there already ran it.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # STRICT: a value of the wrong type is an error, not silently stored.
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            name TEXT NOT NULL,
            email TEXT NOT NULL,
            email_lower TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            stream_key TEXT NOT NULL,
            stream_key_digest TEXT NOT NULL,
            created_at TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT ''
        ) STRICT
        """,
        "CREATE UNIQUE INDEX users_name ON users (name)",
        "CREATE UNIQUE INDEX users_email_lower ON users (email_lower)",
        # Unique as well as fast: ingest must find exactly one owner for a key.
        "CREATE UNIQUE INDEX users_stream_key_digest ON users (stream_key_digest)",
        # user_id is deliberately not a foreign key: the SessionStore contract takes any
        # user id (sessions may live in another store than users), and
        # services.authenticate already ends a session whose user is gone.
        """
        CREATE TABLE sessions (
            token_digest TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) STRICT
        """,
        "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
        "CREATE INDEX sessions_user_id ON sessions (user_id)",
    ),
    (
        # Server secrets every node of this database shares (SecretStore).
        "CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    ),
)

_USER_COLUMNS = "id, username, email, password_hash, stream_key, created_at, title"


def _user_from_row(row: sqlite3.Row | tuple[object, ...]) -> User:
    user_id, username, email, password_hash, stream_key, created_at, title = row
    return User(
        id=str(user_id),
        username=str(username),
        email=str(email),
        password_hash=str(password_hash),
        stream_key=str(stream_key),
        created_at=time_from_text(str(created_at)),
        title=str(title),
    )


def _session_from_row(row: sqlite3.Row | tuple[object, ...]) -> Session:
    token_digest, user_id, created_at, expires_at = row
    return Session(
        token_digest=str(token_digest),
        user_id=str(user_id),
        created_at=time_from_text(str(created_at)),
        expires_at=time_from_text(str(expires_at)),
    )


class _Part(Share):
    def __init__(self, db: aiosqlite.Connection, owner: SharedClose) -> None:
        super().__init__(owner)
        self._db = db


class SqliteUsers(_Part):
    """UserRepository on the ``users`` table."""

    async def add(self, user: User) -> None:
        try:
            await self._db.execute(
                "INSERT INTO users (id, username, name, email, email_lower, password_hash,"
                " stream_key, stream_key_digest, created_at, title)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.username,
                    user.name,
                    user.email,
                    user.email.lower(),
                    user.password_hash,
                    user.stream_key,
                    user.stream_key_digest,
                    time_to_text(user.created_at),
                    user.title,
                ),
            )
        except sqlite3.IntegrityError as exc:
            # SQLite names the failed constraint as "table.column"; the message holds no
            # value, so re-raising an unknown one leaks nothing.
            message = str(exc)
            # SQLite reports one failed index, not always the name's when both clash; the
            # username wins, as in the memory reference, so sign-up always says the same.
            if "users.name" in message or (
                "users.email_lower" in message and await self.by_name(user.name) is not None
            ):
                raise UsernameTaken("that username is taken") from None
            if "users.email_lower" in message:
                raise EmailTaken("an account with that email exists") from None
            raise

    async def _one(self, where: str, value: str) -> User | None:
        async with self._db.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE {where} = ?", (value,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _user_from_row(row)

    async def get(self, user_id: str) -> User | None:
        return await self._one("id", user_id)

    async def by_name(self, name: str) -> User | None:
        return await self._one("name", name)

    async def by_stream_key_digest(self, key_digest: str, client: str = "") -> User | None:
        return await self._one("stream_key_digest", key_digest)

    async def set_stream_key(self, user_id: str, stream_key: str) -> None:
        # Key and digest in one statement: no reader sees one without the other.
        await self._db.execute(
            "UPDATE users SET stream_key = ?, stream_key_digest = ? WHERE id = ?",
            (stream_key, digest(stream_key), user_id),
        )

    async def set_title(self, user_id: str, title: str) -> None:
        await self._db.execute("UPDATE users SET title = ? WHERE id = ?", (title, user_id))


class SqliteSessions(_Part):
    """SessionStore on the ``sessions`` table; expired rows stay until delete_expired."""

    async def add(self, session: Session) -> None:
        # Replace, like the memory reference: a token digest names one session.
        await self._db.execute(
            "INSERT OR REPLACE INTO sessions (token_digest, user_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (
                session.token_digest,
                session.user_id,
                time_to_text(session.created_at),
                time_to_text(session.expires_at),
            ),
        )

    async def get(self, token_digest: str) -> Session | None:
        async with self._db.execute(
            "SELECT token_digest, user_id, created_at, expires_at FROM sessions"
            " WHERE token_digest = ?",
            (token_digest,),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _session_from_row(row)

    async def delete(self, token_digest: str) -> None:
        await self._db.execute("DELETE FROM sessions WHERE token_digest = ?", (token_digest,))

    async def delete_expired(self, now: datetime) -> int:
        # Session.expired is "now >= expires_at"; the fixed-width text compares like time.
        async with self._db.execute(
            "DELETE FROM sessions WHERE expires_at <= ?", (time_to_text(now),)
        ) as cursor:
            return cursor.rowcount


class SqliteSecrets:
    """SecretStore on the ``secrets`` table. Not a closing part of the store: the store's
    close (or its users' and sessions') closes the connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def secret(self, name: str, candidate: str) -> str:
        # The primary key keeps the first writer's value, whichever process that was.
        await self._db.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, candidate)
        )
        async with self._db.execute("SELECT value FROM secrets WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        assert row is not None  # inserted above, and never deleted
        return str(row[0])


class SchemaTooNew(RuntimeError):
    """The file was written by a newer golive; this one must not guess at its schema."""


async def _migrate(db: aiosqlite.Connection, migrations: Sequence[Sequence[str]]) -> None:
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
    # opening the same new file cannot both run a step.
    while True:
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            version = int(row[0]) if row is not None else 0
            if version > len(migrations):
                raise SchemaTooNew(
                    f"database schema version {version} is newer than this golive supports"
                    f" ({len(migrations)})"
                )
            if version == len(migrations):
                await db.execute("COMMIT")
                return
            for statement in migrations[version]:
                await db.execute(statement)
            # The version is in the file header and commits with the step, or not at all.
            await db.execute(f"PRAGMA user_version = {version + 1}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise


class SqliteStore:
    """Users, sessions and server secrets in one SQLite file, on one connection.

    ``close()`` closes the connection; so does closing both ``users`` and ``sessions``.
    """

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.path = path
        self._owner = SharedClose(db.close, parts=2)
        self.users = SqliteUsers(db, self._owner)
        self.sessions = SqliteSessions(db, self._owner)
        self.secrets = SqliteSecrets(db)

    async def close(self) -> None:
        await self._owner.close()


async def open_sqlite(path: str | Path) -> SqliteStore:
    """Open (creating it and its directory if missing) and migrate the database at ``path``."""
    target = str(path)
    if target != ":memory:":
        await asyncio.to_thread(Path(target).parent.mkdir, parents=True, exist_ok=True)
    # isolation_level=None: autocommit, so each statement is its own transaction and
    # migrations manage theirs explicitly.
    db = await aiosqlite.connect(target, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA foreign_keys = ON")
        # Another process (a second node, the CLI) may hold the write lock for a moment.
        await db.execute("PRAGMA busy_timeout = 5000")
        await _migrate(db, MIGRATIONS)
    except BaseException:
        await db.close()
        raise
    return SqliteStore(db, target)
