"""Sliding-window counters for the REST abuse limits (registrations, failed logins, member adds).

In this node's memory on purpose: they protect one node's CPU (argon2 costs 64 MiB and tens of
milliseconds per hash) and slow guessing and enumeration down; with several nodes a client gets
at most (nodes x allowance), still a small number. Memory per key is bounded by the limit, and
idle keys are forgotten.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

from ..settings import Settings


class SlidingWindow:
    """At most `limit` hits per key within any `window_seconds`."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._next_sweep = clock() + window_seconds

    def retry_after(self, key: Hashable) -> float | None:
        """Seconds until `key` may hit again; None while it is under its limit."""
        now = self._clock()
        entries = self._recent(key, now)
        if len(entries) < self.limit:
            return None
        return max(0.0, entries[-self.limit] + self.window - now)

    def record(self, key: Hashable) -> None:
        now = self._clock()
        entries = self._recent(key, now)
        entries.append(now)
        self._hits[key] = entries
        while len(entries) > self.limit:  # older hits no longer decide anything
            entries.popleft()
        self._sweep(now)

    def hit(self, key: Hashable) -> float | None:
        """Count one hit unless the key is at its limit; returns `retry_after` when refused."""
        wait = self.retry_after(key)
        if wait is None:
            self.record(key)
        return wait

    def clear(self, key: Hashable) -> None:
        self._hits.pop(key, None)

    def forget_one(self, key: Hashable) -> None:
        """Take back the latest hit of `key` (an attempt counted up front that turned out fine)."""
        entries = self._hits.get(key)
        if entries:
            entries.pop()
            if not entries:
                del self._hits[key]

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        entries = self._hits.get(key)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        if not entries:
            del self._hits[key]
        return entries

    def _sweep(self, now: float) -> None:
        # Once a window, drop keys whose hits all expired, so the table does not grow with every
        # address or account ever seen.
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        for key in [k for k, entries in self._hits.items() if entries[-1] <= now - self.window]:
            del self._hits[key]


class RequestLimits:
    """The limits enforced at the HTTP edge, one set per app: by client address or acting user."""

    def __init__(self, settings: Settings) -> None:
        self.registrations = SlidingWindow(settings.register_max_per_client, settings.register_window_seconds)
        self.member_adds = SlidingWindow(settings.member_add_max_per_minute, 60)
