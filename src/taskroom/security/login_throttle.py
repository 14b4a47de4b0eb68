"""Failed-login limiting per email and per client address (a sliding window, in this node's memory).

In memory on purpose: it protects one node's CPU from argon2 floods and slows guessing; with
several nodes an attacker gets at most (nodes x allowance) tries, which is still a small number.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, *keys: str) -> bool:
        now = self._clock()
        return any(len(self._recent(key, now)) >= self._max for key in keys)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures.setdefault(key, deque())
        while entries and entries[0] <= now - self._window:
            entries.popleft()
        if len(entries) > self._max:  # keep memory per key bounded
            for _ in range(len(entries) - self._max):
                entries.popleft()
        if not entries:
            # Forget idle keys so the table does not grow with every address ever seen.
            self._failures.pop(key, None)
            entries = self._failures.setdefault(key, deque())
        return entries
