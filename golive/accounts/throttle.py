"""Login and sign-up throttling: attempts counted in a sliding window, per key."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .domain import RateLimited

log = logging.getLogger("golive.accounts")


class LoginThrottle:
    """Login attempts in a sliding window, per account from one address, per account from
    everywhere, per address, and per trusted device.

    Each attempt is counted before the password is checked (in the same step as the check
    against the limits, so guesses sent in parallel cannot all slip past it) and taken back
    when it succeeds. Past ``limit`` attempts on one account from one address, that pair is
    refused until the oldest attempt leaves the window: a guesser is stopped while the owner,
    elsewhere, can still log in (usernames are public, so a lock on the account alone would
    let anyone lock anyone out). Past ``account_factor`` times that from all addresses the
    account itself is refused to untrusted clients (guessing from many addresses); past
    ``address_factor`` times it within ``address_window`` the address is (one client trying
    many accounts). The address window is shorter than the others so that a noisy client
    behind a shared address (a NAT, a campus) holds its neighbours off for at most that long
    once it stops, while one address can still try only ``address_factor * limit`` accounts
    a minute.

    A trusted attempt (a valid device cookie for the account: golive.accounts.devices) has
    keys of its own, :meth:`device_keys`: ``limit`` attempts per ``window`` for that device,
    and none of the account's or the address's limits, so that guessing from elsewhere
    cannot lock the owner's usual browser out.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        account_factor: int = 10,
        address_factor: int = 3,
        address_window: float = 60.0,
        refusal: str = "too many failed logins; try again later",
        name: str = "login",
    ) -> None:
        self.refusal = refusal
        self.name = name  # what the log line calls this throttle
        self.limit = limit
        self.window = window
        self._now = monotonic
        # Attempts allowed per window, by the kind of key (what comes before its colon).
        self._limits = {
            "pair": limit,
            "user": limit * account_factor,
            "addr": limit * address_factor,
            "dev": limit,
        }
        self._windows = {"pair": window, "user": window, "addr": address_window, "dev": window}
        self._attempts: dict[str, list[float]] = {}
        self._locked: set[str] = set()  # keys whose lock was logged, until it lifts
        # Attempts refused, by the kind of key that was over its limit (for the metrics).
        self.refused: dict[str, int] = dict.fromkeys(self._limits, 0)

    @property
    def locked(self) -> int:
        """Keys over their limit now, as far as an attempt has found them."""
        return len(self._locked)

    def _recent(self, key: str, now: float) -> list[float]:
        window = self._windows[key.partition(":")[0]]
        times = [t for t in self._attempts.get(key, ()) if now - t < window]
        if times:
            self._attempts[key] = times
        else:
            self._attempts.pop(key, None)
        return times

    @staticmethod
    def keys(account: str, address: str) -> tuple[str, str, str]:
        """The keys of an untrusted attempt on ``account`` from ``address``."""
        return f"pair:{account}|{address}", f"user:{account}", f"addr:{address}"

    @staticmethod
    def device_keys(account: str, device: str) -> tuple[str]:
        """The key of a trusted attempt: the device (its cookie's nonce) and nothing else."""
        return (f"dev:{account}|{device}",)

    def _refuse(self, key: str, now: float, oldest: float) -> RateLimited:
        kind, _, who = key.partition(":")
        self.refused[kind] += 1
        if key not in self._locked:
            self._locked.add(key)
            # Once per lock. The key may hold a username as typed: %r escapes it. A device
            # is named by its account only.
            shown = who.partition("|")[0] if kind == "dev" else who
            log.info(
                "%s throttle: limit %r reached (%d attempts in %.0f s) for %r",
                self.name, kind, self._limits[kind], self._windows[kind], shown,
                extra={"event": "throttled"},
            )  # fmt: skip
        return RateLimited(self.refusal, self._windows[kind] - (now - oldest))

    def begin(self, *keys: str) -> float:
        """Refuse with RateLimited, or count an attempt under every key; return its stamp."""
        now = self._now()
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._limits[key.partition(":")[0]]:
                raise self._refuse(key, now, times[0])
            self._locked.discard(key)
        for key in keys:
            self._attempts.setdefault(key, []).append(now)
        # Bounded memory: an address spraying usernames must not grow the table forever.
        if len(self._attempts) > 100_000:
            for key in list(self._attempts):
                self._recent(key, now)
            self._locked &= self._attempts.keys()
        return now

    def succeeded(self, stamp: float, *keys: str) -> None:
        """The attempt stamped ``stamp`` was right: it counts against none of its keys."""
        for key in keys:
            times = self._attempts.get(key)
            if times and stamp in times:
                times.remove(stamp)
                if not times:
                    del self._attempts[key]
