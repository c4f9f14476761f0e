"""Password hashing with argon2id (RFC 9106), through argon2-cffi.

Argon2 is slow and memory-hard on purpose (tens of milliseconds and 64 MiB per hash with
argon2-cffi's defaults, its RFC 9106 "low memory" profile), so each hash and verification
runs in a worker thread: the C code releases the GIL, and the event loop keeps serving
while a login is checked.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """PasswordHasher port on argon2id with argon2-cffi's default parameters.

    ``time_cost``, ``memory_cost`` (KiB) and ``parallelism`` override the defaults; tests
    lower them to stay fast. A hash records its own parameters, so hashes made with other
    parameters still verify (see :meth:`needs_rehash`).
    """

    def __init__(
        self,
        *,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
    ) -> None:
        default = PasswordHasher()
        self._hasher = PasswordHasher(
            time_cost=default.time_cost if time_cost is None else time_cost,
            memory_cost=default.memory_cost if memory_cost is None else memory_cost,
            parallelism=default.parallelism if parallelism is None else parallelism,
            hash_len=default.hash_len,
            salt_len=default.salt_len,
            type=Type.ID,
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; False, never an error, for a wrong password or a
        hash that is not an argon2 hash at all (a corrupt row must not become a 500)."""
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            # VerifyMismatchError is a VerificationError.
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than this hasher's (cheap: it
        only parses the hash), so a login can store a new one."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
