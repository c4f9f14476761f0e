"""Argon2Hasher: argon2id hashes, verification that never raises for a bad password or hash,
and hashing that leaves the event loop free."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import argon2
import pytest

from golive.adapters.argon2 import Argon2Hasher

# Small costs: these tests are about behaviour, not strength.
FAST = {"time_cost": 1, "memory_cost": 8 * 1024}


async def test_hash_is_argon2id_and_salted() -> None:
    hasher = Argon2Hasher(**FAST)
    first, second = await hasher.hash("correct horse"), await hasher.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert "m=8192,t=1," in first
    assert first != second  # a fresh salt each time


async def test_defaults_are_argon2_cffi_defaults() -> None:
    hashed = await Argon2Hasher().hash("correct horse")
    default = argon2.PasswordHasher()
    assert hashed.startswith(
        f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},p={default.parallelism}$"
    )


async def test_verify_true_and_false() -> None:
    hasher = Argon2Hasher(**FAST)
    hashed = await hasher.hash("correct horse ☕")
    assert await hasher.verify(hashed, "correct horse ☕") is True
    assert await hasher.verify(hashed, "correct horse") is False
    assert await hasher.verify(hashed, "") is False


async def test_verify_accepts_hashes_made_with_other_parameters() -> None:
    old = await Argon2Hasher(time_cost=2, memory_cost=4 * 1024).hash("pw-of-old")
    hasher = Argon2Hasher(**FAST)
    assert await hasher.verify(old, "pw-of-old") is True
    assert hasher.needs_rehash(old)
    assert not hasher.needs_rehash(await hasher.hash("pw"))


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "not a hash",
        "plain$pw",
        "$argon2id$v=19$m=8192,t=1,p=4$c2FsdHNhbHQ$",  # no digest
        "$argon2id$v=19$m=8192,t=1,p=4$!!!$!!!",  # not base64
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
    ],
)
async def test_verify_invalid_hash_is_false_not_an_error(bad_hash: str) -> None:
    hasher = Argon2Hasher(**FAST)
    assert await hasher.verify(bad_hash, "pw") is False
    assert hasher.needs_rehash(bad_hash)


async def longest_pause(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Run ``work`` beside a ticker that wakes every millisecond; return the longest time the
    ticker waited between two ticks, and how long the work took."""
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)  # let it start ticking
    start = time.perf_counter()
    await work()
    took = time.perf_counter() - start
    done = True
    await task
    return max(gaps), took


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = Argon2Hasher()  # the real costs: tens of milliseconds each

    async def three_hashes() -> None:
        await asyncio.gather(*(hasher.hash(f"password {i}") for i in range(3)))

    pause, took = await longest_pause(three_hashes)
    assert pause < took / 3, f"the loop stalled {pause:.3f} s of {took:.3f} s of hashing"


async def test_the_pause_measure_sees_a_blocking_hash() -> None:
    """The control: the same measure catches hashing done on the loop itself."""
    blocking = argon2.PasswordHasher()

    async def three_hashes_on_the_loop() -> None:
        for i in range(3):
            blocking.hash(f"password {i}")

    pause, took = await longest_pause(three_hashes_on_the_loop)
    assert pause >= took / 3
