"""Failed-login limiting: per (account, client address), per address, and a ceiling per account.

The tight limit counts one address's failures on one account: guessing a password from one
place is slowed down, and nobody can lock an account out for everyone else by failing on it,
because the owner's own address has its own count. A looser ceiling per account bounds guessing
spread over many addresses; a limit per address bounds one address trying many accounts (larger,
since many honest users share an address behind a proxy or NAT).

An attempt counts as a failure from the moment it starts, so a burst of concurrent guesses
cannot all pass the check before the first one fails; a successful login takes its own count back
and clears its (account, address) count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .rate_limits import SlidingWindow

# Used when no ceiling is given: loose enough that reaching it takes many addresses.
DEFAULT_MAX_PER_ACCOUNT = 100


class LoginThrottle:
    def __init__(
        self,
        max_per_account_client: int,
        max_per_client: int,
        window_seconds: float,
        max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pair = SlidingWindow(max_per_account_client, window_seconds, clock)
        self._client = SlidingWindow(max_per_client, window_seconds, clock)
        self._account = SlidingWindow(max(max_per_account, max_per_account_client), window_seconds, clock)

    def attempt(self, email: str, client: str) -> float | None:
        """Start an attempt, counted as a failure until `succeeded`; or the seconds to wait first."""
        waits = [
            wait
            for wait in (
                self._pair.retry_after((email, client)),
                self._client.retry_after(client),
                self._account.retry_after(email),
            )
            if wait is not None
        ]
        if waits:
            return max(waits)
        self._pair.record((email, client))
        self._client.record(client)
        self._account.record(email)
        return None

    def succeeded(self, email: str, client: str) -> None:
        self._pair.clear((email, client))
        self._client.forget_one(client)
        self._account.forget_one(email)
