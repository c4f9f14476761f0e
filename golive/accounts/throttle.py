"""Login and sign-up throttling: attempts counted in a sliding window, per key."""

from __future__ import annotations

import time
from collections.abc import Callable

from .domain import RateLimited


class LoginThrottle:
    """Login attempts in a sliding window, per account from one address, per account from
    everywhere, and per address.

    Each attempt is counted before the password is checked (in the same step as the check
    against the limits, so guesses sent in parallel cannot all slip past it) and taken back
    when it succeeds. Past ``limit`` attempts on one account from one address, that pair is
    refused until the oldest attempt leaves the window: a guesser is stopped while the owner,
    elsewhere, can still log in (usernames are public, so a lock on the account alone would
    let anyone lock anyone out). Past ``account_factor`` times that from all addresses the
    account itself is refused (guessing from many addresses); past ``address_factor`` times
    it the address is (one client trying many accounts).
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        account_factor: int = 10,
        address_factor: int = 3,
        refusal: str = "too many failed logins; try again later",
    ) -> None:
        self.refusal = refusal
        self.limit = limit
        self.window = window
        self._now = monotonic
        self._limits = {
            "pair": limit,
            "user": limit * account_factor,
            "addr": limit * address_factor,
        }
        self._attempts: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._attempts.get(key, ()) if now - t < self.window]
        if times:
            self._attempts[key] = times
        else:
            self._attempts.pop(key, None)
        return times

    @staticmethod
    def keys(account: str, address: str) -> tuple[str, str, str]:
        return f"pair:{account}|{address}", f"user:{account}", f"addr:{address}"

    def begin(self, *keys: str) -> float:
        """Refuse with RateLimited, or count an attempt under every key; return its stamp."""
        now = self._now()
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._limits[key.partition(":")[0]]:
                retry = self.window - (now - times[0])
                raise RateLimited(self.refusal, retry)
        for key in keys:
            self._attempts.setdefault(key, []).append(now)
        # Bounded memory: an address spraying usernames must not grow the table forever.
        if len(self._attempts) > 100_000:
            for key in list(self._attempts):
                self._recent(key, now)
        return now

    def succeeded(self, stamp: float, *keys: str) -> None:
        """The attempt stamped ``stamp`` was right: it counts against none of its keys."""
        for key in keys:
            times = self._attempts.get(key)
            if times and stamp in times:
                times.remove(stamp)
                if not times:
                    del self._attempts[key]
