"""What the database adapters share: closing a connection that several ports hold, UTC
datetimes as text, and URLs fit for a log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class SharedClose:
    """Closes a connection shared by several parts once all of them, or the store, closed.

    Whoever holds only the ports (``users.close()``, ``sessions.close()``) and whoever holds
    the store (``store.close()``) both release the connection; a leaked connection would
    keep its thread alive and the process from exiting.
    """

    def __init__(self, close: Callable[[], Awaitable[None]], parts: int) -> None:
        self._close = close
        self._open = parts
        self._closed = False

    async def release(self) -> None:
        self._open -= 1
        if self._open <= 0:
            await self.close()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._close()


class Share:
    """One holder's part of a SharedClose: closing it releases that part once, however
    often it is closed."""

    def __init__(self, owner: SharedClose) -> None:
        self._owner = owner
        self._released = False

    async def close(self) -> None:
        """Release this part; the connection closes with the last part (or the store)."""
        if not self._released:
            self._released = True
            await self._owner.release()


def time_to_text(when: datetime) -> str:
    """Fixed-width ISO 8601 in UTC, so that text order is time order."""
    if when.tzinfo is None or when.utcoffset() is None:
        # A naive datetime has no instant: storing it would silently pick a timezone.
        raise ValueError("naive datetime; pass an aware one (UTC)")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def time_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def redact_url(url: str) -> str:
    """``url`` fit for a log or an error: no password, in the authority or the query."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hosts}" if has_password else f"{user}@{hosts}"
    query = urlencode(
        [
            (key, "***" if any(word in key.lower() for word in ("pass", "secret", "token"))
             else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
