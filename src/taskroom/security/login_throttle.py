"""Failed-login limiting per email and per client address (a sliding window, in this node's memory).

Two limits: a small one per email (guessing one account's password) and a larger one per client
address (one address trying many accounts). The second is larger because many honest users can
share an address behind a proxy or NAT; a successful login clears only its email's count.

In memory on purpose: it protects one node's CPU from argon2 floods and slows guessing; with
several nodes an attacker gets at most (nodes x allowance) tries, still a small number.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        max_per_email: int,
        max_per_client: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"email": max_per_email, "client": max_per_client}
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, email: str, client: str) -> bool:
        now = self._clock()
        return any(
            len(self._recent(key, now)) >= self._limits[key[0]]
            for key in (("email", email), ("client", client))
        )

    def failed(self, email: str, client: str) -> None:
        now = self._clock()
        for key in (("email", email), ("client", client)):
            entries = self._recent(key, now)
            entries.append(now)
            self._failures[key] = entries
            while len(entries) > self._limits[key[0]]:  # memory per key stays bounded
                entries.popleft()

    def succeeded(self, email: str) -> None:
        self._failures.pop(("email", email), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        entries = self._failures.get(key)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self._window:
            entries.popleft()
        if not entries:
            # Forget idle keys so the table does not grow with every address ever seen.
            del self._failures[key]
        return entries
