"""The domain of accounts and live rooms: entities, rules and errors. No I/O, no framework.

A user's username is their public channel name and the name of their live room. Usernames
are unique without regard to case; the room, the URLs and every lookup use the lowercase form
(:func:`room_name`), while the username keeps the case its owner typed for display.

Secrets never stored as given: passwords as argon2id hashes (made by the PasswordHasher
port), session tokens as their SHA-256. The stream key is stored as given because its owner
must be able to read it again (the dashboard shows it), and beside it its SHA-256, by which
ingest finds the owner without a comparison that depends on the key's bytes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

# URL-safe, starts with a letter or digit so that no room name looks like a route or a file.
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,31}")
# Deliberately loose: one @, something on each side, a dot in the domain. The address is
# only an identifier here; nothing is mailed, so stricter checks would only refuse people.
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
EMAIL_MAX = 254  # RFC 5321, 4.5.3.1.3: a path holds at most 256 octets with its brackets
PASSWORD_MIN = 8
PASSWORD_MAX = 1024  # argon2 takes any length; a bound keeps one request's CPU bounded
TITLE_MAX = 140
# What a title may not hold: C0 and C1 controls and DEL; the line and paragraph separators
# (U+2028, U+2029); every bidirectional control (Unicode UAX #9: the marks U+061C, U+200E,
# U+200F, the embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069), which could
# make a title shown beside a username read as something else; and the invisible zero-width
# space, word joiner and byte order mark (U+200B, U+2060, U+FEFF), which make two titles that
# look the same differ. (Tag characters stay: emoji subdivision flags are written with them.)
# Usernames are ASCII.
TITLE_FORBIDDEN = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e"
    "\\u2060\\u2066-\\u2069\\ufeff]"
)
# The zero-width non-joiner and joiner (U+200C, U+200D) are refused too, except between two
# visible characters, where they are writing: Persian and Indic scripts need the non-joiner,
# emoji sequences (a ZWJ sequence such as "woman technologist") the joiner. At either end,
# beside a space or doubled, they only hide.
TITLE_STRAY_JOINER = re.compile(
    "(?:^|[\\s\\u200c\\u200d])[\\u200c\\u200d]|[\\u200c\\u200d](?:\\s|$)"
)
# Names that the web pages and the API use at the top level, so no channel can shadow them.
RESERVED_NAMES = frozenset(
    {"api", "hls", "assets", "static", "login", "logout", "signup", "dashboard", "rooms",
     "admin", "settings", "index", "favicon.ico", "robots.txt", "live", "watch", "preview",
     "recordings"}
)  # fmt: skip

STREAM_KEY_PREFIX = "live_"


class DomainError(Exception):
    """A use case refused. ``code`` is stable and machine-readable; the message is for people."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UsernameTaken(DomainError):
    code = "username_taken"


class EmailTaken(DomainError):
    code = "email_taken"


class WrongCredentials(DomainError):
    """Unknown username or wrong password: one error for both so neither can be probed."""

    code = "wrong_credentials"


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class UnknownStreamKey(DomainError):
    code = "unknown_stream_key"


class RoomAlreadyLive(DomainError):
    code = "room_already_live"


class NotFound(DomainError):
    code = "not_found"


class AccountsUnavailable(DomainError):
    """The accounts cannot be reached now (a remote users service that is down or refuses
    this node): a refusal that names the reason, never a hang."""

    code = "accounts_unavailable"


class AccountsElsewhere(DomainError):
    """This node reads its accounts from another node's users service (``users =
    "grpc://..."``): signing up and changing an account happen there."""

    code = "accounts_elsewhere"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def room_name(username: str) -> str:
    """The canonical form of a username: the room name, the URL path and the unique key."""
    return username.lower()


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            "username",
            "3 to 32 letters, digits, '-' or '_', starting with a letter or digit",
        )
    if room_name(username) in RESERVED_NAMES:
        raise InvalidInput("username", "this name is reserved")
    return username


def check_email(email: object) -> str:
    if not isinstance(email, str) or len(email) > EMAIL_MAX or not EMAIL_RE.fullmatch(email):
        raise InvalidInput("email", "not an email address")
    return email


def check_password(password: object) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput("password", f"between {PASSWORD_MIN} and {PASSWORD_MAX} characters")
    return password


def check_title(title: object) -> str:
    if (
        not isinstance(title, str)
        or len(title) > TITLE_MAX
        or TITLE_FORBIDDEN.search(title)
        or TITLE_STRAY_JOINER.search(title)
    ):
        raise InvalidInput(
            "title",
            f"at most {TITLE_MAX} characters, no control, bidirectional or zero-width characters",
        )
    return title.strip()


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (token or stream key), as stored and looked up.

    A plain hash is enough for 256-bit random secrets: there is nothing to brute-force.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def new_stream_key() -> str:
    # 256 bits; the prefix tells a person which of their secrets this is.
    return STREAM_KEY_PREFIX + secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str
    password_hash: str
    stream_key: str
    created_at: datetime
    title: str = ""  # what the room is called while live

    @property
    def name(self) -> str:
        return room_name(self.username)

    @property
    def stream_key_digest(self) -> str:
        return digest(self.stream_key)


@dataclass(frozen=True, slots=True)
class Session:
    token_digest: str
    user_id: str
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class RoomDescription:
    """What a live room's stream carries, once the node that packages it knows."""

    codecs: tuple[str, ...] = ()  # RFC 6381 codec strings of the source
    renditions: tuple[str, ...] = ()  # the renditions ready to play, "source" first
    width: int | None = None  # the source's picture size, when it has video
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """A live room: one per streaming user, while they publish.

    ``publish_id`` names one publish; ending a publish removes the room only while it is
    still that publish's, so a publisher that took over (or another node) keeps it.
    ``description`` stays empty until the node that packages the stream knows what it carries.
    ``node_url`` is the public base URL of that node's HTTP server (its HLS, previews), as the
    node advertises it; empty when it is unknown (an ingest in front such as nginx-rtmp), in
    which case no other node can send viewers there.
    """

    name: str
    user_id: str
    streamer: str
    title: str
    started_at: datetime
    node: str
    publish_id: str
    description: RoomDescription = field(default_factory=RoomDescription)
    node_url: str = ""
