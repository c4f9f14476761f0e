"""Device cookies: OWASP's "Slow Down Online Guessing Attacks with Device Cookies".

After a successful login the browser is given a device cookie for that account: a random
nonce and an HMAC-SHA256 over the account's name and the nonce, under a server key. A login
that presents a valid device cookie for the account it names is a *trusted* attempt: it is
counted against that device only (LoginThrottle's ``dev`` key), so guesses from elsewhere,
which lock out untrusted clients, never lock out the owner's usual browser. A cookie cannot
be made without the key, nor moved to another account, nor altered.

The key is a SecretStore's (the accounts database's), so every node of one database signs
and checks with the same one; with no store it is made per process (a single node, tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from .ports import SecretStore

# The name of the key in the SecretStore.
SECRET_NAME = "device-cookie-key"
# What DeviceCookies.issue makes: 128-bit nonce, dot, 256-bit signature, both base64url.
_VALUE_RE = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class DeviceCookies:
    def __init__(self, store: SecretStore | None = None) -> None:
        self._store = store
        self._key: bytes | None = None

    async def _signing_key(self) -> bytes:
        if self._key is None:
            candidate = secrets.token_urlsafe(32)
            key = await self._store.secret(SECRET_NAME, candidate) if self._store else candidate
            self._key = key.encode("ascii")
        return self._key

    async def _sign(self, name: str, nonce: str) -> str:
        # The purpose is signed too, so this key's MACs mean nothing anywhere else.
        message = f"golive device cookie|{name}|{nonce}".encode()
        return _b64(hmac.new(await self._signing_key(), message, hashlib.sha256).digest())

    async def issue(self, name: str) -> str:
        """A new device cookie's value for the account ``name`` (its room name)."""
        nonce = _b64(secrets.token_bytes(16))
        return f"{nonce}.{await self._sign(name, nonce)}"

    async def verify(self, name: str, value: str | None) -> str | None:
        """The device's nonce when ``value`` is a device cookie this server issued for the
        account ``name``; None for anything else (absent, altered, another account's)."""
        match = _VALUE_RE.fullmatch(value or "")
        if match is None:
            return None
        nonce, signature = match.groups()
        expected = await self._sign(name, nonce)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        return nonce
